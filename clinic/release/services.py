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
from clinic.access.policy import RELEASABLE_KINDS, RELEASE
from clinic.access.roles import OrganizationKind
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case
from clinic.cases.services import CaseNotFound, _load_case
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import EvidenceItem
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.services import fulfil
from clinic.fhir.store import ResourceStore, StoredVersion
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
    default), for a clinic user of her site who prepares or approves a release."""
    require(actor, Action.READ, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ReleaseRefused("No such case.", "case_id") from missing
    force = uow.session.get(Organization, force_id)
    if force is None or force.kind != OrganizationKind.POLICE:
        raise ReleaseRefused("Choose a police force.", "force_id")
    recipient = force_actor(force)
    consents = consent_book(uow)
    store = ResourceStore(uow.session, registry)
    released: list[StoredVersion] = []
    for kind in sorted(RELEASABLE_KINDS):
        for version in store.of_subject(kind, f"Patient/{case.patient_id}"):
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

# What a force may ask for: the police-release form's items.
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


def request_facts(request: ReleaseRequest) -> ResourceFacts:
    """Police see their own force's requests (the force is the record's "site")."""
    return ResourceFacts("ReleaseRequest", request.id, site_id=request.force_id)


def incoming_facts(request: ReleaseRequest) -> ResourceFacts:
    """The clinic's view of the same request."""
    return ResourceFacts("IncomingRequest", request.id, site_id=request.force_id)


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
            "Give the case reference or kit label the survivor gave you (at most 64 characters).",
            "cited_reference",
        )
    if not crime or len(crime) > 64:
        raise ReleaseRefused(
            "Give your crime reference (at most 64 characters).", "crime_reference"
        )
    unknown = [code for code in requested if code not in REQUESTABLE]
    if unknown or not requested:
        raise ReleaseRefused(
            "Ask for at least one of: " + ", ".join(REQUESTABLE) + ".", "requested"
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
        raise RequestNotFound("There is no such request.")
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
        if not decide(actor, Action.SEARCH, "IncomingRequest", incoming_facts(request)).permitted:
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


def incoming_request(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, request_id: str
) -> tuple[Incoming, list[StoredVersion]]:
    """One request for the clinic, with what would be released now if approved."""
    require(actor, Action.READ, "IncomingRequest")
    request = uow.session.get(ReleaseRequest, request_id)
    if (
        request is None
        or not decide(actor, Action.READ, "IncomingRequest", incoming_facts(request)).permitted
    ):
        raise RequestNotFound("There is no such request.")
    force = uow.session.get(Organization, request.force_id)
    assert force is not None
    case = _matched_case(uow, actor, request)
    releasing = _requested_and_permitted(uow, registry, actor, request, case) if case else []
    _audit(
        uow,
        actor,
        EventKind.READ,
        (f"Task/{request.id}", *(v.versioned_reference for v in releasing)),
        ("release request read",),
        channel="web",
    )
    return Incoming(request, force, case), releasing


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
    if (
        request is None
        or not decide(actor, Action.UPDATE, "IncomingRequest", incoming_facts(request)).permitted
    ):
        raise RequestNotFound("There is no such request.")
    if request.status == RequestStatus.WITHDRAWN:
        raise ReleaseRefused(
            "Her consent was withdrawn after this release was approved: nothing more is "
            "released under it. The force files a new request if she decides again.",
            "request",
        )
    case = _matched_case(uow, actor, request)
    if case is None:
        raise ReleaseRefused(
            "This request matches no case of your site: contact the force to check the "
            "reference the survivor gave them.",
            "request",
        )
    releasing = _requested_and_permitted(uow, registry, actor, request, case)
    if not releasing:
        raise ReleaseRefused(
            "Her consent permits nothing of what this force asks for. Record her decision "
            "first (Her consent, then Release to the police).",
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
    """After her consent is withdrawn or narrowed: an approved request whose release
    is no longer wholly permitted stops (promise 4); the force sees the date."""
    for request in uow.session.scalars(
        sa.select(ReleaseRequest).where(
            ReleaseRequest.case_id == case.id,
            ReleaseRequest.status == RequestStatus.APPROVED.value,
        )
    ):
        # Compared by record, not version: an amendment is not a withdrawal.
        still = {v.reference for v in _requested_and_permitted(uow, registry, actor, request, case)}
        approved = {reference.split("/_history/")[0] for reference in request.approved or []}
        if approved <= still:
            continue
        request.status = RequestStatus.WITHDRAWN.value
        request.withdrawn_at = utcnow()
        _audit(
            uow,
            actor,
            EventKind.UPDATE,
            (f"Task/{request.id}",),
            ("release stopped: her consent was withdrawn or narrowed",),
            channel="web",
        )


# -- physical evidence ------------------------------------------------------------------


def _check_officer(uow: UnitOfWork, force: Organization, officer: str) -> None:
    from clinic.accounts.models import User

    named = officer.strip().casefold()
    officers = uow.session.scalars(
        sa.select(User).where(User.organization_id == force.id, User.is_active.is_(True))
    )
    if not any(named in (u.username.casefold(), u.display_name.casefold()) for u in officers):
        raise HandoverRefused(
            f"Name an officer of {force.name}, as their account shows them.", "receiver_name"
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
        f"This item is not in a release the survivor permits to {force.name} and the clinic "
        "has approved.",
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
        if decide(actor, Action.READ, "IncomingRequest", incoming_facts(request)).permitted:
            force = uow.session.get(Organization, request.force_id)
            assert force is not None
            found.append(Incoming(request, force, case))
    return found
