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
  neutral words).
* Counsellors and examiners of her site print them; every printing is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clinic.access import Action, Actor, require
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.consent.book import consent_book
from clinic.consent.services import survivor_language
from clinic.consent.words import date_in_words
from clinic.core.clock import to_local, utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam.resources import Answer
from clinic.fhir.profiles import ProfileRegistry
from clinic.followup import safety, services
from clinic.followup.schedule import ALWAYS, ScheduleLibrary
from clinic.followup.site_settings import SiteSettingsLibrary
from clinic.followup.take_home_words import MEDICINE_TREATMENTS, TAKE_HOME_WORDS
from clinic.followup.terms import OPEN_ITEM_STATUSES


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
    due: tuple[tuple[str, str], ...]  # (words key, day in words)
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
    schedule = schedules.for_site(site.code)
    given = {
        rule.when
        for item in record.items
        if (rule := schedule.rule(item.code)) is not None and rule.when != ALWAYS
    }
    medicines = tuple(f"med_{t}" for t in MEDICINE_TREATMENTS if t in given)
    due: list[tuple[str, str]] = []
    for item in sorted(record.items, key=lambda i: i.due_on):
        if item.is_referral or item.status not in OPEN_ITEM_STATUSES or item.due_on < record.today:
            continue
        due.append((_item_words(item.code, item.kind, words), _day(item.due_on, language)))
    exam = safety.exam_for_safety(uow, registry, actor=actor, plan=plan, channel=channel)
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
        neck_signs=exam is not None and strangulation_recorded(exam),
    )


def _day(day: date, language: str) -> str:
    return date_in_words(day, language)


def strangulation_recorded(record: safety.ExamRecord) -> bool:
    """Her exam recorded strangulation: the act answered yes, or its step filled."""
    from clinic.exam.resources import ASSAULT_ACT, answers_of

    acts = record.entries.get("acts")
    if (
        acts is not None
        and answers_of(acts.content, ASSAULT_ACT).get("strangulation") is Answer.YES
    ):
        return True
    return "strangulation" in record.entries or "strangulation-signs" in record.entries
