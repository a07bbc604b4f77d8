"""Safety for intimate-partner cases (the follow-up issue, point 6).

Rules:

* The assessment is offered where the exam's incident names an assailant who is
  her partner or former partner, and may be made on any plan.
* It is a checklist (clinic/followup/safety_checklist.py): every question is
  answered yes, no or not asked; nothing is left blank. The number of yes answers
  marks her at high risk at the site's threshold (site_settings/), or the
  counsellor marks her at high risk on professional judgement, with the reason.
* Her immediate-safety answers at the exam carry over (`carried_over_from_exam`):
  only structured answers the carry-over table names, never anything read from
  free text; the screen shows which answers came from the exam.
* The safety plan is recorded with the assessment, on her follow-up CarePlan.
* A high-risk assessment raises a Flag to the team (shown on the caseload and her
  plan); a later assessment that is not high ends it.
* The decision point decides everything (kinds RiskAssessment,
  QuestionnaireResponse, Flag): counsellors of her site read and write, examiners
  of her site read; police, custodians and experts nothing; never released.
  Every read is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.policy import SAFETY_CARRY_OVER
from clinic.audit.services import AuditRecord, EventKind, refused_or_missing
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam.lists import INCIDENT
from clinic.exam.models import Exam, ExamEntry
from clinic.exam.resources import ASSAULT_ACT, Answer, answers_of, sheet_answers_of
from clinic.exam.services import ExamRecord
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.followup import safety_resources as fhir
from clinic.followup.models import FollowUpPlan
from clinic.followup.referral_models import PartnerService, Referral
from clinic.followup.safety_checklist import (
    ANSWERS,
    CARRY_OVER,
    INJURY_CARRY_OVER,
    KEEP_READY,
    NOT_ASKED,
    PARTNER_CARRY_OVER,
    PARTNER_RELATIONSHIPS,
    QUESTION_SYSTEM,
    QUESTIONS,
    QUESTIONS_BY_CODE,
    SAFETY_SERVICE_KINDS,
    YES,
)
from clinic.followup.safety_models import SafetyAssessment, SafetyFlag
from clinic.followup.safety_resources import SafetyPlan
from clinic.followup.services import PlanNotFound, _display_name, _load_plan
from clinic.followup.site_settings import SiteSettingsLibrary
from clinic.followup.terms import SERVICE_KINDS
from clinic.i18n.sentences import Coded, sentence

MAX_REASON = 1000
MAX_PLAN_TEXT = 2000
MAX_LINES = 20


class SafetyRefused(DomainError):
    """An assessment the rules do not allow; the message says why."""


@dataclass(frozen=True)
class CarriedAnswer:
    answer: str  # yes / no
    said: str  # where it came from, in words


# -- what the exam carries over -----------------------------------------------------

# The exam's slots the carry-over reads (and nothing else of the exam).
_ASSAILANT_SLOTS = tuple(f"assailant:{n}" for n in range(1, 5))
# (The aftercare sheet's neck advice is kept on her plan: clinic/followup/take_home.py.)
CARRY_OVER_SLOTS = frozenset(
    {"mental-state", "incident", "acts"}
    | set(_ASSAILANT_SLOTS)
    | {c.exam_sheet for c in CARRY_OVER}
)


def is_intimate_partner_case(record: ExamRecord) -> bool:
    """An assailant of the exam's incident is her partner or former partner."""
    (assailant,) = [sheet for sheet in INCIDENT.sheets if sheet.key == "assailant"]
    return any(
        record.sheet_answers(assailant, slot).get("relationship") in PARTNER_RELATIONSHIPS
        for slot in assailant.slots()
    )


def _exam_answer(record: ExamRecord, sheet: str, question: str) -> str | None:
    entry = record.entries.get(sheet)
    if entry is None:
        return None
    if sheet == "acts":
        found = answers_of(entry.content, ASSAULT_ACT).get(question)
    else:
        from clinic.exam.lists import STRUCTURED_STEPS

        sheets = [s for step in STRUCTURED_STEPS.values() for s in step.sheets if s.key == sheet]
        found_value = sheet_answers_of(entry.content, sheets[0]).get(question) if sheets else None
        found = found_value if isinstance(found_value, Answer) else None
    if found is Answer.YES:
        return "yes"
    if found is Answer.NO:
        return "no"
    return None


def carry_over(record: ExamRecord) -> dict[str, CarriedAnswer]:
    """Her exam's structured answers that answer checklist questions, with where
    each came from (the carry-over table; never anything read from free text)."""
    carried: dict[str, CarriedAnswer] = {}
    for rule in CARRY_OVER:
        given = _exam_answer(record, rule.exam_sheet, rule.exam_question)
        mapped = dict(rule.answers).get(given) if given else None
        if mapped is not None:
            carried[rule.question] = CarriedAnswer(mapped, rule.said)
    if any(slot.startswith("injury:") for slot in record.entries):
        carried[INJURY_CARRY_OVER[0]] = CarriedAnswer(YES, INJURY_CARRY_OVER[1])
    if is_intimate_partner_case(record):
        carried[PARTNER_CARRY_OVER[0]] = CarriedAnswer(YES, PARTNER_CARRY_OVER[1])
    return carried


def carried_over_from_exam(record: ExamRecord) -> Mapping[str, str]:
    """Her immediate-safety answers at the exam, by safety-assessment question code
    ("yes" or "no"), to pre-fill the assessment: only what the exam recorded as a
    structured answer the carry-over table names; nothing is guessed from free text."""
    return {code: carried.answer for code, carried in carry_over(record).items()}


def exam_for_safety(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    plan: FollowUpPlan,
    channel: str = "web",
) -> ExamRecord | None:
    """Her exam, narrowed to the answers the carry-over reads, each decided by the
    decision point (operation safety-carry-over) and audited as read. Injuries
    count only as "recorded": nothing of them is kept."""
    exam = uow.session.get(Exam, plan.exam_id)
    if exam is None:
        return None
    store = ResourceStore(uow.session, registry)
    consents = consent_book(uow)
    entries: dict[str, StoredVersion] = {}
    read: list[str] = []
    rows = uow.session.scalars(
        sa.select(ExamEntry).where(ExamEntry.exam_id == exam.id).order_by(ExamEntry.position)
    )
    for row in rows:
        wanted = row.slot in CARRY_OVER_SLOTS or row.slot.startswith("injury:")
        if not wanted or row.resource_type != "Observation":
            continue
        version = store.current(row.resource_type, row.resource_id)
        if version is None or version.content.get("status") == "entered-in-error":
            continue
        decision = decide(
            actor,
            Action.READ,
            "Observation",
            version.facts(),
            operation=SAFETY_CARRY_OVER,
            consents=consents,
        )
        if not decision.permitted:
            # Left out (she asks her instead), and the refusal is on record.
            uow.audit(
                refused_or_missing(
                    EventKind.READ,
                    channel,
                    actor,
                    f"Observation/{version.logical_id}",
                    decision.reasons,
                )
            )
            continue
        entries[row.slot] = version
        read.append(version.versioned_reference)
    if read:
        uow.audit(
            AuditRecord(
                kind=EventKind.READ,
                channel=channel,
                actor=actor,
                entities=tuple(read),
                reasons=("her exam's immediate-safety answers, for her safety assessment",),
            )
        )
    encounter = store.current("Encounter", exam.id)
    from clinic.cases.models import Case

    case = uow.session.get(Case, exam.case_id)
    assert encounter is not None
    assert case is not None
    # The Encounter completes the record's shape; nothing of it is shown.
    return ExamRecord(exam, case, encounter, entries)


# -- reading -------------------------------------------------------------------------


def _facts(kind: str, logical_id: str, plan: FollowUpPlan) -> ResourceFacts:
    return ResourceFacts(
        kind, logical_id, site_id=plan.site_id, subject=f"Patient/{plan.patient_id}"
    )


@dataclass(frozen=True)
class AssessmentView:
    row: SafetyAssessment
    answers: dict[str, str]
    from_exam: frozenset[str]


@dataclass(frozen=True)
class SafetyRecord:
    plan: FollowUpPlan
    is_partner_case: bool
    carried: dict[str, CarriedAnswer]
    threshold: int
    latest: AssessmentView | None
    earlier: tuple[SafetyAssessment, ...]
    safety_plan: SafetyPlan | None
    flag: SafetyFlag | None
    referrals: tuple[tuple[str, str], ...]  # her refuge and advocate referrals: (id, words)


def _threshold(uow: UnitOfWork, sites: SiteSettingsLibrary, site_id: str) -> int:
    from clinic.accounts.models import Organization

    site = uow.session.get(Organization, site_id)
    assert site is not None
    return sites.for_site(site.code).high_risk_threshold


def read_safety(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    sites: SiteSettingsLibrary,
    *,
    actor: Actor,
    plan_id: str,
    channel: str = "web",
) -> SafetyRecord:
    """Her safety assessments (the latest with its answers), her safety plan and the
    flag; what the exam carries over. Audited."""
    require(actor, Action.READ, "RiskAssessment")
    plan = _load_plan(uow, actor, plan_id, Action.READ)
    consents = consent_book(uow)
    allowed = decide(
        actor,
        Action.READ,
        "RiskAssessment",
        _facts("RiskAssessment", plan.id, plan),
        consents=consents,
    )
    if not allowed.permitted:
        raise PlanNotFound(sentence("No such follow-up plan."))
    store = ResourceStore(uow.session, registry)
    rows = list(
        uow.session.scalars(
            sa.select(SafetyAssessment)
            .where(SafetyAssessment.plan_id == plan.id)
            .order_by(SafetyAssessment.assessed_at.desc())
        )
    )
    read: list[str] = []
    latest = None
    if rows:
        answers = store.current("QuestionnaireResponse", rows[0].answers_id)
        assessment = store.current("RiskAssessment", rows[0].id)
        assert answers is not None
        assert assessment is not None
        for version in (assessment, answers):
            require(actor, Action.READ, version.resource_type, version.facts(), consents=consents)
            read.append(version.versioned_reference)
        latest = AssessmentView(
            rows[0], fhir.answers_of(answers.content), fhir.from_exam_of(answers.content)
        )
    care_plan = store.current("CarePlan", plan.id)
    assert care_plan is not None
    safety_plan = fhir.safety_plan_of(care_plan.content)
    if safety_plan is not None:
        read.append(care_plan.versioned_reference)
    flag = active_flag(uow, plan)
    if flag is not None:
        read.append(f"Flag/{flag.id}")
    exam = exam_for_safety(uow, registry, actor=actor, plan=plan, channel=channel)
    carried = carry_over(exam) if exam is not None else {}
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=tuple(read) or (f"CarePlan/{plan.id}",),
            reasons=(*allowed.reasons, "safety assessment opened"),
        )
    )
    return SafetyRecord(
        plan=plan,
        is_partner_case=exam is not None and is_intimate_partner_case(exam),
        carried=carried,
        threshold=_threshold(uow, sites, plan.site_id),
        latest=latest,
        earlier=tuple(rows[1:]),
        safety_plan=safety_plan,
        flag=flag,
        referrals=safety_referrals(uow, plan),
    )


def safety_referrals(uow: UnitOfWork, plan: FollowUpPlan) -> tuple[tuple[str, str], ...]:
    """Her referrals to a refuge or an independent advocate (the safety plan lists
    those she has), as (id, words)."""
    found = uow.session.execute(
        sa.select(Referral, PartnerService)
        .join(PartnerService, PartnerService.id == Referral.service_id)
        .where(
            Referral.plan_id == plan.id,
            PartnerService.kind.in_(SAFETY_SERVICE_KINDS),
            Referral.status != "declined",
        )
        .order_by(Referral.made_at)
    ).all()
    return tuple(
        (referral.id, f"{service.name} ({SERVICE_KINDS[service.kind]})")
        for referral, service in found
    )


def active_flag(uow: UnitOfWork, plan: FollowUpPlan) -> SafetyFlag | None:
    return uow.session.scalar(
        sa.select(SafetyFlag).where(SafetyFlag.plan_id == plan.id, SafetyFlag.ended_at.is_(None))
    )


def flag_of_plan(
    uow: UnitOfWork, *, actor: Actor, plan: FollowUpPlan, channel: str = "web"
) -> SafetyFlag | None:
    """Her active high-risk flag, if the actor may see it (audited when shown)."""
    if not decide(actor, Action.READ, "Flag").permitted:
        return None
    flag = active_flag(uow, plan)
    if flag is None:
        return None
    decision = decide(
        actor, Action.READ, "Flag", _facts("Flag", flag.id, plan), consents=consent_book(uow)
    )
    if not decision.permitted:
        return None
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(f"Flag/{flag.id}",),
            reasons=(*decision.reasons, "high-risk flag shown"),
        )
    )
    return flag


def flagged_plans(
    uow: UnitOfWork, *, actor: Actor, plans: Iterable[FollowUpPlan], channel: str = "web"
) -> frozenset[str]:
    """Of these plans, those with an active high-risk flag the actor may see; audited
    as one search naming every flag shown."""
    searching = decide(actor, Action.SEARCH, "Flag")
    if not searching.permitted:
        return frozenset()
    by_id = {plan.id: plan for plan in plans}
    if not by_id:
        return frozenset()
    consents = consent_book(uow)
    shown = {}
    for flag in uow.session.scalars(
        sa.select(SafetyFlag).where(
            SafetyFlag.plan_id.in_(sorted(by_id)), SafetyFlag.ended_at.is_(None)
        )
    ):
        if decide(
            actor,
            Action.READ,
            "Flag",
            _facts("Flag", flag.id, by_id[flag.plan_id]),
            consents=consents,
        ).permitted:
            shown[flag.plan_id] = flag.id
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel=channel,
            actor=actor,
            entities=tuple(f"Flag/{flag_id}" for flag_id in shown.values()),
            reasons=(*searching.reasons, "high-risk flags on the caseload"),
            query="Flag?status=active",
        )
    )
    return frozenset(shown)


# -- recording an assessment ----------------------------------------------------------


def _lines(text: str | None, field: str) -> tuple[str, ...]:
    lines = tuple(line.strip() for line in (text or "").splitlines() if line.strip())
    if len(lines) > MAX_LINES:
        raise SafetyRefused(sentence("Write at most %(count)s lines.", count=MAX_LINES), field)
    if any(len(line) > 200 for line in lines):
        raise SafetyRefused(sentence("Keep each line to 200 characters."), field)
    return lines


def _short(text: str | None, field: str, limit: int = 200) -> str | None:
    value = (text or "").strip() or None
    if value is not None and len(value) > limit:
        raise SafetyRefused(sentence("Keep this to %(count)s characters.", count=limit), field)
    return value


@dataclass(frozen=True)
class SafetyPlanInput:
    """The safety plan as the counsellor wrote it (lines of text, codes)."""

    safe_places: str = ""
    people_to_call: str = ""
    code_word: str = ""
    keep_ready: tuple[str, ...] = ()
    keep_ready_other: str = ""
    referrals: tuple[str, ...] = ()  # referral ids


def record_assessment(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    sites: SiteSettingsLibrary,
    *,
    actor: Actor,
    plan_id: str,
    answers: Mapping[str, str],
    high_on_judgement: bool = False,
    judgement_reason: str | None = None,
    safety_plan: SafetyPlanInput = SafetyPlanInput(),
    channel: str = "web",
) -> SafetyAssessment:
    """Record a safety assessment with her, and the safety plan agreed with it. Every
    question answered (yes, no or not asked); the total against the site's
    threshold, or high risk on professional judgement with the reason. A high risk
    raises the flag (or keeps it raised); a risk not high ends it."""
    require(actor, Action.CREATE, "RiskAssessment")
    plan = _load_plan(uow, actor, plan_id, Action.UPDATE, lock=True)
    consents = consent_book(uow)
    for kind in ("RiskAssessment", "QuestionnaireResponse", "Flag"):
        if not decide(
            actor, Action.CREATE, kind, _facts(kind, "new", plan), consents=consents
        ).permitted:
            raise PlanNotFound(sentence("No such follow-up plan."))
    unknown = [code for code in answers if code not in QUESTIONS_BY_CODE]
    if unknown:
        raise SafetyRefused(
            sentence("“%(code)s” is not a question of the checklist.", code=unknown[0]), "answers"
        )
    for question in QUESTIONS:
        answer = answers.get(question.code)
        if answer not in ANSWERS:
            raise SafetyRefused(
                sentence(
                    "Answer “%(question)s”: yes, no, or not asked.",
                    question=Coded(QUESTION_SYSTEM, question.code, english_text=question.text),
                ),
                f"answer-{question.code}",
            )
    reason = _short(judgement_reason, "judgement_reason", MAX_REASON)
    if high_on_judgement and reason is None:
        raise SafetyRefused(
            sentence("Say why you judge her to be at high risk: the reason is recorded with it."),
            "judgement_reason",
        )
    if reason is not None and not high_on_judgement:
        raise SafetyRefused(
            sentence(
                "A reason is recorded only with “high risk on professional judgement”: tick it, "
                "or clear the reason."
            ),
            "judgement_reason",
        )
    plan_words = _safety_plan(uow, plan, safety_plan)
    threshold = _threshold(uow, sites, plan.site_id)
    yes_count = sum(1 for question in QUESTIONS if answers[question.code] == YES)
    is_high = high_on_judgement or yes_count >= threshold
    exam = exam_for_safety(uow, registry, actor=actor, plan=plan, channel=channel)
    carried = carry_over(exam) if exam is not None else {}
    from_exam = {
        code: plan.exam_id
        for code, carried_answer in carried.items()
        if answers[code] == carried_answer.answer
    }
    now = utcnow()
    author = _display_name(uow, actor)
    store = ResourceStore(uow.session, registry)
    answered = store.create(
        fhir.answers_response(
            patient_id=plan.patient_id,
            answers=dict(answers),
            from_exam=from_exam,
            authored_at=now,
            author=author,
        ),
        site_id=plan.site_id,
        author_id=actor.user_id,
    )
    assessed = store.create(
        fhir.risk_assessment(
            patient_id=plan.patient_id,
            plan_id=plan.id,
            answers_id=answered.logical_id,
            yes_count=yes_count,
            threshold=threshold,
            is_high_risk=is_high,
            judgement_reason=reason if high_on_judgement else None,
            assessed_at=now,
            performer=author,
        ),
        site_id=plan.site_id,
        author_id=actor.user_id,
    )
    row = SafetyAssessment(
        id=assessed.logical_id,
        plan_id=plan.id,
        site_id=plan.site_id,
        answers_id=answered.logical_id,
        yes_count=yes_count,
        threshold=threshold,
        is_high_risk=is_high,
        judgement_reason=reason if high_on_judgement else None,
        assessed_at=now,
        assessed_by=actor.username,
    )
    uow.session.add(row)
    uow.session.flush()
    written = [answered.versioned_reference, assessed.versioned_reference]
    written += _set_flag(uow, store, actor, plan, row, now)
    current = store.current("CarePlan", plan.id)
    assert current is not None
    updated = store.update(
        "CarePlan",
        plan.id,
        fhir.with_safety_plan(current.content, plan_words, assessed.logical_id),
        author_id=actor.user_id,
        expected_version=current.version_id,
    )
    written.append(updated.versioned_reference)
    decision = require(actor, Action.CREATE, "RiskAssessment", assessed.facts(), consents=consents)
    require(actor, Action.CREATE, "QuestionnaireResponse", answered.facts(), consents=consents)
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel=channel,
            actor=actor,
            entities=tuple(written),
            reasons=(
                *decision.reasons,
                f"safety assessment: {yes_count} yes, "
                + ("high risk" if is_high else "not high risk")
                + (" on professional judgement" if high_on_judgement else ""),
            ),
        )
    )
    return row


def _safety_plan(uow: UnitOfWork, plan: FollowUpPlan, given: SafetyPlanInput) -> SafetyPlan:
    unknown = [code for code in given.keep_ready if code not in KEEP_READY]
    if unknown:
        raise SafetyRefused(
            sentence("“%(code)s” is not something on the list to keep ready.", code=unknown[0]),
            "keep_ready",
        )
    hers = dict(safety_referrals(uow, plan))
    strangers = [referral for referral in given.referrals if referral not in hers]
    if strangers:
        raise SafetyRefused(
            sentence("Choose only her own referrals to a refuge or an independent advocate."),
            "referrals",
        )
    return SafetyPlan(
        safe_places=_lines(given.safe_places, "safe_places"),
        people_to_call=_lines(given.people_to_call, "people_to_call"),
        code_word=_short(given.code_word, "code_word", 100),
        keep_ready=tuple(code for code in KEEP_READY if code in given.keep_ready),
        keep_ready_other=_short(given.keep_ready_other, "keep_ready_other"),
        referrals=tuple((referral, hers[referral]) for referral in dict.fromkeys(given.referrals)),
    )


def _set_flag(
    uow: UnitOfWork,
    store: ResourceStore,
    actor: Actor,
    plan: FollowUpPlan,
    row: SafetyAssessment,
    now: datetime,
) -> list[str]:
    flag = active_flag(uow, plan)
    if row.is_high_risk and flag is None:
        version = store.create(
            fhir.safety_flag(patient_id=plan.patient_id, assessment_id=row.id, raised_at=now),
            site_id=plan.site_id,
            author_id=actor.user_id,
        )
        uow.session.add(
            SafetyFlag(
                id=version.logical_id,
                plan_id=plan.id,
                site_id=plan.site_id,
                raised_by_assessment=row.id,
                raised_at=now,
            )
        )
        uow.session.flush()
        return [version.versioned_reference]
    if not row.is_high_risk and flag is not None:
        require(
            actor, Action.UPDATE, "Flag", _facts("Flag", flag.id, plan), consents=consent_book(uow)
        )
        current = store.current("Flag", flag.id)
        assert current is not None
        version = store.update(
            "Flag",
            flag.id,
            fhir.safety_flag(
                patient_id=plan.patient_id,
                assessment_id=row.id,
                raised_at=flag.raised_at,
                ended_at=now,
            ),
            author_id=actor.user_id,
            expected_version=current.version_id,
        )
        flag.ended_at = now
        uow.session.flush()
        return [version.versioned_reference]
    return []


def not_asked_everywhere() -> dict[str, str]:
    return {question.code: NOT_ASKED for question in QUESTIONS}
