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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.accounts.models import Organization, User
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case
from clinic.consent.book import consent_book
from clinic.consent.words import MONTHS
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam.models import Exam
from clinic.exam.resources import TREATMENTS
from clinic.exam.services import ExamNotFound, ExamRecord, read_exam
from clinic.exam.timing import TimingKind
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.followup import resources as fhir
from clinic.followup.models import FollowUpItem, FollowUpPlan
from clinic.followup.resources import REFERRAL, PlanItem
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
from clinic.followup.terms import (
    ITEM_STATUS,
    OPEN_ITEM_STATUSES,
    REASON_WORDS,
    RESPONSIBLE,
    SERVICE_KINDS,
)


class FollowUpRefused(DomainError):
    """A plan or change the rules do not allow; the message says why."""


class PlanNotFound(FollowUpRefused):
    """No such plan or exam, or one the caller may not see: the same answer."""


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
        raise PlanNotFound("No such exam.") from missing
    if not record.is_signed:
        raise FollowUpRefused(
            "The follow-up plan is proposed from the signed exam: sign the exam off first.",
            "exam",
        )
    site = uow.session.get(Organization, record.exam.site_id)
    assert site is not None
    schedule = schedules.for_site(site.code)
    given = _given_treatments(record)
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
                    due_on=due_date(anchor, rule.after, zone),
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
        local_day(record.exam_time, zone),
        tuple(sorted(items, key=lambda p: (p.item.due_on, p.item.label))),
        schedule.name,
    )


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
    if rule.anchor is Anchor.TREATMENT:
        moment = given[rule.when]
        return moment, REASON_WORDS["treatment"].format(
            treatment=TREATMENTS[rule.when], day=day_in_words(local_day(moment, zone))
        )
    if rule.anchor is Anchor.EXPOSURE:
        moment = exposure_time(record)
        return moment, REASON_WORDS["exposure"].format(day=day_in_words(local_day(moment, zone)))
    return record.exam_time, REASON_WORDS["exam"].format(
        day=day_in_words(local_day(record.exam_time, zone))
    )


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
    if uow.session.scalar(sa.select(FollowUpPlan.id).where(FollowUpPlan.exam_id == exam.id)):
        raise FollowUpRefused("This exam already has a follow-up plan.", "agreed_with_her")
    if not review.agreed_with_her:
        raise FollowUpRefused(
            "Go through the plan with her and tick that she agrees to it; a plan she has "
            "not agreed to is not made.",
            "agreed_with_her",
        )
    items = _reviewed_items(proposal, review)
    if not items:
        raise FollowUpRefused("Keep at least one item, or add a referral she wants.", "items")
    facts = ResourceFacts(
        "CarePlan", "new", site_id=exam.site_id, subject=f"Patient/{exam.patient_id}"
    )
    if not decide(actor, Action.CREATE, "CarePlan", facts, consents=consent_book(uow)).permitted:
        raise PlanNotFound("No such exam.")
    now = utcnow()
    store = ResourceStore(uow.session, registry)
    version = store.create(
        fhir.care_plan(
            patient_id=exam.patient_id,
            exam_id=exam.id,
            starts_on=proposal.exam_day,
            created_at=now,
            reviewed_by=_display_name(uow, actor),
            items=items,
        ),
        site_id=exam.site_id,
        author_id=actor.user_id,
    )
    plan = FollowUpPlan(
        id=version.logical_id,
        case_id=exam.case_id,
        exam_id=exam.id,
        site_id=exam.site_id,
        patient_id=exam.patient_id,
        status="active",
        agreed_at=now,
        agreed_by=actor.username,
    )
    uow.session.add(plan)
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


def _reviewed_items(proposal: Proposal, review: PlanReview) -> list[PlanItem]:
    items: list[PlanItem] = []
    seen: set[str] = set()
    for reviewed in review.items:
        proposed = proposal.item(reviewed.code)
        if proposed is None:
            raise FollowUpRefused(
                f"“{reviewed.code}” is not an item the schedule proposes for this exam.", "items"
            )
        if reviewed.code in seen:
            raise FollowUpRefused(f"“{proposed.item.label}” is listed twice.", "items")
        seen.add(reviewed.code)
        if not reviewed.keep:
            continue
        if reviewed.responsible not in RESPONSIBLE:
            raise FollowUpRefused(
                f"Choose who carries “{proposed.item.label}”.", f"items-{reviewed.code}"
            )
        due_on = reviewed.due_on or proposed.item.due_on
        if due_on < proposal.exam_day:
            raise FollowUpRefused(
                f"“{proposed.item.label}” cannot fall due before the day of the exam "
                f"({day_in_words(proposal.exam_day)}).",
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
            raise FollowUpRefused(f"“{kind}” is not a kind of service we refer to.", "referrals")
        items.append(
            PlanItem(
                code=REFERRAL,
                kind="referral",
                label=f"Referral: {SERVICE_KINDS[kind]}",
                due_on=add_interval(proposal.exam_day, REFERRAL_WITHIN),
                responsible="counselling-team",
                reason=REASON_WORDS["referral"],
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
    uow: UnitOfWork, actor: Actor, plan_id: str, action: Action, *, lock: bool = False
) -> FollowUpPlan:
    require(actor, action, "CarePlan")
    query = sa.select(FollowUpPlan).where(FollowUpPlan.id == plan_id)
    if lock:
        query = query.with_for_update()
    plan = uow.session.scalar(query)
    if plan is None or not _may(uow, actor, action, plan):
        raise PlanNotFound("No such follow-up plan.")
    return plan


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
    plan whose every item is done or not needed is completed."""
    if status not in ITEM_STATUS:
        raise FollowUpRefused("Choose what became of the item.", "status")
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
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
    row = uow.session.get(FollowUpItem, (plan.id, position))
    if row is None:
        raise FollowUpRefused("The plan has no such item.", "position")
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
