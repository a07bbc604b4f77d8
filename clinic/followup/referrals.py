"""Her referrals to partner services of her site's directory (the follow-up issue,
point 5).

Rules:

* A referral is made by a counsellor (or the examiner, at her plan) of her site, to
  an active partner service of the same site's directory. Anything else is refused
  and nothing is written.
* What travels with it is decided by the decision point alone
  (`clinic.access.policy.referral_content`) from her information-sharing consent
  for the kind of recipient that kind of service is (`REFERRAL_RECIPIENT`). A
  referral that would carry nothing she agreed to share is refused: the referral is
  her information going out, and without her word nothing goes.
* A referral she declined when it was offered is recorded as declined, with nothing
  shared and no letter.
* Its status moves only forward (`REFERRAL_NEXT`): sent, accepted or declined by the
  partner, attended, closed; with the outcome in words.
* The letter is printed in her language with only the content her consent permits;
  a partner without an account here gets the letter, by hand or post.
* Referrals are never released: police get nothing of them. Every read is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.policy import REFERRAL_RECIPIENT, referral_content
from clinic.access.terms import RECIPIENT_SYSTEM, RECIPIENTS
from clinic.audit.services import AuditRecord, EventKind
from clinic.consent.book import consent_book
from clinic.consent.services import survivor_language
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore
from clinic.followup import services
from clinic.followup.directory import ServiceNotFound, read_service
from clinic.followup.models import FollowUpItem, FollowUpPlan
from clinic.followup.referral_models import PartnerService, Referral
from clinic.followup.resources import REFERRAL
from clinic.followup.terms import OPEN_ITEM_STATUSES, REFERRAL_NEXT, REFERRAL_STATUS
from clinic.i18n.sentences import OR, Coded, Listing, Word, sentence

# The longest reason or outcome kept, in characters.
MAX_TEXT = 1000


class ReferralRefused(DomainError):
    """A referral or change the rules do not allow; the message says why."""


class ReferralNotFound(ReferralRefused):
    """No such referral, or one refused (`decision`, for the audit): the same answer."""

    def __init__(self, decision: Any = None) -> None:
        super().__init__("No such referral.")
        self.decision = decision


def referral_facts(referral: Referral, plan: FollowUpPlan) -> ResourceFacts:
    return ResourceFacts(
        "ServiceRequest",
        referral.id,
        site_id=referral.site_id,
        subject=f"Patient/{plan.patient_id}",
    )


def _text(value: str | None, field: str) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > MAX_TEXT:
        raise ReferralRefused(sentence("Keep this to %(count)s characters.", count=MAX_TEXT), field)
    return value


def make_referral(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    service_id: str,
    reason: str | None = None,
    she_declined: bool = False,
    channel: str = "web",
) -> Referral:
    """Refer her to a partner service of her site, carrying only what her consent
    permits to that kind of recipient; or record that she declined the referral."""
    require(actor, Action.CREATE, "ServiceRequest")
    plan = services._load_plan(uow, actor, plan_id, Action.READ)
    try:
        service = read_service(uow, actor=actor, service_id=service_id)
    except ServiceNotFound:
        service = None
    if service is None or service.site_id != plan.site_id or not service.active:
        raise ReferralRefused(sentence("Choose a service from her site's directory."), "service")
    reason = _text(reason, "reason")
    subject = f"Patient/{plan.patient_id}"
    shared: frozenset[str] = frozenset()
    if not she_declined:
        shared = referral_content(
            actor,
            subject,
            service_kind=service.kind,
            consents=consent_book(uow),
            names=(service.organisation, service.name),
        )
        if not shared:
            role = REFERRAL_RECIPIENT[service.kind]
            recipient = Coded(RECIPIENT_SYSTEM, role, inline=True, english_text=RECIPIENTS[role])
            raise ReferralRefused(
                sentence(
                    "She has not agreed to share anything with %(recipient)s, so no referral "
                    "can be sent. Ask her, and record her information-sharing consent first; "
                    "or tell her how to contact the service herself.",
                    recipient=recipient,
                ),
                "service",
            )
    referral = Referral(
        id=str(uuid.uuid4()),
        plan_id=plan.id,
        position=_wanted_item(uow, plan, service),
        site_id=plan.site_id,
        service_id=service.id,
        status="declined" if she_declined else "sent",
        shared=" ".join(c for c in ("identity", "treatment") if c in shared),
        language=survivor_language(uow, registry, actor=actor, patient_id=plan.patient_id),
        reason=reason,
        made_at=utcnow(),
        made_by=actor.username,
    )
    decision = require(
        actor,
        Action.CREATE,
        "ServiceRequest",
        referral_facts(referral, plan),
        consents=consent_book(uow),
    )
    uow.session.add(referral)
    uow.session.flush()
    what = (
        "she declined the referral"
        if she_declined
        else "referral sent, carrying " + (referral.shared or "nothing")
    )
    _audit(uow, actor, EventKind.CREATE, (referral,), (*decision.reasons, what), channel)
    return referral


def _wanted_item(uow: UnitOfWork, plan: FollowUpPlan, service: PartnerService) -> int | None:
    """The plan's open item "referral she wants" of this kind, which this referral
    carries out (the first such item not yet linked to a referral)."""
    linked = set(
        uow.session.scalars(
            sa.select(Referral.position).where(
                Referral.plan_id == plan.id, Referral.position.is_not(None)
            )
        )
    )
    for item in uow.session.scalars(
        sa.select(FollowUpItem)
        .where(FollowUpItem.plan_id == plan.id, FollowUpItem.code == REFERRAL)
        .order_by(FollowUpItem.position)
    ):
        if (
            item.service_kind == service.kind
            and item.status in OPEN_ITEM_STATUSES
            and item.position not in linked
        ):
            return item.position
    return None


def _load(
    uow: UnitOfWork, actor: Actor, referral_id: str, action: Action
) -> tuple[Referral, FollowUpPlan, Any]:
    require(actor, action, "ServiceRequest")
    referral = uow.session.get(Referral, referral_id)
    plan = uow.session.get(FollowUpPlan, referral.plan_id) if referral is not None else None
    if referral is None or plan is None:
        raise ReferralNotFound()
    decision = decide(
        actor, action, "ServiceRequest", referral_facts(referral, plan), consents=consent_book(uow)
    )
    if not decision.permitted:
        raise ReferralNotFound(decision)
    return referral, plan, decision


def referral_with_plan(
    uow: UnitOfWork, *, actor: Actor, referral_id: str, action: Action
) -> tuple[Referral, FollowUpPlan, Any]:
    """The referral, its plan and the decision that let the actor see it; else
    ReferralNotFound (another site's, a guessed id: the same answer)."""
    return _load(uow, actor, referral_id, action)


def find_referral(uow: UnitOfWork, *, actor: Actor, referral_id: str, action: Action) -> Referral:
    """The referral, when the actor may act on it: asked before any input is read,
    so a refusal of the input never tells of a referral the actor may not see."""
    return _load(uow, actor, referral_id, action)[0]


def set_status(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    referral_id: str,
    status: str,
    outcome: str | None = None,
    channel: str = "web",
) -> Referral:
    """Move a referral on (its Task): only to a status that may follow the current
    one. Attended completes the plan item it carries out."""
    referral, plan, decision = _load(uow, actor, referral_id, Action.UPDATE)
    if status not in REFERRAL_STATUS:
        raise ReferralRefused(sentence("Choose what became of the referral."), "status")
    allowed = REFERRAL_NEXT[referral.status]
    if status not in allowed:
        now = Word(REFERRAL_STATUS[referral.status], inline=True)
        then = Listing(tuple(Word(REFERRAL_STATUS[s], inline=True) for s in allowed), OR)
        raise ReferralRefused(
            sentence("A referral that is %(now)s can next be %(next)s only.", now=now, next=then)
            if allowed
            else sentence("A referral that is %(now)s cannot change any more.", now=now),
            "status",
        )
    outcome = _text(outcome, "outcome")
    referral.status = status
    if outcome is not None:
        referral.outcome = outcome
    referral.changed_at = utcnow()
    referral.changed_by = actor.username
    uow.session.flush()
    if status == "attended" and referral.position is not None:
        item = uow.session.get(FollowUpItem, (plan.id, referral.position))
        if item is not None and item.status in OPEN_ITEM_STATUSES:
            services.set_item_status(
                uow,
                registry,
                actor=actor,
                plan_id=plan.id,
                position=referral.position,
                status="completed",
                channel=channel,
            )
    _audit(uow, actor, EventKind.UPDATE, (referral,), (*decision.reasons, status), channel)
    return referral


@dataclass(frozen=True)
class ReferralView:
    referral: Referral
    service: PartnerService


def referrals_of_plan(
    uow: UnitOfWork, *, actor: Actor, plan: FollowUpPlan, channel: str = "web"
) -> list[ReferralView]:
    """Her referrals the actor may read, newest first; audited as one search."""
    if not decide(actor, Action.SEARCH, "ServiceRequest").permitted:
        return []
    found = []
    for referral in uow.session.scalars(
        sa.select(Referral).where(Referral.plan_id == plan.id).order_by(Referral.made_at.desc())
    ):
        if decide(
            actor,
            Action.READ,
            "ServiceRequest",
            referral_facts(referral, plan),
            consents=consent_book(uow),
        ).permitted:
            service = uow.session.get(PartnerService, referral.service_id)
            assert service is not None
            found.append(ReferralView(referral, service))
    _audit(
        uow,
        actor,
        EventKind.SEARCH,
        tuple(view.referral for view in found),
        ("her referrals",),
        channel,
    )
    return found


@dataclass(frozen=True)
class ReferralLetter:
    """What the printed letter says: only what her consent lets travel."""

    referral: Referral
    service: PartnerService
    site_name: str
    language: str
    shared: tuple[str, ...]
    name: str | None
    phone: str | None
    email: str | None
    treatments: tuple[str, ...]


def letter(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    referral_id: str,
    channel: str = "web",
) -> ReferralLetter:
    """The referral letter, with only the content her consent permitted when the
    referral was made and still permits now (a withdrawal since takes it out)."""
    referral, plan, decision = _load(uow, actor, referral_id, Action.READ)
    if referral.status == "declined" and not referral.shared:
        raise ReferralRefused(sentence("She declined this referral: there is no letter."))
    service = uow.session.get(PartnerService, referral.service_id)
    assert service is not None
    subject = f"Patient/{plan.patient_id}"
    now_permitted = referral_content(
        actor,
        subject,
        service_kind=service.kind,
        consents=consent_book(uow),
        names=(service.organisation, service.name),
    )
    shared = tuple(c for c in referral.shared.split() if c in now_permitted)
    store = ResourceStore(uow.session, registry)
    name = phone = email = None
    read: list[str] = []
    # Her details are read for the letter only, under the disclosure her consent
    # permits to this kind of partner (decided just above), and audited as read.
    if "identity" in shared:
        patient = store.current("Patient", plan.patient_id)
        if patient is not None:
            read.append(patient.versioned_reference)
            names = patient.content.get("name") or []
            name = names[0].get("text") if names else None
            for telecom in patient.content.get("telecom", []):
                if telecom.get("system") == "phone":
                    phone = telecom.get("value")
                elif telecom.get("system") == "email":
                    email = telecom.get("value")
    treatments: list[str] = []
    if "treatment" in shared:
        for version in store.of_subject("MedicationAdministration", subject):
            if version.content.get("status") == "completed":
                read.append(version.versioned_reference)
                treatments.append(str(version.content["medicationCodeableConcept"]["text"]))
    from clinic.accounts.models import Organization

    site = uow.session.get(Organization, referral.site_id)
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(f"ServiceRequest/{referral.id}", *read),
            reasons=(
                *decision.reasons,
                "referral letter carrying " + (" ".join(shared) or "nothing"),
            ),
        )
    )
    return ReferralLetter(
        referral=referral,
        service=service,
        site_name=site.name if site is not None else "",
        language=referral.language,
        shared=shared,
        name=name,
        phone=phone,
        email=email,
        treatments=tuple(treatments),
    )


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    referrals: tuple[Referral, ...],
    reasons: tuple[str, ...],
    channel: str,
) -> None:
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=tuple(f"ServiceRequest/{referral.id}" for referral in referrals),
            reasons=reasons,
        )
    )
