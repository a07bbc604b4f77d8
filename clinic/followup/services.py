"""Her follow-up plan: proposed at sign-off, reviewed by the examiner, agreed with
her, and carried by the counsellors of her site.

Rules (the follow-up issue; docs/design.md sections 4 and 9):

* A plan is proposed from a signed exam only: what was given and when decides
  which rules of the site's schedule apply (followup_schedules/) and when each item
  falls due. The proposal is computed, never stored: nothing is written until the
  examiner has reviewed it with her and she has agreed.
* The examiner may drop an item or move its due date, never before the day of the
  exam, and may add the referrals she wants; an item the schedule does not know is
  refused. One plan per exam.
* The plan is a CarePlan (her clinical record, versioned); each change of an
  item's status is a new version, with its row in the operational index.
* The decision point decides every read and write (kind `CarePlan`): examiners of
  her site propose and read, counsellors of her site carry the plan; police and
  custodians nothing. A plan the actor may not see is answered as one that does
  not exist. Every read is audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.accounts.models import Organization, User
from clinic.audit.services import AuditRecord, EventKind, refused_or_missing
from clinic.cases.models import Case
from clinic.consent.book import consent_book
from clinic.consent.words import MONTHS
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam.models import Exam
from clinic.exam.resources import ASSAULT_ACT, TREATMENTS, Answer, answers_of
from clinic.exam.services import ExamNotFound, ExamRecord, read_exam
from clinic.exam.timing import TimingKind
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.followup import resources as fhir
from clinic.followup.codes import ITEM_DISPLAY
from clinic.followup.models import (
    FollowUpAppointment,
    FollowUpContactAttempt,
    FollowUpItem,
    FollowUpPlan,
)
from clinic.followup.resources import REFERRAL, PlanItem, SafeContactPlan
from clinic.followup.schedule import (
    ALWAYS,
    Anchor,
    Interval,
    ScheduleLibrary,
    ScheduleRule,
    add_interval,
    due_date,
    local_day,
)
from clinic.followup.take_home_words import MEDICINE_TREATMENTS
from clinic.followup.terms import (
    APPOINTMENT_OUTCOMES,
    APPOINTMENT_STATUS,
    CHANNEL_SYSTEM,
    CHANNELS,
    CONTACT_OUTCOMES,
    ITEM_STATUS,
    ITEM_SYSTEM,
    OPEN_ITEM_STATUSES,
    REASON_MESSAGES,
    REASON_WORDS,
    RESPONSIBLE,
    SERVICE_KINDS,
)
from clinic.i18n.sentences import Coded, Day, Listing, Sentence, Word, sentence

# She has not (yet) said how we may contact her: then we do not.
NO_CONTACT = SafeContactPlan(channels=())


def _item_words(item: PlanItem | FollowUpItem) -> Coded | str:
    """An item of her plan within a refusal: our followup-item code by its designation
    (a site's own item, or a referral, as its label says)."""
    if ITEM_DISPLAY.get(item.code) == item.label:
        return Coded(ITEM_SYSTEM, item.code)
    return item.label


class FollowUpRefused(DomainError):
    """A plan or change the rules do not allow; the message says why."""


class PlanNotFound(FollowUpRefused):
    """No such plan or exam, or one the caller may not see: the same answer."""


class NoSuchItem(FollowUpRefused):
    """The item named in the address is not one of the plan's (a bad request)."""

    def __init__(self) -> None:
        super().__init__("The plan has no such item.", "position")


class AlreadyAgreed(FollowUpRefused):
    """Someone else agreed this exam's plan first."""


@dataclass(frozen=True)
class ProposedItem:
    item: PlanItem
    source: str  # the guidance the rule follows ("" for referrals)
    counted_from: str  # in words: which day the due date is counted from


@dataclass(frozen=True)
class Proposal:
    exam: Exam
    case: Case
    exam_day: date  # the exam's calendar day at the clinic
    items: tuple[ProposedItem, ...]
    schedule: str  # which schedule: "default" or the site's code
    # Her safe-contact instructions as registered, to start the conversation from.
    contact: SafeContactPlan = NO_CONTACT
    # Her exam recorded strangulation: her aftercare sheet carries the neck advice.
    neck_advice: bool = False
    # The treatments given (exam-treatment codes), whatever items are kept.
    given: frozenset[str] = frozenset()

    def item(self, code: str) -> ProposedItem | None:
        return next((p for p in self.items if p.item.code == code), None)


@dataclass(frozen=True)
class ReviewedItem:
    """The examiner's decision on one proposed item, with her."""

    code: str
    keep: bool
    due_on: date | None
    responsible: str


@dataclass(frozen=True)
class PlanReview:
    items: Sequence[ReviewedItem]
    referrals: Sequence[str]  # partner-service-kind codes she wants
    agreed_with_her: bool
    contact: SafeContactPlan = NO_CONTACT


@dataclass(frozen=True)
class PlanRecord:
    plan: FollowUpPlan
    case: Case
    version: StoredVersion
    items: tuple[PlanItem, ...]
    today: date  # the clinic's today, for what is overdue

    def is_overdue(self, item: PlanItem) -> bool:
        return item.status in OPEN_ITEM_STATUSES and item.due_on < self.today


def plan_facts(plan: FollowUpPlan) -> ResourceFacts:
    return ResourceFacts(
        "CarePlan", plan.id, site_id=plan.site_id, subject=f"Patient/{plan.patient_id}"
    )


def day_in_words(day: date) -> str:
    return f"{day.day} {MONTHS['en'][day.month - 1]} {day.year}"


# -- the proposal --------------------------------------------------------------------


def propose_plan(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    schedules: ScheduleLibrary,
    *,
    actor: Actor,
    exam_id: str,
    zone: str,
    channel: str = "web",
) -> Proposal:
    """The plan the site's schedule proposes from a signed exam: every rule that
    applies (always, or because its treatment was given), each due on the calendar
    day its interval gives from the exam, the treatment or the assault."""
    require(actor, Action.CREATE, "CarePlan")
    try:
        record = read_exam(uow, registry, actor=actor, exam_id=exam_id, channel=channel)
    except ExamNotFound as missing:
        raise PlanNotFound(sentence("No such exam.")) from missing
    if not record.is_signed:
        raise FollowUpRefused(
            sentence(
                "The follow-up plan is proposed from the signed exam: sign the exam off first."
            ),
            "exam",
        )
    site = uow.session.get(Organization, record.exam.site_id)
    assert site is not None
    schedule = schedules.for_site(site.code)
    given = _given_treatments(record)
    exam_day = local_day(record.exam_time, zone)
    items = []
    for rule in schedule.rules:
        if rule.when != ALWAYS and rule.when not in given:
            continue
        anchor, words = _anchor(rule, record, given, zone)
        items.append(
            ProposedItem(
                PlanItem(
                    code=rule.code,
                    kind=rule.kind,
                    label=rule.label,
                    # Counted from a treatment given before the exam (elsewhere), a
                    # date can fall before it: then it is due on the day of the exam.
                    due_on=max(due_date(anchor, rule.after, zone), exam_day),
                    responsible=rule.responsible,
                    reason=words,
                ),
                rule.source,
                words,
            )
        )
    return Proposal(
        record.exam,
        record.case,
        exam_day,
        tuple(sorted(items, key=lambda p: (p.item.due_on, p.item.label))),
        schedule.name,
        _registered_contact(uow, registry, actor, record),
        strangulation_recorded(record.entries),
        frozenset(given),
    )


def strangulation_recorded(entries: Mapping[str, StoredVersion]) -> bool:
    """Her exam (its current entries by slot) recorded strangulation: the act
    answered yes, or its step filled."""
    acts = entries.get("acts")
    if (
        acts is not None
        and answers_of(acts.content, ASSAULT_ACT).get("strangulation") is Answer.YES
    ):
        return True
    return "strangulation" in entries or "strangulation-signs" in entries


def _registered_contact(
    uow: UnitOfWork, registry: ProfileRegistry, actor: Actor, record: ExamRecord
) -> SafeContactPlan:
    """What she said at registration (fc-safe-contact on her Patient), when the
    examiner may read it: the plan's contact wishes start from there."""
    from clinic.cases.services import safe_contact_of

    store = ResourceStore(uow.session, registry)
    patient = store.current("Patient", record.exam.patient_id)
    if (
        patient is None
        or not decide(
            actor, Action.READ, "Patient", patient.facts(), consents=consent_book(uow)
        ).permitted
    ):
        return NO_CONTACT
    registered = safe_contact_of(patient.content)
    if registered is None:
        return NO_CONTACT
    channels = tuple(
        channel
        for channel, allowed in (
            ("call", registered.may_call),
            ("text", registered.may_text),
            ("voicemail", registered.may_leave_message),
        )
        if allowed
    )
    return SafeContactPlan(channels, registered.instructions, bool(registered.code_word))


def _given_treatments(record: ExamRecord) -> dict[str, datetime]:
    """Each treatment given (not offered and declined), with when it was first given."""
    given: dict[str, datetime] = {}
    for _slot, treatment, _version in record.treatments:
        if treatment.given and (
            treatment.kind not in given or treatment.at < given[treatment.kind]
        ):
            given[treatment.kind] = treatment.at
    return given


def _anchor(
    rule: ScheduleRule, record: ExamRecord, given: dict[str, datetime], zone: str
) -> tuple[datetime, str]:
    """The moment an item's due date is counted from, and why, in words: English as
    the plan keeps it (REASON_WORDS), said in the reader's language."""

    def day(moment: datetime) -> Day:
        local = local_day(moment, zone)
        return Day(local, day_in_words(local))

    if rule.anchor is Anchor.TREATMENT:
        moment = given[rule.when]
        return moment, Sentence(
            REASON_MESSAGES["treatment"],
            treatment=Coded("exam-treatment", rule.when, english_text=TREATMENTS[rule.when]),
            day=day(moment),
        )
    if rule.anchor is Anchor.EXPOSURE:
        moment = exposure_time(record)
        return moment, Sentence(REASON_MESSAGES["exposure"], day=day(moment))
    return record.exam_time, Sentence(REASON_MESSAGES["exam"], day=day(record.exam_time))


_REASON_DAY = r"(?P<day>\d{1,2}) (?P<month>[A-Z][a-z]+) (?P<year>\d{4})"
_REASON_SHAPES = {
    kind: re.compile(
        re.escape(words)
        .replace(r"\{day\}", _REASON_DAY)
        .replace(r"\{treatment\}", "(?P<treatment>.+)")
    )
    for kind, words in REASON_WORDS.items()
}


def reason_in_words(reason: str) -> str:
    """Why an item of her plan is due when it is, as the plan keeps it (English),
    said in the reader's language; a reason of another shape as kept."""
    for kind, shape in _REASON_SHAPES.items():
        found = shape.fullmatch(reason)
        if found is None:
            continue
        values: dict[str, Any] = {}
        if "day" in shape.groupindex:
            month = found["month"]
            if month not in MONTHS["en"]:
                return reason
            day = date(int(found["year"]), MONTHS["en"].index(month) + 1, int(found["day"]))
            values["day"] = Day(day, day_in_words(day))
        if "treatment" in shape.groupindex:
            codes = [c for c, words in TREATMENTS.items() if words == found["treatment"]]
            values["treatment"] = (
                Coded("exam-treatment", codes[0], english_text=found["treatment"])
                if codes
                else found["treatment"]
            )
        return Sentence(REASON_MESSAGES[kind], **values)
    return reason


def exposure_time(record: ExamRecord) -> datetime:
    """The latest time the assault may have happened: a test counted from it is never
    early for any possible time. Not known: the exam, which came after it."""
    timing = record.timing
    if timing is not None and timing.kind is TimingKind.EXACT and timing.at is not None:
        return timing.at
    if timing is not None and timing.kind is TimingKind.RANGE and timing.latest is not None:
        return timing.latest
    return record.exam_time


# -- agreeing the plan ----------------------------------------------------------------


def agree_plan(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    schedules: ScheduleLibrary,
    *,
    actor: Actor,
    exam_id: str,
    zone: str,
    review: PlanReview,
    channel: str = "web",
) -> FollowUpPlan:
    """Record her follow-up plan as reviewed by the examiner and agreed with her."""
    proposal = propose_plan(
        uow, registry, schedules, actor=actor, exam_id=exam_id, zone=zone, channel=channel
    )
    exam = proposal.exam
    _refuse_if_agreed(uow, exam.id)
    if not review.agreed_with_her:
        raise FollowUpRefused(
            sentence(
                "Go through the plan with her and tick that she agrees to it; a plan she has "
                "not agreed to is not made."
            ),
            "agreed_with_her",
        )
    items = _reviewed_items(proposal, review)
    contact = _checked_contact(review.contact)
    if not items:
        raise FollowUpRefused(
            sentence("Keep at least one item, or add a referral she wants."), "items"
        )
    facts = ResourceFacts(
        "CarePlan", "new", site_id=exam.site_id, subject=f"Patient/{exam.patient_id}"
    )
    if not decide(actor, Action.CREATE, "CarePlan", facts, consents=consent_book(uow)).permitted:
        raise PlanNotFound(sentence("No such exam."))
    now = utcnow()
    plan = FollowUpPlan(
        id=str(uuid.uuid4()),
        case_id=exam.case_id,
        exam_id=exam.id,
        site_id=exam.site_id,
        patient_id=exam.patient_id,
        status="active",
        agreed_at=now,
        agreed_by=actor.username,
        may_call="call" in contact.channels,
        may_text="text" in contact.channels,
        may_leave_voicemail="voicemail" in contact.channels,
        may_email="email" in contact.channels,
        safe_times=contact.safe_times,
        asks_code_word=contact.asks_code_word,
        neck_advice=proposal.neck_advice,
        medicines_given=" ".join(sorted(proposal.given & set(MEDICINE_TREATMENTS))),
    )
    # The row claims the exam (one plan per exam, in the database): written first, in
    # a savepoint, so that someone agreeing the same plan at the same moment is told
    # who was first instead of meeting the constraint.
    try:
        with uow.session.begin_nested():
            uow.session.add(plan)
            uow.session.flush()
    except sa.exc.IntegrityError:
        _refuse_if_agreed(uow, exam.id)
        raise
    store = ResourceStore(uow.session, registry)
    version = store.create(
        fhir.care_plan(
            patient_id=exam.patient_id,
            exam_id=exam.id,
            starts_on=proposal.exam_day,
            created_at=now,
            reviewed_by=_display_name(uow, actor),
            items=items,
            contact=contact,
        ),
        site_id=exam.site_id,
        author_id=actor.user_id,
        logical_id=plan.id,
    )
    uow.session.flush()
    for position, item in enumerate(items):
        uow.session.add(
            FollowUpItem(
                plan_id=plan.id,
                position=position,
                code=item.code,
                kind=item.kind,
                label=item.label,
                due_on=item.due_on,
                status=item.status,
                responsible=item.responsible,
                service_kind=item.service_kind,
            )
        )
    uow.session.flush()
    _audit(uow, actor, EventKind.CREATE, version, channel, "follow-up plan agreed with her")
    return plan


def _refuse_if_agreed(uow: UnitOfWork, exam_id: str) -> None:
    agreed = uow.session.execute(
        sa.select(FollowUpPlan.agreed_by, FollowUpPlan.agreed_at).where(
            FollowUpPlan.exam_id == exam_id
        )
    ).first()
    if agreed is None:
        return
    user = uow.session.scalar(sa.select(User).where(User.username == agreed.agreed_by))
    raise AlreadyAgreed(
        sentence(
            "Her plan was already agreed by %(by)s: open it from the exam.",
            by=user.display_name if user else agreed.agreed_by,
        ),
        "agreed_with_her",
    )


MAX_SAFE_TIMES = 300


def _checked_contact(contact: SafeContactPlan) -> SafeContactPlan:
    unknown = [channel for channel in contact.channels if channel not in CHANNELS]
    if unknown:
        raise FollowUpRefused(
            sentence("“%(channel)s” is not a way we contact anyone.", channel=unknown[0]),
            "channels",
        )
    safe_times = (contact.safe_times or "").strip() or None
    if safe_times is not None and len(safe_times) > MAX_SAFE_TIMES:
        raise FollowUpRefused(
            sentence("Write the safe times in at most %(count)s characters.", count=MAX_SAFE_TIMES),
            "safe_times",
        )
    channels = tuple(channel for channel in CHANNELS if channel in contact.channels)
    return SafeContactPlan(channels, safe_times, contact.asks_code_word)


def _reviewed_items(proposal: Proposal, review: PlanReview) -> list[PlanItem]:
    items: list[PlanItem] = []
    seen: set[str] = set()
    for reviewed in review.items:
        proposed = proposal.item(reviewed.code)
        if proposed is None:
            raise FollowUpRefused(
                sentence(
                    "“%(item)s” is not an item the schedule proposes for this exam.",
                    item=reviewed.code,
                ),
                "items",
            )
        if reviewed.code in seen:
            raise FollowUpRefused(
                sentence("“%(item)s” is listed twice.", item=_item_words(proposed.item)), "items"
            )
        seen.add(reviewed.code)
        if not reviewed.keep:
            continue
        if reviewed.responsible not in RESPONSIBLE:
            raise FollowUpRefused(
                sentence("Choose who carries “%(item)s”.", item=_item_words(proposed.item)),
                f"items-{reviewed.code}",
            )
        due_on = reviewed.due_on or proposed.item.due_on
        if due_on < proposal.exam_day:
            raise FollowUpRefused(
                sentence(
                    "“%(item)s” cannot fall due before the day of the exam (%(day)s).",
                    item=_item_words(proposed.item),
                    day=day_in_words(proposal.exam_day),
                ),
                f"items-{reviewed.code}",
            )
        items.append(
            PlanItem(
                code=proposed.item.code,
                kind=proposed.item.kind,
                label=proposed.item.label,
                due_on=due_on,
                responsible=reviewed.responsible,
                reason=proposed.item.reason,
            )
        )
    wanted = list(dict.fromkeys(review.referrals))
    for kind in wanted:
        if kind not in SERVICE_KINDS:
            raise FollowUpRefused(
                sentence("“%(kind)s” is not a kind of service we refer to.", kind=kind), "referrals"
            )
        items.append(
            PlanItem(
                code=REFERRAL,
                kind="referral",
                label=f"Referral: {SERVICE_KINDS[kind]}",
                due_on=add_interval(proposal.exam_day, REFERRAL_WITHIN),
                responsible="counselling-team",
                reason=Sentence(REASON_MESSAGES["referral"]),
                service_kind=kind,
            )
        )
    return sorted(items, key=lambda item: (item.due_on, item.label))


# A referral she wants is made within a week of the exam by the counselling team.
REFERRAL_WITHIN = Interval(days=7)


def _display_name(uow: UnitOfWork, actor: Actor) -> str:
    user = uow.session.get(User, actor.user_id)
    return user.display_name if user is not None else actor.username


# -- reading and carrying the plan -------------------------------------------------


def plan_of_exam(uow: UnitOfWork, *, actor: Actor, exam_id: str) -> FollowUpPlan | None:
    """The exam's plan, if it has one the actor may read."""
    if not decide(actor, Action.READ, "CarePlan").permitted:
        return None
    plan = uow.session.scalar(sa.select(FollowUpPlan).where(FollowUpPlan.exam_id == exam_id))
    if plan is None or not _may(uow, actor, Action.READ, plan):
        return None
    return plan


def plans_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[FollowUpPlan]:
    if not decide(actor, Action.READ, "CarePlan").permitted:
        return []
    plans = uow.session.scalars(
        sa.select(FollowUpPlan)
        .where(FollowUpPlan.case_id == case_id)
        .order_by(FollowUpPlan.agreed_at)
    )
    return [plan for plan in plans if _may(uow, actor, Action.READ, plan)]


def _may(uow: UnitOfWork, actor: Actor, action: Action, plan: FollowUpPlan) -> bool:
    decision = decide(actor, action, "CarePlan", plan_facts(plan), consents=consent_book(uow))
    return decision.permitted


def _load_plan(
    uow: UnitOfWork,
    actor: Actor,
    plan_id: str,
    action: Action,
    *,
    lock: bool = False,
    channel: str = "web",
) -> FollowUpPlan:
    require(actor, action, "CarePlan")
    query = sa.select(FollowUpPlan).where(FollowUpPlan.id == plan_id)
    if lock:
        query = query.with_for_update()
    plan = uow.session.scalar(query)
    decision = (
        None
        if plan is None
        else decide(actor, action, "CarePlan", plan_facts(plan), consents=consent_book(uow))
    )
    if plan is None or decision is None or not decision.permitted:
        # Another site's plan or a guessed id: the same answer, never without a trace.
        uow.audit(
            refused_or_missing(
                EventKind.READ if action is Action.READ else EventKind.UPDATE,
                channel,
                actor,
                f"CarePlan/{plan_id}",
                None if decision is None else decision.reasons,
            )
        )
        raise PlanNotFound(sentence("No such follow-up plan."))
    return plan


def find_plan(uow: UnitOfWork, *, actor: Actor, plan_id: str, action: Action) -> FollowUpPlan:
    """The plan, when the actor may do `action` to it; else PlanNotFound. Screens ask
    this before they read any input, so that a refusal of the input never tells of
    a plan the actor may not see."""
    return _load_plan(uow, actor, plan_id, action)


# A plan's items are numbered from 0; no schedule comes near this many.
MAX_POSITION = 1000


def _item_row(uow: UnitOfWork, plan: FollowUpPlan, position: int) -> FollowUpItem:
    if not 0 <= position < MAX_POSITION:
        raise NoSuchItem()
    row = uow.session.get(FollowUpItem, (plan.id, position))
    if row is None:
        raise NoSuchItem()
    return row


def find_item(
    uow: UnitOfWork, *, actor: Actor, plan_id: str, position: int, action: Action
) -> FollowUpItem:
    """An item of a plan the actor may do `action` to: PlanNotFound, then NoSuchItem."""
    return _item_row(uow, _load_plan(uow, actor, plan_id, action), position)


def read_plan(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    zone: str,
    channel: str = "web",
) -> PlanRecord:
    """Her plan with every item, due dates and what is overdue; audited."""
    plan = _load_plan(uow, actor, plan_id, Action.READ)
    store = ResourceStore(uow.session, registry)
    version = store.current("CarePlan", plan.id)
    case = uow.session.get(Case, plan.case_id)
    assert version is not None
    assert case is not None
    _audit(uow, actor, EventKind.READ, version, channel, "follow-up plan opened")
    return PlanRecord(
        plan, case, version, tuple(fhir.items_of(version.content)), local_day(utcnow(), zone)
    )


def set_item_status(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    position: int,
    status: str,
    channel: str = "web",
) -> PlanItem:
    """Mark one item done, not needed or due again: a new version of her plan. A
    plan whose every item is done or not needed is completed. An item is booked
    only by booking its appointment (so it is never marked booked with none)."""
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
    row = _item_row(uow, plan, position)
    if status not in ITEM_STATUS:
        raise FollowUpRefused(sentence("Choose what became of the item."), "status")
    if status == "scheduled" and row.status != "scheduled":
        raise FollowUpRefused(
            sentence("An item is booked by booking an appointment for it, not by hand."), "status"
        )
    return _change_item(uow, registry, actor, plan, position, status, channel)


def _change_item(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    actor: Actor,
    plan: FollowUpPlan,
    position: int,
    status: str,
    channel: str,
) -> PlanItem:
    row = _item_row(uow, plan, position)
    store = ResourceStore(uow.session, registry)
    current = store.current("CarePlan", plan.id)
    assert current is not None
    content = dict(current.content)
    activities = [dict(activity) for activity in content["activity"]]
    detail = dict(activities[position]["detail"])
    detail["status"] = status
    activities[position] = {**activities[position], "detail": detail}
    content["activity"] = activities
    row.status = status
    open_items = uow.session.scalar(
        sa.select(sa.func.count())
        .select_from(FollowUpItem)
        .where(
            FollowUpItem.plan_id == plan.id,
            FollowUpItem.status.in_(sorted(OPEN_ITEM_STATUSES)),
        )
    )
    plan.status = "completed" if not open_items else "active"
    content["status"] = plan.status
    version = store.update(
        "CarePlan",
        plan.id,
        content,
        author_id=actor.user_id,
        expected_version=current.version_id,
    )
    uow.session.flush()
    _audit(
        uow,
        actor,
        EventKind.UPDATE,
        version,
        channel,
        f"follow-up item {row.code}: {status}",
    )
    return fhir.items_of(version.content)[position]


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    version: StoredVersion,
    channel: str,
    what: str,
) -> None:
    action = {EventKind.CREATE: Action.CREATE, EventKind.UPDATE: Action.UPDATE}.get(
        kind, Action.READ
    )
    decision = require(actor, action, "CarePlan", version.facts(), consents=consent_book(uow))
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(*decision.reasons, what),
        )
    )


def change_contact_wishes(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    contact: SafeContactPlan,
    she_asked: bool,
    channel: str = "web",
) -> FollowUpPlan:
    """Change how she may be contacted, at her word: a new version of her plan.

    She may always narrow it (fewer channels, the code word asked where it was
    not): nothing else is needed. Anything that widens it (a channel she had not
    allowed, the code word no longer asked) or changes her safe times (her own
    words, which the system cannot compare) is made only when the counsellor
    records that she asked for it. Every change is audited, saying which it was."""
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
    wanted = _checked_contact(contact)
    before = SafeContactPlan(plan.allowed_channels, plan.safe_times, plan.asks_code_word)
    if wanted == before:
        raise FollowUpRefused(
            sentence("Nothing was changed: her contact wishes are as they were."), "channels"
        )
    widens = (
        bool(set(wanted.channels) - set(before.channels))
        or (before.asks_code_word and not wanted.asks_code_word)
        or wanted.safe_times != before.safe_times
    )
    if widens and not she_asked:
        raise FollowUpRefused(
            sentence(
                "Adding a way to contact her, no longer asking for her code word or changing "
                "her safe times is done only when she asked for it: tick that she asked."
            ),
            "she_asked",
        )
    store = ResourceStore(uow.session, registry)
    current = _current(store, plan)
    version = store.update(
        "CarePlan",
        plan.id,
        fhir.with_contact(current.content, wanted),
        author_id=actor.user_id,
        expected_version=current.version_id,
    )
    plan.may_call = "call" in wanted.channels
    plan.may_text = "text" in wanted.channels
    plan.may_leave_voicemail = "voicemail" in wanted.channels
    plan.may_email = "email" in wanted.channels
    plan.safe_times = wanted.safe_times
    plan.asks_code_word = wanted.asks_code_word
    uow.session.flush()
    _audit(
        uow,
        actor,
        EventKind.UPDATE,
        version,
        channel,
        "contact wishes changed at her request" if widens else "contact wishes narrowed",
    )
    return plan


# -- appointments ----------------------------------------------------------------------

# The shortest and longest appointment the clinic books, in minutes.
APPOINTMENT_MINUTES = (5, 480)


def appointment_facts(appointment: FollowUpAppointment, plan: FollowUpPlan) -> ResourceFacts:
    return ResourceFacts(
        "Appointment",
        appointment.id,
        site_id=appointment.site_id,
        subject=f"Patient/{plan.patient_id}",
    )


def appointments_of_plan(
    uow: UnitOfWork, *, actor: Actor, plan: FollowUpPlan, channel: str = "web"
) -> list[FollowUpAppointment]:
    """The plan's appointments the actor may read, soonest first; audited."""
    if not decide(actor, Action.READ, "Appointment").permitted:
        return []
    rows = uow.session.scalars(
        sa.select(FollowUpAppointment)
        .where(FollowUpAppointment.plan_id == plan.id)
        .order_by(FollowUpAppointment.starts_at)
    )
    consents = consent_book(uow)
    shown = []
    reasons: tuple[str, ...] = ()
    for row in rows:
        decision = decide(
            actor, Action.READ, "Appointment", appointment_facts(row, plan), consents=consents
        )
        if decision.permitted:
            shown.append(row)
            reasons = decision.reasons
    _audit_reads(
        uow,
        actor,
        channel,
        [f"Appointment/{row.id}" for row in shown],
        reasons,
        "appointments",
        f"Appointment?supporting-info=CarePlan/{plan.id}",
    )
    return shown


def _audit_reads(
    uow: UnitOfWork,
    actor: Actor,
    channel: str,
    entities: Sequence[str],
    reasons: tuple[str, ...],
    what: str,
    query: str,
) -> None:
    """A list of records shown on a screen, audited as one search naming each."""
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel=channel,
            actor=actor,
            entities=tuple(entities),
            reasons=(*reasons, f"{what} shown"),
            query=query,
        )
    )


def book_appointment(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    position: int,
    starts_at: datetime,
    minutes: int,
    channel: str = "web",
) -> FollowUpAppointment:
    """Book an appointment for an open item of her plan. A new appointment is never
    in the past; the item becomes booked and, if she was back on the caseload for a
    missed appointment, she leaves it: the next step is set."""
    require(actor, Action.CREATE, "Appointment")
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
    row = _item_row(uow, plan, position)
    if row.status not in OPEN_ITEM_STATUSES:
        raise FollowUpRefused(
            sentence(
                "“%(item)s” is %(status)s: nothing to book.",
                item=_item_words(row),
                status=Word(ITEM_STATUS[row.status], inline=True),
            ),
            "position",
        )
    already = uow.session.scalar(
        sa.select(FollowUpAppointment.starts_at).where(
            FollowUpAppointment.plan_id == plan.id,
            FollowUpAppointment.position == position,
            FollowUpAppointment.status == "booked",
        )
    )
    if already is not None:
        raise FollowUpRefused(
            sentence(
                "“%(item)s” is already booked: record what became of that appointment, "
                "or cancel it, before booking another.",
                item=_item_words(row),
            ),
            "starts_at",
        )
    now = utcnow()
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    if starts_at <= now:
        raise FollowUpRefused(
            sentence("A new appointment cannot be in the past: choose a time from now on."),
            "starts_at",
        )
    if starts_at > now + timedelta(days=2 * 366):
        raise FollowUpRefused(sentence("Book appointments at most two years ahead."), "starts_at")
    shortest, longest = APPOINTMENT_MINUTES
    if not shortest <= minutes <= longest:
        raise FollowUpRefused(
            sentence(
                "An appointment lasts %(shortest)s to %(longest)s minutes.",
                shortest=shortest,
                longest=longest,
            ),
            "minutes",
        )
    facts = ResourceFacts(
        "Appointment", "new", site_id=plan.site_id, subject=f"Patient/{plan.patient_id}"
    )
    if not decide(actor, Action.CREATE, "Appointment", facts, consents=consent_book(uow)).permitted:
        raise PlanNotFound(sentence("No such follow-up plan."))
    store = ResourceStore(uow.session, registry)
    item = fhir.items_of(_current(store, plan).content)[position]
    version = store.create(
        fhir.appointment(
            patient_id=plan.patient_id,
            plan_id=plan.id,
            item=item,
            starts_at=starts_at,
            minutes=minutes,
            booked_at=now,
        ),
        site_id=plan.site_id,
        author_id=actor.user_id,
    )
    booked = FollowUpAppointment(
        id=version.logical_id,
        plan_id=plan.id,
        position=position,
        site_id=plan.site_id,
        starts_at=starts_at,
        minutes=minutes,
        status="booked",
        booked_at=now,
        booked_by=actor.username,
    )
    uow.session.add(booked)
    plan.needs_contact = None
    plan.needs_contact_since = None
    uow.session.flush()
    _audit_appointment(uow, actor, EventKind.CREATE, version, channel, "appointment booked")
    _change_item(uow, registry, actor, plan, position, "scheduled", channel)
    return booked


def record_appointment_outcome(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    appointment_id: str,
    outcome: str,
    channel: str = "web",
) -> FollowUpAppointment:
    """Record what became of a booked appointment: attended (the item is done),
    missed (the item is due again and she is back on the caseload for contact) or
    cancelled (the item is due again). Attended and missed only once its time came."""
    booked, plan = _load_appointment(uow, actor, appointment_id, lock=True)
    if outcome not in APPOINTMENT_OUTCOMES:
        raise FollowUpRefused(sentence("Choose attended, missed or cancelled."), "outcome")
    if booked.status != "booked":
        raise FollowUpRefused(
            sentence(
                "This appointment is already recorded as %(status)s.",
                status=Word(APPOINTMENT_STATUS[booked.status], inline=True),
            ),
            "outcome",
        )
    now = utcnow()
    if outcome in ("fulfilled", "noshow") and booked.starts_at > now:
        raise FollowUpRefused(
            sentence(
                "The appointment has not happened yet: record it as attended or missed once its "
                "time has come, or cancel it."
            ),
            "outcome",
        )
    store = ResourceStore(uow.session, registry)
    current = store.current("Appointment", booked.id)
    assert current is not None
    version = store.update(
        "Appointment",
        booked.id,
        dict(current.content) | {"status": outcome},
        author_id=actor.user_id,
        expected_version=current.version_id,
    )
    booked.status = outcome
    booked.outcome_at = now
    booked.outcome_by = actor.username
    if outcome == "noshow":
        plan.needs_contact = "missed-appointment"
        plan.needs_contact_since = now
    uow.session.flush()
    _audit_appointment(
        uow, actor, EventKind.UPDATE, version, channel, f"appointment {APPOINTMENT_STATUS[outcome]}"
    )
    _change_item(
        uow,
        registry,
        actor,
        plan,
        booked.position,
        "completed" if outcome == "fulfilled" else "not-started",
        channel,
    )
    return booked


def _load_appointment(
    uow: UnitOfWork, actor: Actor, appointment_id: str, *, lock: bool = False
) -> tuple[FollowUpAppointment, FollowUpPlan]:
    require(actor, Action.UPDATE, "Appointment")
    query = sa.select(FollowUpAppointment).where(FollowUpAppointment.id == appointment_id)
    booked = uow.session.scalar(query.with_for_update() if lock else query)
    if booked is None:
        raise PlanNotFound(sentence("No such appointment."))
    try:
        plan = _load_plan(uow, actor, booked.plan_id, Action.UPDATE, lock=lock)
    except PlanNotFound:
        raise PlanNotFound(sentence("No such appointment.")) from None
    if not decide(
        actor,
        Action.UPDATE,
        "Appointment",
        appointment_facts(booked, plan),
        consents=consent_book(uow),
    ).permitted:
        raise PlanNotFound(sentence("No such appointment."))
    return booked, plan


def find_appointment(uow: UnitOfWork, *, actor: Actor, appointment_id: str) -> FollowUpAppointment:
    """An appointment the actor may record the outcome of; else PlanNotFound. Asked
    before the outcome is read, so a bad outcome tells nothing of other sites."""
    return _load_appointment(uow, actor, appointment_id)[0]


def _current(store: ResourceStore, plan: FollowUpPlan) -> StoredVersion:
    version = store.current("CarePlan", plan.id)
    assert version is not None
    return version


def _audit_appointment(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    version: StoredVersion,
    channel: str,
    what: str,
) -> None:
    action = Action.CREATE if kind is EventKind.CREATE else Action.UPDATE
    decision = require(actor, action, "Appointment", version.facts(), consents=consent_book(uow))
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(*decision.reasons, what),
        )
    )


# -- the caseload ----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseloadFilter:
    """What the counsellor narrows the caseload to."""

    only_needing_action: bool = False  # overdue, or back on the caseload for contact
    due_within_days: int | None = None  # next item due within this many days
    kind: str | None = None  # terms.ITEM_KINDS


@dataclass(frozen=True)
class CaseloadEntry:
    plan: FollowUpPlan
    case_reference: str
    next_item: FollowUpItem | None  # the open item due first
    overdue: int  # open items past their due date
    oldest_overdue: date | None
    next_appointment: FollowUpAppointment | None
    last_contact: datetime | None  # the last time anyone of the team saw or reached her
    needs_contact: str | None
    open_kinds: frozenset[str] = frozenset()  # kinds of the items still open

    @property
    def needs_action(self) -> bool:
        return self.overdue > 0 or self.needs_contact is not None


def caseload(
    uow: UnitOfWork,
    *,
    actor: Actor,
    zone: str,
    filters: CaseloadFilter = CaseloadFilter(),
    channel: str = "web",
) -> tuple[date, list[CaseloadEntry]]:
    """The survivors of the counsellor's site with a plan in progress: those who need
    action first (back on the caseload for contact, then the longest overdue), then
    by the next item due. Audited as one search naming every plan shown."""
    require(actor, Action.SEARCH, "CarePlan")
    today = local_day(utcnow(), zone)
    plans = uow.session.scalars(
        sa.select(FollowUpPlan)
        .where(FollowUpPlan.site_id == actor.organization_id, FollowUpPlan.status == "active")
        .order_by(FollowUpPlan.agreed_at)
    ).all()
    consents = consent_book(uow)
    visible = [
        plan
        for plan in plans
        if decide(actor, Action.READ, "CarePlan", plan_facts(plan), consents=consents).permitted
    ]
    entries = [
        entry for entry in _caseload_entries(uow, visible, today) if _matches(entry, filters, today)
    ]
    entries.sort(key=_caseload_order)
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel=channel,
            actor=actor,
            entities=tuple(f"CarePlan/{entry.plan.id}" for entry in entries),
            reasons=(f"role {actor.role} may search CarePlan (own-site)", "caseload"),
            query=_describe(filters),
        )
    )
    return today, entries


def _caseload_entries(
    uow: UnitOfWork, plans: Sequence[FollowUpPlan], today: date
) -> list[CaseloadEntry]:
    """One entry per plan, from four queries whatever the number of plans."""
    ids = [plan.id for plan in plans]
    if not ids:
        return []
    references = dict(
        uow.session.execute(
            sa.select(Case.id, Case.reference).where(Case.id.in_({plan.case_id for plan in plans}))
        ).all()
    )
    open_items: dict[str, list[FollowUpItem]] = {plan_id: [] for plan_id in ids}
    for item in uow.session.scalars(
        sa.select(FollowUpItem)
        .where(
            FollowUpItem.plan_id.in_(ids),
            FollowUpItem.status.in_(sorted(OPEN_ITEM_STATUSES)),
        )
        .order_by(FollowUpItem.due_on, FollowUpItem.position)
    ):
        open_items[item.plan_id].append(item)
    appointments: dict[str, list[FollowUpAppointment]] = {plan_id: [] for plan_id in ids}
    for appointment in uow.session.scalars(
        sa.select(FollowUpAppointment)
        .where(FollowUpAppointment.plan_id.in_(ids))
        .order_by(FollowUpAppointment.starts_at)
    ):
        appointments[appointment.plan_id].append(appointment)
    reached = dict(
        uow.session.execute(
            sa.select(
                FollowUpContactAttempt.plan_id, sa.func.max(FollowUpContactAttempt.attempted_at)
            )
            .where(
                FollowUpContactAttempt.plan_id.in_(ids),
                FollowUpContactAttempt.outcome == "reached",
            )
            .group_by(FollowUpContactAttempt.plan_id)
        ).all()
    )
    entries = []
    for plan in plans:
        items = open_items[plan.id]
        # Booked is not done: an item past its date stays overdue until she attends
        # (a late booking, or a second one, never hides it).
        overdue = [item for item in items if item.due_on < today]
        booked = appointments[plan.id]
        seen = [a.starts_at for a in booked if a.status == "fulfilled"]
        last_reached = reached.get(plan.id)
        if last_reached is not None:
            # SQLite hands back an aggregate of a UTC column without its zone.
            seen.append(last_reached if last_reached.tzinfo else last_reached.replace(tzinfo=UTC))
        entries.append(
            CaseloadEntry(
                plan=plan,
                case_reference=references[plan.case_id],
                next_item=next((item for item in items if item.status != "scheduled"), None)
                or (items[0] if items else None),
                overdue=len(overdue),
                oldest_overdue=overdue[0].due_on if overdue else None,
                next_appointment=next((a for a in booked if a.status == "booked"), None),
                last_contact=max([plan.agreed_at, *seen]),
                needs_contact=plan.needs_contact,
                open_kinds=frozenset(item.kind for item in items),
            )
        )
    return entries


def _matches(entry: CaseloadEntry, filters: CaseloadFilter, today: date) -> bool:
    if filters.only_needing_action and not entry.needs_action:
        return False
    if filters.due_within_days is not None and (
        entry.next_item is None
        or entry.next_item.due_on > today + timedelta(days=filters.due_within_days)
    ):
        return False
    return filters.kind is None or filters.kind in entry.open_kinds


def _caseload_order(entry: CaseloadEntry) -> tuple[int, date, date, str]:
    far = date.max
    return (
        0 if entry.needs_contact else 1 if entry.overdue else 2,
        entry.oldest_overdue or far,
        entry.next_item.due_on if entry.next_item else far,
        entry.case_reference,
    )


def _describe(filters: CaseloadFilter) -> str:
    parts = []
    if filters.only_needing_action:
        parts.append("needs-action=true")
    if filters.due_within_days is not None:
        parts.append(f"due-within={filters.due_within_days}")
    if filters.kind:
        parts.append(f"kind={filters.kind}")
    return "caseload?" + "&".join(parts)


# -- safe contact ----------------------------------------------------------------------


def record_contact_attempt(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    channel: str,
    outcome: str,
    note: str | None = None,
    channel_name: str = "web",
) -> FollowUpContactAttempt:
    """Record an attempt to contact her. Only by a channel she allowed: any other is
    refused and nothing is written. Reaching her takes her off the caseload's
    contact list. Nothing is sent: this records what a counsellor did."""
    require(actor, Action.CREATE, "Communication")
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
    if channel not in CHANNELS:
        raise FollowUpRefused(sentence("Choose how you tried to contact her."), "channel")
    if outcome not in CONTACT_OUTCOMES:
        raise FollowUpRefused(sentence("Choose what came of the attempt."), "outcome")
    allowed = plan.allowed_channels
    if channel not in allowed:
        said = (
            sentence(
                "She allows %(channels)s only.",
                channels=Listing(tuple(Coded(CHANNEL_SYSTEM, c, inline=True) for c in allowed)),
            )
            if allowed
            else sentence("She has not agreed to be contacted at all.")
        )
        raise FollowUpRefused(
            sentence(
                "She has not agreed to be contacted by %(channel)s. %(allowed)s",
                channel=Coded(CHANNEL_SYSTEM, channel, inline=True),
                allowed=said,
            ),
            "channel",
        )
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise FollowUpRefused(
            sentence("Keep the note to %(count)s characters.", count=MAX_NOTE), "note"
        )
    facts = ResourceFacts(
        "Communication", "new", site_id=plan.site_id, subject=f"Patient/{plan.patient_id}"
    )
    if not decide(
        actor, Action.CREATE, "Communication", facts, consents=consent_book(uow)
    ).permitted:
        raise PlanNotFound(sentence("No such follow-up plan."))
    now = utcnow()
    store = ResourceStore(uow.session, registry)
    version = store.create(
        fhir.contact_attempt(
            patient_id=plan.patient_id,
            plan_id=plan.id,
            channel=channel,
            outcome=outcome,
            attempted_at=now,
            attempted_by=_display_name(uow, actor),
            note=note,
        ),
        site_id=plan.site_id,
        author_id=actor.user_id,
    )
    attempt = FollowUpContactAttempt(
        id=version.logical_id,
        plan_id=plan.id,
        channel=channel,
        outcome=outcome,
        attempted_at=now,
        attempted_by=actor.username,
    )
    uow.session.add(attempt)
    if outcome == "reached":
        plan.needs_contact = None
        plan.needs_contact_since = None
    uow.session.flush()
    decision = require(
        actor, Action.CREATE, "Communication", version.facts(), consents=consent_book(uow)
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel=channel_name,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(*decision.reasons, f"contact attempt by {channel}: {outcome}"),
        )
    )
    return attempt


MAX_NOTE = 1000


def contact_attempts_of_plan(
    uow: UnitOfWork, *, actor: Actor, plan: FollowUpPlan, channel: str = "web"
) -> list[FollowUpContactAttempt]:
    """The plan's contact attempts the actor may read, newest first; audited."""
    if not decide(actor, Action.READ, "Communication").permitted:
        return []
    decision = decide(
        actor,
        Action.READ,
        "Communication",
        ResourceFacts(
            "Communication", plan.id, site_id=plan.site_id, subject=f"Patient/{plan.patient_id}"
        ),
        consents=consent_book(uow),
    )
    if not decision.permitted:
        return []
    attempts = list(
        uow.session.scalars(
            sa.select(FollowUpContactAttempt)
            .where(FollowUpContactAttempt.plan_id == plan.id)
            .order_by(FollowUpContactAttempt.attempted_at.desc())
        )
    )
    _audit_reads(
        uow,
        actor,
        channel,
        [f"Communication/{a.id}" for a in attempts],
        decision.reasons,
        "contact attempts",
        f"Communication?based-on=CarePlan/{plan.id}",
    )
    return attempts


# -- counselling notes -----------------------------------------------------------------

MAX_NOTE_TEXT = 20_000


@dataclass(frozen=True)
class CounsellingNote:
    id: str
    version: int
    text: str
    author: str
    written_at: str  # FHIR instant of this version
    updated: datetime


def counselling_notes(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    channel: str = "web",
) -> list[CounsellingNote]:
    """Her counselling notes, newest first: for the counsellors of her care team
    only (therapeutic records). Every note read is audited."""
    require(actor, Action.READ, "DocumentReference")
    plan = _load_plan(uow, actor, plan_id, Action.READ)
    store = ResourceStore(uow.session, registry)
    consents = consent_book(uow)
    notes = []
    read: list[str] = []
    reasons: tuple[str, ...] = ()
    for version in store.of_subject("DocumentReference", f"Patient/{plan.patient_id}"):
        decision = decide(
            actor, Action.READ, "DocumentReference", version.facts(), consents=consents
        )
        if not decision.permitted:
            continue
        reasons = decision.reasons
        read.append(version.versioned_reference)
        notes.append(
            CounsellingNote(
                version.logical_id,
                version.version_id,
                fhir.note_text(version.content),
                version.content["author"][0]["display"],
                version.content["date"],
                version.last_updated,
            )
        )
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel=channel,
            actor=actor,
            entities=tuple(read),
            reasons=(*reasons, "counselling notes opened"),
            query=f"DocumentReference?patient=Patient/{plan.patient_id}",
        )
    )
    return sorted(notes, key=lambda note: note.updated, reverse=True)


def write_counselling_note(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan_id: str,
    text: str,
    note_id: str | None = None,
    expected_version: int | None = None,
    channel: str = "web",
) -> str:
    """Write a new note, or a new version of one (`note_id`, with the version the
    counsellor edited: someone else's later edit is never overwritten)."""
    action = Action.UPDATE if note_id else Action.CREATE
    require(actor, action, "DocumentReference")
    plan = _load_plan(uow, actor, plan_id, Action.READ)
    text = text.strip()
    if not text:
        raise FollowUpRefused(sentence("Write the note."), "text")
    if len(text) > MAX_NOTE_TEXT:
        raise FollowUpRefused(
            sentence("A note is at most %(count)s characters.", count=MAX_NOTE_TEXT), "text"
        )
    store = ResourceStore(uow.session, registry)
    content = fhir.counselling_note(
        patient_id=plan.patient_id,
        text=text,
        written_at=utcnow(),
        author=_display_name(uow, actor),
    )
    consents = consent_book(uow)
    if note_id is None:
        facts = ResourceFacts(
            "DocumentReference",
            "new",
            site_id=plan.site_id,
            subject=f"Patient/{plan.patient_id}",
            data_classes=frozenset({"counselling-notes"}),
        )
        if not decide(
            actor, Action.CREATE, "DocumentReference", facts, consents=consents
        ).permitted:
            raise PlanNotFound(sentence("No such follow-up plan."))
        version = store.create(content, site_id=plan.site_id, author_id=actor.user_id)
        kind = EventKind.CREATE
    else:
        current = store.current("DocumentReference", note_id)
        if (
            current is None
            or current.subject != f"Patient/{plan.patient_id}"
            or not decide(
                actor, Action.UPDATE, "DocumentReference", current.facts(), consents=consents
            ).permitted
        ):
            raise PlanNotFound(sentence("No such note."))
        if expected_version is None:
            raise FollowUpRefused(
                sentence(
                    "The version of the note you edited is missing: open the note again and "
                    "reapply your change."
                ),
                "text",
            )
        if expected_version != current.version_id:
            raise FollowUpRefused(
                sentence(
                    "Someone changed this note since you opened it: open it again and "
                    "reapply your change."
                ),
                "text",
            )
        version = store.update(
            "DocumentReference",
            note_id,
            content,
            author_id=actor.user_id,
            expected_version=current.version_id,
        )
        kind = EventKind.UPDATE
    decision = require(actor, action, "DocumentReference", version.facts(), consents=consents)
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(*decision.reasons, "counselling note written"),
        )
    )
    return version.logical_id
