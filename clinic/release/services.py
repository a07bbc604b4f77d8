"""What may be released to a police force: the releasable set of a case.

The set is computed, never picked by hand: every record about her is put to the
decision point as an export to that force (operation `release`), and exactly the
records her active Consents permit come back, with the decision's obligations
applied. Requests, approval, the signed bundle and handover build on this.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, Role, decide, require
from clinic.access.policy import DECLINED, NEVER_RELEASED, RELEASABLE_KINDS, RELEASE
from clinic.access.roles import OrganizationKind
from clinic.access.terms import WITHHELD_SECTIONS
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind, refused_or_missing
from clinic.cases.models import Case
from clinic.cases.services import CaseNotFound, _load_case
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import EvidenceItem
from clinic.exam.resources import Signer, signer_of
from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.services import fulfil
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n.sentences import Coded, Listing, sentence
from clinic.release.models import ReleaseRequest, RequestStatus


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    entities: tuple[str, ...],
    reasons: tuple[str, ...],
    channel: str = "web",
    query: str | None = None,
) -> None:
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=entities,
            reasons=reasons,
            query=query,
        )
    )


class ReleaseRefused(DomainError):
    """A release question that cannot be answered as asked; names the field."""


def force_actor(force: Organization) -> Actor:
    """A police force as the recipient of a release (no one officer in particular)."""
    return Actor(
        user_id="", username=f"force:{force.code}", role=Role.POLICE, organization_id=force.id
    )


def releasable(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    force_id: str,
    at: datetime | None = None,
) -> list[StoredVersion]:
    """The records of a case her Consents release to a police force at `at` (now by
    default), for a clinic user of her site who prepares or approves a release.
    A record entered in error is never released."""
    require(actor, Action.READ, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ReleaseRefused(sentence("No such case."), "case_id") from missing
    force = uow.session.get(Organization, force_id)
    if force is None or force.kind != OrganizationKind.POLICE:
        raise ReleaseRefused(sentence("Choose a police force."), "force_id")
    recipient = force_actor(force)
    consents = consent_book(uow)
    store = ResourceStore(uow.session, registry)
    released: list[StoredVersion] = []
    for kind in sorted(RELEASABLE_KINDS):
        for version in store.of_subject(kind, f"Patient/{case.patient_id}"):
            if version.content.get("status") == "entered-in-error":
                # Taken back (retracted, or removed after she declined): no part of
                # it is a record of her any more, and its content never leaves.
                continue
            decision = decide(
                recipient,
                Action.EXPORT,
                kind,
                version.facts(),
                operation=RELEASE,
                consents=consents,
                at=at,
            )
            if decision.permitted:
                released.append(fulfil(decision, version))
    return released


# -- requests from police ------------------------------------------------------------

# What a force may ask for: the police-release form's items (CodeSystem release-item).
RELEASE_ITEM = f"{CODE_SYSTEM}/release-item"
REQUESTABLE = {
    "report": "the exam report",
    "swabs": "swabs",
    "clothing": "clothing",
    "other-evidence": "hair, fingernail, debris and other items",
    "toxicology": "blood and urine samples and toxicology results",
    "non-intimate-photos": "non-intimate photographs",
    "identity": "her name and contact details",
}
AWAITING_TEXT = "awaiting survivor decision"
# The classes of the report's sections the police never receive (her health).
WITHHELD_CLASSES = frozenset(WITHHELD_SECTIONS.values())


def request_facts(request: ReleaseRequest) -> ResourceFacts:
    """Police see their own force's requests (the force is the record's "site")."""
    return ResourceFacts("ReleaseRequest", request.id, site_id=request.force_id)


def incoming_facts(uow: UnitOfWork, request: ReleaseRequest) -> ResourceFacts:
    """The clinic's view of the same request: of the site whose case it matches,
    or of no site while it matches none (every clinic sees it, to contact the
    force)."""
    case = uow.session.get(Case, request.case_id) if request.case_id else None
    return ResourceFacts("IncomingRequest", request.id, site_id=case.site_id if case else None)


def file_request(
    uow: UnitOfWork,
    *,
    actor: Actor,
    cited_reference: str,
    crime_reference: str,
    requested: list[str],
    channel: str = "web",
) -> ReleaseRequest:
    """Record a force's request. Always accepted, whatever it cites (promise 2): the
    same checks, the same lookups and the same answer for a reference that is
    unknown, known but undecided, or refused. Only the clinic learns the match."""
    require(actor, Action.CREATE, "ReleaseRequest")
    cited = cited_reference.strip().upper()
    crime = crime_reference.strip()
    if not cited or len(cited) > 64:
        raise ReleaseRefused(
            sentence(
                "Give the case reference or kit label the survivor gave you (at most 64 characters)."
            ),
            "cited_reference",
        )
    if not crime or len(crime) > 64:
        raise ReleaseRefused(
            sentence("Give your crime reference (at most 64 characters)."), "crime_reference"
        )
    unknown = [code for code in requested if code not in REQUESTABLE]
    if unknown or not requested:
        raise ReleaseRefused(
            sentence(
                "Ask for at least one of: %(items)s.",
                items=Listing(
                    tuple(Coded(RELEASE_ITEM, code, english_text=code) for code in REQUESTABLE)
                ),
            ),
            "requested",
        )
    # Both lookups run on every request, whatever they find.
    by_case = uow.session.scalar(sa.select(Case.id).where(Case.reference == cited))
    by_kit = uow.session.scalar(sa.select(EvidenceItem.case_id).where(EvidenceItem.label == cited))
    request = ReleaseRequest(
        id=str(uuid.uuid4()),
        force_id=actor.organization_id,
        filed_by=actor.user_id,
        filed_at=utcnow(),
        cited_reference=cited,
        crime_reference=crime,
        requested=sorted(set(requested), key=list(REQUESTABLE).index),
        case_id=by_case or by_kit,
        status=RequestStatus.AWAITING.value,
    )
    uow.session.add(request)
    uow.session.flush()
    _audit(
        uow,
        actor,
        EventKind.CREATE,
        (f"Task/{request.id}",),
        ("release request filed",),
        channel=channel,
    )
    return request


def requests_of_force(
    uow: UnitOfWork, *, actor: Actor, channel: str = "web"
) -> list[ReleaseRequest]:
    """A force's own requests, newest first (at most 200); audited."""
    decision = require(actor, Action.SEARCH, "ReleaseRequest")
    found = [
        request
        for request in uow.session.scalars(
            sa.select(ReleaseRequest)
            .where(ReleaseRequest.force_id == actor.organization_id)
            .order_by(ReleaseRequest.filed_at.desc())
            .limit(200)
        )
        if decide(actor, Action.SEARCH, "ReleaseRequest", request_facts(request)).permitted
    ]
    _audit(
        uow,
        actor,
        EventKind.SEARCH,
        tuple(f"Task/{r.id}" for r in found),
        decision.reasons,
        channel=channel,
        query="Task?code=release-request",
    )
    return found


def read_request(
    uow: UnitOfWork, *, actor: Actor, request_id: str, channel: str = "web"
) -> ReleaseRequest:
    """One request, for its force's officers; anyone else is told it does not exist."""
    require(actor, Action.READ, "ReleaseRequest")
    request = uow.session.get(ReleaseRequest, request_id)
    if (
        request is None
        or not decide(actor, Action.READ, "ReleaseRequest", request_facts(request)).permitted
    ):
        raise RequestNotFound(sentence("There is no such request."))
    _audit(
        uow,
        actor,
        EventKind.READ,
        (f"Task/{request.id}",),
        ("release request read",),
        channel=channel,
    )
    return request


class RequestNotFound(ReleaseRefused):
    """No such request, or one of another force: the same answer for both."""


# -- the clinic's side ---------------------------------------------------------------

# The data classes each requestable item stands for.
REQUESTED_CLASSES: dict[str, frozenset[str]] = {
    "report": frozenset({"exam-report", "assault-account", "treatment"}),
    "swabs": frozenset({"evidence-swab"}),
    "clothing": frozenset({"evidence-clothing"}),
    "other-evidence": frozenset(
        {"evidence-hair", "evidence-fingernail", "evidence-debris", "evidence-other"}
    ),
    "toxicology": frozenset({"toxicology", "evidence-blood", "evidence-urine"}),
    "non-intimate-photos": frozenset({"non-intimate-photos"}),
    "identity": frozenset({"identity"}),
}


@dataclass(frozen=True)
class Incoming:
    request: ReleaseRequest
    force: Organization
    case: Case | None  # the matched case, only where the reader may see it


def _matched_case(uow: UnitOfWork, actor: Actor, request: ReleaseRequest) -> Case | None:
    if request.case_id is None:
        return None
    try:
        return _load_case(uow, actor, request.case_id, Action.READ)
    except CaseNotFound:
        return None


def incoming_requests(uow: UnitOfWork, *, actor: Actor, channel: str = "web") -> list[Incoming]:
    """Requests from every force, newest first (at most 200), each with its case
    where it matches one the reader may see; unmatched ones are listed so that the
    clinic can contact the force. Audited."""
    decision = require(actor, Action.SEARCH, "IncomingRequest")
    found = []
    for request in uow.session.scalars(
        sa.select(ReleaseRequest).order_by(ReleaseRequest.filed_at.desc()).limit(200)
    ):
        if not decide(
            actor, Action.SEARCH, "IncomingRequest", incoming_facts(uow, request)
        ).permitted:
            continue
        force = uow.session.get(Organization, request.force_id)
        assert force is not None
        found.append(Incoming(request, force, _matched_case(uow, actor, request)))
    _audit(
        uow,
        actor,
        EventKind.SEARCH,
        tuple(f"Task/{i.request.id}" for i in found),
        decision.reasons,
        channel=channel,
        query="Task?code=release-request",
    )
    return found


def _require_incoming(
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    request: ReleaseRequest | None,
    request_id: str,
) -> None:
    """A request unknown, or matched to another site's case: the same answer
    (RequestNotFound), and never without a trace on the audit trail."""
    decision = (
        None
        if request is None
        else decide(actor, action, "IncomingRequest", incoming_facts(uow, request))
    )
    if decision is None or not decision.permitted:
        uow.audit(
            refused_or_missing(
                EventKind.READ if action is Action.READ else EventKind.UPDATE,
                "web",
                actor,
                f"Task/{request_id}",
                None if decision is None else decision.reasons,
            )
        )
        raise RequestNotFound(sentence("There is no such request."))


def incoming_request(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, request_id: str
) -> tuple[Incoming, list[StoredVersion], list[Part]]:
    """One request for the clinic, with what would be released now if approved, and
    in words what would leave and what would not, and why."""
    require(actor, Action.READ, "IncomingRequest")
    request = uow.session.get(ReleaseRequest, request_id)
    _require_incoming(uow, actor, Action.READ, request, request_id)
    assert request is not None
    force = uow.session.get(Organization, request.force_id)
    assert force is not None
    case = _matched_case(uow, actor, request)
    releasing = _requested_and_permitted(uow, registry, actor, request, case) if case else []
    plan = (
        release_plan(uow, registry, actor=actor, request=request, case=case)
        if case and request.status != RequestStatus.WITHDRAWN
        else []
    )
    _audit(
        uow,
        actor,
        EventKind.READ,
        (f"Task/{request.id}", *(v.versioned_reference for v in releasing)),
        ("release request read",),
        channel="web",
    )
    return Incoming(request, force, case), releasing, plan


def _requested_and_permitted(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    actor: Actor,
    request: ReleaseRequest,
    case: Case,
) -> list[StoredVersion]:
    """What her Consents permit to the force now, of what the force asked for."""
    wanted = frozenset().union(*(REQUESTED_CLASSES[code] for code in request.requested))
    return [
        version
        for version in releasable(
            uow, registry, actor=actor, case_id=case.id, force_id=request.force_id
        )
        if version.facts().data_classes & wanted
    ]


def approve(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, request_id: str
) -> ReleaseRequest:
    """A clinic user approves a request: what is released is computed from her
    Consents and the request, never picked by hand. Refused when nothing is
    permitted, or when the request matches no case of the user's site. Approving
    an approved request again refreshes it (after a record was amended)."""
    require(actor, Action.UPDATE, "IncomingRequest")
    request = uow.session.scalar(
        sa.select(ReleaseRequest).where(ReleaseRequest.id == request_id).with_for_update()
    )
    _require_incoming(uow, actor, Action.UPDATE, request, request_id)
    assert request is not None
    if request.status == RequestStatus.WITHDRAWN:
        raise ReleaseRefused(
            sentence(
                "Her consent was withdrawn after this release was approved: nothing more is "
                "released under it. The force files a new request if she decides again."
            ),
            "request",
        )
    case = _matched_case(uow, actor, request)
    if case is None:
        raise ReleaseRefused(
            sentence(
                "This request matches no case of your site: contact the force to check the "
                "reference the survivor gave them."
            ),
            "request",
        )
    releasing = _requested_and_permitted(uow, registry, actor, request, case)
    if not releasing:
        raise ReleaseRefused(
            sentence(
                "Her consent permits nothing of what this force asks for. Record her decision "
                "first (Her consent, then Release to the police)."
            ),
            "request",
        )
    directives = consent_book(uow).directives(f"Patient/{case.patient_id}")
    request.status = RequestStatus.APPROVED.value
    request.decided_at = utcnow()
    request.decided_by = actor.username
    request.approved = [version.versioned_reference for version in releasing]
    request.consents = sorted(
        f"Consent/{d.consent_id}" for d in directives if d.form.startswith("police-release/")
    )
    _audit(
        uow,
        actor,
        EventKind.UPDATE,
        (f"Task/{request.id}", *request.approved),
        ("release approved", *request.consents),
        channel="web",
    )
    return request


def stop_withdrawn_releases(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, case: Case
) -> None:
    """After her consent is withdrawn or narrowed (promise 4): an approved release
    that she no longer wholly permits is narrowed to what she still permits of what
    was approved, or stops when nothing of it is left. Nothing is ever added here;
    the force sees the date, never what was removed; `actor` is who recorded it."""
    for request in uow.session.scalars(
        sa.select(ReleaseRequest).where(
            ReleaseRequest.case_id == case.id,
            ReleaseRequest.status == RequestStatus.APPROVED.value,
        )
    ):
        # Compared by record, not version: an amendment is not a withdrawal.
        still = {v.reference for v in _requested_and_permitted(uow, registry, actor, request, case)}
        approved = list(request.approved or [])
        kept = [reference for reference in approved if reference.split("/_history/")[0] in still]
        if len(kept) == len(approved):
            continue
        now = utcnow()
        if kept:
            request.approved = kept
            request.narrowed_at = now
            request.narrowed_by = actor.username
            reason = "release narrowed: her consent no longer permits part of it"
        else:
            request.status = RequestStatus.WITHDRAWN.value
            request.withdrawn_at = now
            request.withdrawn_by = actor.username
            reason = "release stopped: her consent was withdrawn or narrowed"
        _audit(
            uow,
            actor,
            EventKind.UPDATE,
            (f"Task/{request.id}", *kept),
            (reason,),
            channel="web",
        )


# -- a release in words ------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One thing of a case, as the clinic's approval page names it: what it is,
    whether it leaves with this release, and why not. `what` selects the sentence
    the template says; the other fields fill it."""

    item: str  # the requestable item it belongs to
    # "report", "account", "findings", "health", "treatment", "specimen", "photo",
    # "identity", "other"
    what: str
    leaves: bool
    # "never" (the police never receive it), "declined", "not-covered" or "not-asked"
    # when it does not leave
    why: str = ""
    count: int = 1
    name: str = ""  # a specimen's kind in words
    label: str = ""
    seal: str = ""
    signed: Signer | None = None
    signed_at: str = ""


def _item_of(classes: frozenset[str], asked: list[str]) -> str:
    candidates = [code for code, wanted in REQUESTED_CLASSES.items() if classes & wanted]
    return next((code for code in candidates if code in asked), candidates[0] if candidates else "")


def release_plan(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    request: ReleaseRequest,
    case: Case,
) -> list[Part]:
    """For the clinic: every record of the case that a release could hold, in words,
    with whether it leaves with this request now and, if not, why (she declined, her
    consent does not cover it, or the force did not ask for it)."""
    force = uow.session.get(Organization, request.force_id)
    assert force is not None
    recipient = force_actor(force)
    consents = consent_book(uow)
    store = ResourceStore(uow.session, registry)
    asked = list(request.requested)
    wanted = frozenset().union(*(REQUESTED_CLASSES[code] for code in asked))
    counted: dict[tuple[str, str, bool, str], int] = {}
    parts: list[Part] = []
    for kind in sorted(RELEASABLE_KINDS):
        for version in store.of_subject(kind, f"Patient/{case.patient_id}"):
            facts = version.facts()
            decision = decide(
                recipient, Action.EXPORT, kind, facts, operation=RELEASE, consents=consents
            )
            classes = facts.data_classes
            item = _item_of(classes, asked)
            if not item:
                continue
            is_asked = bool(classes & wanted)
            leaves = decision.permitted and is_asked
            why = (
                ""
                if leaves
                else "never"
                if NEVER_RELEASED in decision.reasons
                else "not-asked"
                if not is_asked
                else "declined"
                if DECLINED in decision.reasons
                else "not-covered"
            )
            if kind == "Composition":
                signed = version.content.get("attester", [{}])[0]
                parts.append(
                    Part(
                        item,
                        "report",
                        leaves,
                        why,
                        signed=signer_of(version.content),
                        signed_at=str(signed.get("time", ""))[:10],
                    )
                )
            elif kind == "Specimen":
                evidence = uow.session.get(EvidenceItem, version.logical_id)
                parts.append(
                    Part(
                        item,
                        "specimen",
                        leaves,
                        why,
                        name=evidence.name if evidence else "",
                        label=evidence.label if evidence else "",
                        seal=(evidence.seal_number or "") if evidence else "",
                    )
                )
            elif kind == "Patient":
                parts.append(Part(item, "identity", leaves, why))
            else:
                what = (
                    "photo"
                    if "non-intimate-photos" in classes
                    else "health"
                    if classes & WITHHELD_CLASSES
                    else "account"
                    if "assault-account" in classes
                    else "treatment"
                    if "treatment" in classes
                    else "findings"
                    if "exam-report" in classes
                    else "other"
                )
                key = (item, what, leaves, why)
                counted[key] = counted.get(key, 0) + 1
    for (item, what, leaves, why), count in counted.items():
        parts.append(Part(item, what, leaves, why, count=count))
    order = list(REQUESTABLE)
    shape = [
        "report",
        "account",
        "findings",
        "health",
        "treatment",
        "specimen",
        "photo",
        "other",
        "identity",
    ]
    parts.sort(key=lambda p: (not p.leaves, order.index(p.item), shape.index(p.what), p.label))
    return parts


@dataclass(frozen=True)
class Outcome:
    """For the force: one item it asked for, released or not; nothing else is said
    (not why, not whether anything of it exists, not what a narrowing removed)."""

    item: str
    released: bool
    labels: tuple[str, ...] = ()  # released evidence items, by label


def release_outcome(uow: UnitOfWork, request: ReleaseRequest) -> list[Outcome]:
    """What an approved release holds, in terms of what the force asked for only."""
    if request.status != RequestStatus.APPROVED:
        return []
    store = ResourceStore(uow.session, None)  # type: ignore[arg-type]  # reads only
    force = uow.session.get(Organization, request.force_id)
    assert force is not None
    recipient = force_actor(force)
    consents = consent_book(uow)
    classes: dict[str, set[str]] = {}
    labels: dict[str, list[str]] = {}
    for reference in request.approved or []:
        kind, logical_id, _, version_id = reference.split("/")
        version = store.version(kind, logical_id, int(version_id))
        if version is None:
            continue
        # Decided now, as the download is: past her end date it is not released.
        if not decide(
            recipient,
            Action.EXPORT,
            kind,
            version.facts(),
            operation=RELEASE,
            consents=consents,
            at=utcnow(),
        ).permitted:
            continue
        item = _item_of(version.facts().data_classes, list(request.requested))
        classes.setdefault(item, set()).add(kind)
        if kind == "Specimen":
            evidence = uow.session.get(EvidenceItem, logical_id)
            if evidence is not None:
                labels.setdefault(item, []).append(evidence.label)
    return [
        Outcome(code, code in classes, tuple(sorted(labels.get(code, []))))
        for code in request.requested
    ]


# -- physical evidence ------------------------------------------------------------------


def _check_officer(uow: UnitOfWork, force: Organization, officer: str) -> None:
    from clinic.accounts.models import User

    named = officer.strip().casefold()
    officers = uow.session.scalars(
        sa.select(User).where(User.organization_id == force.id, User.is_active.is_(True))
    )
    if not any(named in (u.username.casefold(), u.display_name.casefold()) for u in officers):
        raise HandoverRefused(
            sentence(
                "Name an officer of %(force)s, as their account shows them.", force=force.name
            ),
            "receiver_name",
        )


class HandoverRefused(ReleaseRefused):
    """A handover to police that her consent or the approved release does not cover."""


def record_handover(
    uow: UnitOfWork, *, actor: Actor, item: EvidenceItem, force: Organization, officer: str
) -> ReleaseRequest:
    """Check that an evidence item may be handed to a named officer of a force: it
    is in a release approved for that force, still permitted by her Consents now,
    and the officer belongs to that force. Records the delivery on the request."""
    consents = consent_book(uow)
    recipient = force_actor(force)
    store = ResourceStore(uow.session, None)  # type: ignore[arg-type]  # reads only
    for request in uow.session.scalars(
        sa.select(ReleaseRequest).where(
            ReleaseRequest.force_id == force.id,
            ReleaseRequest.status == RequestStatus.APPROVED.value,
        )
    ):
        for reference in request.approved or []:
            if not reference.startswith(f"Specimen/{item.id}/"):
                continue
            version = store.version("Specimen", item.id, int(reference.rsplit("/", 1)[1]))
            assert version is not None
            if decide(
                recipient,
                Action.EXPORT,
                "Specimen",
                version.facts(),
                operation=RELEASE,
                consents=consents,
            ).permitted:
                _check_officer(uow, force, officer)
                delivered = list(request.delivered or [])
                delivered.append(
                    {
                        "handover": item.label,
                        "at": utcnow().isoformat(),
                        "by": actor.username,
                        "to": officer.strip(),
                    }
                )
                request.delivered = delivered
                return request
    raise HandoverRefused(
        sentence(
            "This item is not in a release the survivor permits to %(force)s and the clinic "
            "has approved.",
            force=force.name,
        ),
        "receiver_organization_id",
    )


def releases_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[Incoming]:
    """The requests that cite a case, for its care team: what was asked, approved
    and delivered, to whom and when (so she can be shown)."""
    if not decide(actor, Action.SEARCH, "IncomingRequest").permitted:
        return []
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound:
        return []
    found = []
    for request in uow.session.scalars(
        sa.select(ReleaseRequest)
        .where(ReleaseRequest.case_id == case.id)
        .order_by(ReleaseRequest.filed_at.desc())
    ):
        if decide(actor, Action.READ, "IncomingRequest", incoming_facts(uow, request)).permitted:
            force = uow.session.get(Organization, request.force_id)
            assert force is not None
            found.append(Incoming(request, force, case))
    return found
