"""Break-glass (docs/design.md section 4a): an examiner states why she must open a
case she may not otherwise read (another site's, or records her consent keeps from
the care team) and gets read access to it for a limited time. The decision point
takes her live grants as an input (`Actor.emergency`) and checks each one's end at
every decision; every record it opens under a grant is listed on the grant and
audited; an auditor reviews each grant.

Services take the unit of work and the acting user; they flush, never commit."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.policy import EmergencyAccess
from clinic.access.roles import Role
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.emergency.models import OUTCOMES, BreakGlassGrant, BreakGlassRead
from clinic.i18n import N_

REASON_MIN = 20
REASON_MAX = 2000
NOTE_MAX = 2000


class BreakGlassRefused(DomainError):
    """A refusal to grant or review a break-glass access."""


class GrantNotFound(DomainError):
    pass


def grant_facts(grant: BreakGlassGrant) -> ResourceFacts:
    return ResourceFacts("BreakGlassGrant", grant.id, owner_user_id=grant.user_id)


def with_grants(uow: UnitOfWork, actor: Actor) -> Actor:
    """The actor with her break-glass grants not yet ended: read for every request
    (never cached across requests); the decision point checks each one's end again
    at every decision. Only examiners hold grants."""
    if actor.role is not Role.EXAMINER:
        return actor
    now = utcnow()
    grants = uow.session.scalars(
        sa.select(BreakGlassGrant).where(
            BreakGlassGrant.user_id == actor.user_id, BreakGlassGrant.expires_at >= now
        )
    ).all()
    if not grants:
        return actor
    return dataclasses.replace(
        actor,
        emergency=tuple(
            EmergencyAccess(grant.id, grant.subject, grant.site_id, grant.expires_at)
            for grant in grants
        ),
    )


def break_glass(
    uow: UnitOfWork,
    *,
    actor: Actor,
    reference: str,
    reason: str,
    duration: timedelta,
    channel: str = "web",
) -> BreakGlassGrant:
    """Grant the examiner read access to the case of this reference until now +
    `duration`, for the reason she states. Audited with the reason."""
    require(actor, Action.CREATE, "BreakGlassGrant")
    reason = reason.strip()
    if len(reason) < REASON_MIN:
        raise BreakGlassRefused(
            N_("State the emergency in at least 20 characters: an auditor will review it."),
            "reason",
        )
    if len(reason) > REASON_MAX:
        raise BreakGlassRefused(N_("Keep the reason under 2000 characters."), "reason")
    case = uow.session.scalar(sa.select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise BreakGlassRefused(N_("No case has this reference."), "reference")
    now = utcnow()
    grant = BreakGlassGrant(
        id=str(uuid.uuid4()),
        user_id=actor.user_id,
        username=actor.username,
        case_id=case.id,
        site_id=case.site_id,
        subject=f"Patient/{case.patient_id}",
        reason=reason,
        granted_at=now,
        expires_at=now + duration,
    )
    uow.session.add(grant)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel=channel,
            actor=actor,
            entities=(f"BreakGlassGrant/{grant.id}", f"EpisodeOfCare/{case.id}"),
            reasons=("break-glass", f"until {grant.expires_at.isoformat()}", reason),
        )
    )
    return grant


def record_reads(
    uow: UnitOfWork, actor: Actor, reads: Sequence[tuple[str, str]], *, channel: str = "web"
) -> None:
    """The records a request read under break-glass (grant id, kind/id): listed on
    their grant (once each) and audited as break-glass reads."""
    if not reads:
        return
    now = utcnow()
    by_grant: dict[str, list[str]] = {}
    for grant_id, entity in reads:
        entities = by_grant.setdefault(grant_id, [])
        if entity not in entities:
            entities.append(entity)
    for grant_id, entities in by_grant.items():
        known = set(
            uow.session.scalars(
                sa.select(BreakGlassRead.entity).where(BreakGlassRead.grant_id == grant_id)
            )
        )
        for entity in entities:
            if entity not in known:
                uow.session.add(BreakGlassRead(grant_id=grant_id, read_at=now, entity=entity))
        uow.audit(
            AuditRecord(
                kind=EventKind.READ,
                channel=channel,
                actor=actor,
                entities=(f"BreakGlassGrant/{grant_id}", *entities),
                reasons=("break-glass",),
            )
        )
    uow.session.flush()


@dataclass(frozen=True)
class GrantView:
    grant: BreakGlassGrant
    case_reference: str
    reads: list[BreakGlassRead]

    @property
    def reviewed(self) -> bool:
        return self.grant.outcome is not None


def _view(uow: UnitOfWork, grant: BreakGlassGrant) -> GrantView:
    case = uow.session.get(Case, grant.case_id)
    assert case is not None
    reads = list(
        uow.session.scalars(
            sa.select(BreakGlassRead)
            .where(BreakGlassRead.grant_id == grant.id)
            .order_by(BreakGlassRead.read_at, BreakGlassRead.id)
        )
    )
    return GrantView(grant, case.reference, reads)


def accesses_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[GrantView]:
    """The break-glass accesses to a case, newest first, for its care team (whoever
    may read the case by the baseline or her consent, not by break-glass)."""
    case = uow.session.get(Case, case_id)
    team = dataclasses.replace(actor, emergency=())
    if (
        case is None
        or not decide(
            team,
            Action.READ,
            "EpisodeOfCare",
            ResourceFacts(
                "EpisodeOfCare", case.id, site_id=case.site_id, subject=f"Patient/{case.patient_id}"
            ),
            consents=consent_book(uow),
        ).permitted
    ):
        raise GrantNotFound(N_("No such case."))
    grants = uow.session.scalars(
        sa.select(BreakGlassGrant)
        .where(BreakGlassGrant.case_id == case.id)
        .order_by(BreakGlassGrant.granted_at.desc())
    ).all()
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            entities=(f"EpisodeOfCare/{case.id}", *(f"BreakGlassGrant/{g.id}" for g in grants)),
            reasons=("break-glass accesses of the case",),
        )
    )
    return [_view(uow, grant) for grant in grants]


def case_break_glass_count(uow: UnitOfWork, case_id: str) -> int:
    """How many times the case was opened by break-glass (the flag on the case)."""
    return int(
        uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(BreakGlassGrant)
            .where(BreakGlassGrant.case_id == case_id)
        )
        or 0
    )


def active_grant(actor: Actor, subject: str, at: datetime | None = None) -> EmergencyAccess | None:
    """The actor's live grant for the case of this Patient, if any (the banner)."""
    moment = at or utcnow()
    for grant in actor.emergency:
        if grant.subject == subject and moment <= grant.until:
            return grant
    return None


def review_queue(uow: UnitOfWork, *, actor: Actor) -> tuple[list[GrantView], list[GrantView]]:
    """Every grant for auditors: those awaiting review (oldest first), then the
    latest 200 reviewed."""
    require(actor, Action.SEARCH, "BreakGlassGrant")
    waiting = uow.session.scalars(
        sa.select(BreakGlassGrant)
        .where(BreakGlassGrant.outcome.is_(None))
        .order_by(BreakGlassGrant.granted_at)
    ).all()
    done = uow.session.scalars(
        sa.select(BreakGlassGrant)
        .where(BreakGlassGrant.outcome.is_not(None))
        .order_by(BreakGlassGrant.reviewed_at.desc())
        .limit(200)
    ).all()
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            entities=tuple(f"BreakGlassGrant/{g.id}" for g in (*waiting, *done)),
            reasons=("break-glass review queue",),
        )
    )
    return [_view(uow, g) for g in waiting], [_view(uow, g) for g in done]


def _load_grant(
    uow: UnitOfWork, actor: Actor, grant_id: str, action: Action, *, lock: bool = False
) -> BreakGlassGrant:
    query = sa.select(BreakGlassGrant).where(BreakGlassGrant.id == grant_id)
    if lock:
        # Two auditors reviewing at once: the second waits, then finds it reviewed.
        query = query.with_for_update()
    grant = uow.session.scalar(query)
    if grant is None or not decide(actor, action, "BreakGlassGrant", grant_facts(grant)).permitted:
        raise GrantNotFound(N_("No such break-glass access."))
    return grant


def read_grant(uow: UnitOfWork, *, actor: Actor, grant_id: str) -> GrantView:
    require(actor, Action.READ, "BreakGlassGrant")
    grant = _load_grant(uow, actor, grant_id, Action.READ)
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel="web",
            actor=actor,
            entities=(f"BreakGlassGrant/{grant.id}",),
            reasons=("break-glass review",),
        )
    )
    return _view(uow, grant)


def review_grant(
    uow: UnitOfWork, *, actor: Actor, grant_id: str, outcome: str, note: str
) -> BreakGlassGrant:
    """An auditor's review of one grant: justified, not justified or referred,
    with a note. A review once recorded is not changed (an outcome is evidence)."""
    require(actor, Action.UPDATE, "BreakGlassGrant")
    grant = _load_grant(uow, actor, grant_id, Action.UPDATE, lock=True)
    if outcome not in OUTCOMES:
        raise BreakGlassRefused(N_("Choose an outcome."), "outcome")
    note = note.strip()
    if not note:
        raise BreakGlassRefused(N_("Write a note: what you checked and why."), "note")
    if len(note) > NOTE_MAX:
        raise BreakGlassRefused(N_("Keep the note under 2000 characters."), "note")
    if grant.outcome is not None:
        raise BreakGlassRefused(N_("This access has already been reviewed."), "outcome")
    grant.outcome = outcome
    grant.review_note = note
    grant.reviewed_by = actor.username
    grant.reviewed_at = utcnow()
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor,
            entities=(f"BreakGlassGrant/{grant.id}",),
            reasons=("break-glass reviewed", outcome),
        )
    )
    return grant
