"""Opening a medical expert's account, and what the expert sees.

Rules (docs/design.md section 4):

* only an examiner of her case's site opens the account (the decision point:
  kind ExpertAccount, operation appoint-expert), from her case;
* only where her active photo consent names a medical expert and permits the
  expert to view her intimate images, and the person whose account it is carries
  the name recorded there (compared without regard to letter case or spacing);
* the account serves that one case until the end of the end date (at most
  `max_days` ahead); after it, neither sign-in nor any decision lets it read;
* the expert sees each photograph of that case only as her Consents permit the
  named person, decided one by one by the decision point; withdrawing her consent
  item stops it at once, because every read asks her Consents again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide
from clinic.access.policy import APPOINT_EXPERT, expert_named, named_experts
from clinic.access.roles import Role
from clinic.accounts.models import User
from clinic.accounts.services import AccountError, create_user
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.i18n import N_
from clinic.i18n.sentences import sentence


class ExpertRefused(DomainError):
    """An expert account the rules do not allow; the message says why."""


class CaseNotFound(ExpertRefused):
    """No such case, or one the caller may not act on: the same answer for both."""


@dataclass(frozen=True)
class Appointment:
    """What the examiner types: who the expert is and until when."""

    display_name: str
    username: str
    password: str
    ends_on: date | None


def same_name(recorded: str, typed: str) -> bool:
    """The name in her consent and the account holder's name: the same words,
    whatever the letter case or spacing (no other guessing: titles count)."""
    return " ".join(recorded.split()).casefold() == " ".join(typed.split()).casefold()


def _case(uow: UnitOfWork, actor: Actor, case_id: str) -> Case:
    case = uow.session.get(Case, case_id)
    facts = ResourceFacts(
        "ExpertAccount",
        case_id,
        site_id=case.site_id if case else None,
        subject=f"Patient/{case.patient_id}" if case else None,
    )
    decision = decide(actor, Action.CREATE, "ExpertAccount", facts, operation=APPOINT_EXPERT)
    if case is None or not decision.permitted:
        raise CaseNotFound(N_("No such case."))
    return case


def experts_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[User]:
    """The expert accounts opened for a case (for its examiners)."""
    case = _case(uow, actor, case_id)
    return list(
        uow.session.scalars(
            sa.select(User).where(User.expert_case_id == case.id).order_by(User.created_at)
        )
    )


def names_in_consent(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[str]:
    case = _case(uow, actor, case_id)
    return named_experts(f"Patient/{case.patient_id}", consent_book(uow))


def appoint_expert(
    uow: UnitOfWork,
    *,
    actor: Actor,
    case_id: str,
    appointment: Appointment,
    max_days: int,
    now: datetime | None = None,
) -> User:
    """Open the account. Nothing is written when any check refuses."""
    case = _case(uow, actor, case_id)
    moment = now or utcnow()
    subject = f"Patient/{case.patient_id}"
    book = consent_book(uow)
    names = named_experts(subject, book, moment)
    if not names:
        raise ExpertRefused(
            N_(
                "Her photo consent names no medical expert who may view her images: "
                "record her consent first."
            ),
            "display_name",
        )
    recorded = next((n for n in names if same_name(n, appointment.display_name)), None)
    if recorded is None:
        raise ExpertRefused(
            N_(
                "This is not the person her photo consent names as her medical expert. "
                "Type the name exactly as it is written in her consent."
            ),
            "display_name",
        )
    if not expert_named(subject, recorded, book, moment).permitted:
        raise ExpertRefused(
            N_("Her photo consent does not let this expert view her intimate images."),
            "display_name",
        )
    ends_on = appointment.ends_on
    today = moment.astimezone(UTC).date()
    if ends_on is None:
        raise ExpertRefused(N_("Give the last day the expert may sign in."), "ends_on")
    if ends_on < today:
        raise ExpertRefused(N_("The last day must be today or later."), "ends_on")
    if ends_on > today + timedelta(days=max_days):
        raise ExpertRefused(
            sentence(
                "The last day is at most %(days)s days from today; open a new account if the "
                "expert needs longer.",
                days=max_days,
            ),
            "ends_on",
        )
    try:
        user = create_user(
            uow,
            actor=None,  # the examiner's decision was made above, for this one case
            username=appointment.username,
            display_name=appointment.display_name,
            role=Role.EXPERT,
            organization_id=case.site_id,
            password=appointment.password,
        )
    except AccountError as error:
        raise ExpertRefused(error.message, error.field) from error
    user.expert_case_id = case.id
    user.expert_subject = subject
    user.expert_consent_name = recorded
    user.access_until = datetime.combine(ends_on, time.max, UTC)
    user.appointed_by = actor.user_id
    # The examiner chose the password: the expert chooses their own at first sign-in.
    user.must_change_password = True
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor,
            entities=(f"User/{user.id}", f"EpisodeOfCare/{case.id}"),
            reasons=(f"medical expert account opened until {ends_on.isoformat()}",),
        )
    )
    return user
