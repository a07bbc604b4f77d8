"""What she takes home from follow-up (the follow-up issue, point 8): the
appointment card and the aftercare sheet, in her language, in words that do not
reveal the assault to someone who finds them.

* The clinic is named as the site chooses (site_settings/: a discreet name and a
  phone number; by default a neutral name in her language and no phone).
* The card lists her booked appointments to come, day and time, and what to
  bring; never what an appointment is for.
* The sheet lists the medicines to take and when (from the treatments her plan
  was built on), what falls due and when (neutral words for each item), and the
  danger signs to come back for — with the advice after pressure on the neck
  when her exam recorded strangulation (clinic/exam STRANGULATION_ADVICE, in
  neutral words). That advice is decided once from her signed exam when the
  examiner agrees the plan, and kept on the plan (`FollowUpPlan.neck_advice`):
  the sheet is the same whoever prints it, and never depends on what her
  consents let the printing person read. A plan agreed before it was kept is
  decided by the service at its first printing (`_neck_advice`), then kept.
* Counsellors and examiners of her site print them; every printing is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from clinic.access import Action, Actor, require
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.consent.book import consent_book
from clinic.consent.services import survivor_language
from clinic.consent.words import date_in_words
from clinic.core.clock import to_local, utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam.models import ExamEntry
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.followup import services
from clinic.followup.models import FollowUpPlan
from clinic.followup.schedule import ALWAYS, ScheduleLibrary
from clinic.followup.site_settings import SiteSettingsLibrary
from clinic.followup.take_home_words import MEDICINE_TREATMENTS, TAKE_HOME_WORDS
from clinic.followup.terms import OPEN_ITEM_STATUSES
from clinic.i18n import N_


def words_for(language: str) -> dict[str, str]:
    return TAKE_HOME_WORDS.get(language, TAKE_HOME_WORDS["en"])


@dataclass(frozen=True)
class TakeHome:
    plan_id: str
    case_reference: str  # for staff on screen only; never printed
    language: str
    site_name: str
    phone: str
    appointments: tuple[tuple[str, str], ...]  # (day in words, HH:MM)
    medicines: tuple[str, ...]  # words keys: med_<treatment>
    # (words key, day in words), the day None when it is overdue (as soon as she can)
    due: tuple[tuple[str, str | None], ...]
    neck_signs: bool


def _item_words(code: str, kind: str, words: dict[str, str]) -> str:
    key = f"item_{code}"
    return key if key in words else f"item_{kind}"


def take_home(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    sites: SiteSettingsLibrary,
    schedules: ScheduleLibrary,
    *,
    actor: Actor,
    plan_id: str,
    zone: str,
    channel: str = "web",
) -> TakeHome:
    """What the card and the sheet print for her plan; audited as printed."""
    require(actor, Action.READ, "Appointment")
    record = services.read_plan(
        uow, registry, actor=actor, plan_id=plan_id, zone=zone, channel=channel
    )
    plan = record.plan
    site = uow.session.get(Organization, plan.site_id)
    assert site is not None
    settings = sites.for_site(site.code)
    language = survivor_language(uow, registry, actor=actor, patient_id=plan.patient_id)
    words = words_for(language)
    now = utcnow()
    appointments = tuple(
        (
            date_in_words(to_local(a.starts_at, zone).date(), language),
            to_local(a.starts_at, zone).strftime("%H:%M"),
        )
        for a in services.appointments_of_plan(uow, actor=actor, plan=plan)
        if a.status == "booked" and a.starts_at > now
    )
    if plan.medicines_given is not None:
        given = set(plan.medicines_given.split())
    else:
        # Agreed before the medicines were kept: from the treatments its items follow.
        schedule = schedules.for_site(site.code)
        given = {
            rule.when
            for item in record.items
            if (rule := schedule.rule(item.code)) is not None and rule.when != ALWAYS
        }
    medicines = tuple(f"med_{t}" for t in MEDICINE_TREATMENTS if t in given)
    due: list[tuple[str, str | None]] = []
    for item in sorted(record.items, key=lambda i: i.due_on):
        if item.is_referral or item.status not in OPEN_ITEM_STATUSES:
            continue
        # Still open after its day: not dropped, she is asked to come as soon as she can.
        day = None if item.due_on < record.today else _day(item.due_on, language)
        due.append((_item_words(item.code, item.kind, words), day))
    neck_signs = _neck_advice(uow, registry, actor=actor, plan=plan, channel=channel)
    allowed = require(
        actor, Action.READ, "CarePlan", record.version.facts(), consents=consent_book(uow)
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(record.version.versioned_reference,),
            reasons=(*allowed.reasons, "printed for her to take home"),
        )
    )
    return TakeHome(
        plan_id=plan.id,
        case_reference=record.case.reference,
        language=language,
        site_name=settings.printed_name(language),
        phone=settings.phone,
        appointments=appointments,
        medicines=medicines,
        due=tuple(due),
        neck_signs=neck_signs,
    )


def _day(day: date, language: str) -> str:
    return date_in_words(day, language)


def _neck_advice(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan: FollowUpPlan,
    channel: str,
) -> bool:
    """The neck advice kept on her plan. A plan agreed before it was kept: the
    service decides it once from her signed exam's current entries (the act and
    the strangulation step, whoever prints), keeps it on the plan and audits that
    it did; nothing of the exam is shown to the person printing."""
    if plan.neck_advice is not None:
        return plan.neck_advice
    store = ResourceStore(uow.session, registry)
    entries: dict[str, StoredVersion] = {}
    rows = uow.session.scalars(
        sa.select(ExamEntry).where(
            ExamEntry.exam_id == plan.exam_id, ExamEntry.slot.in_(NECK_ADVICE_SLOTS)
        )
    )
    for row in rows:
        version = store.current(row.resource_type, row.resource_id)
        if version is not None and version.content.get("status") != "entered-in-error":
            entries[row.slot] = version
    plan.neck_advice = services.strangulation_recorded(entries)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=tuple(v.versioned_reference for v in entries.values()),
            reasons=(NECK_ADVICE_DECIDED,),
        )
    )
    return plan.neck_advice


# The exam's slots the neck advice is decided from.
NECK_ADVICE_SLOTS = ("acts", "strangulation", "strangulation-signs")
NECK_ADVICE_DECIDED = N_(
    "her aftercare advice decided once by the service from her signed exam "
    "(plan agreed before it was kept); nothing of the exam shown"
)
