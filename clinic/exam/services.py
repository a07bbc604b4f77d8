"""The medical-forensic exam: steps saved as they are filled, sign-off, amendments.

Rules (the exam issue; docs/design.md promises 5 and 9):

* An exam belongs to a case and is recorded by examiners of the case's site; the
  policy decision point decides every read and write (kind `Encounter`), and a
  refusal looks exactly like an exam that does not exist.
* Each step is saved as soon as it is submitted: an interrupted exam loses
  nothing and is resumed from the case. Saving a step that did not change writes
  nothing.
* Time-window guidance is computed from the timing; each window is confirmed or
  overridden (with a reason) by the examiner, never applied silently. An exam is
  signed off only when every window has a decision made on the current timing.
* Her consent governs the exam: sign-off needs her examination and treatment
  Consent in force, or the examiner's record of why she could not consent, which
  flags the case until a second examiner reviews it. Findings of a part she
  declined (anogenital, speculum) are never recorded, in a step or an amendment.
* A signed exam is read-only. A correction is an amendment: the resource gets a
  new version (the earlier one stays readable in its history), the amendment
  records what, why, who and when, and the signed report (Composition) gets a
  new version with status `amended`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.consent import ConsentRequest, Recipient, denies
from clinic.access.policy import decide_care
from clinic.accounts.models import User
from clinic.audit.services import AuditRecord, EventKind
from clinic.bodymap.diagrams import diagram_book
from clinic.bodymap.figures import MapFigure, map_figures
from clinic.bodymap.marks import MarkRefused, MarkRequest, drawing_of, place_mark
from clinic.cases.models import Case
from clinic.cases.services import CaseNotFound, _load_case
from clinic.consent.book import consent_book
from clinic.core.clock import isoformat, utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam import resources as fhir
from clinic.exam.baseline import (
    DERIVED,
    Recorder,
    derived_resource,
    entered_in_error,
    is_entered_in_error,
    recorder_of,
)
from clinic.exam.lists import (
    ANOGENITAL_FINDINGS,
    ANOGENITAL_SITES,
    ANOGENITAL_SITES_BY_CODE,
    ASKED_TWICE,
    BASELINE,
    EXAM_METHODS,
    INCIDENT,
    LAB_RESULTS,
    LAB_TEST_SAMPLES,
    LAB_TESTS,
    NO_FINDING,
    SPECULUM_METHOD,
    STRUCTURED_STEPS,
    Kind,
    Question,
    Sheet,
    StepSheets,
    answer_field,
    terms,
)
from clinic.exam.models import Exam, ExamAmendment, ExamEntry, ExamStatus
from clinic.exam.resources import (
    ACTIVITIES,
    ACTS,
    ANSWER_DISPLAY,
    ASSAULT_ACT,
    BLOOD_PRESSURE,
    BODY_REGIONS,
    CONSENT_ABSENT_REASONS,
    INJURY_TYPES,
    PENETRATION_ACTS,
    POST_ASSAULT_ACTIVITY,
    TREATMENTS,
    VITAL_SIGNS,
    WINDOW_STATUS_DISPLAY,
    Answer,
    AnswerValue,
    ConsentAbsent,
    ConsentReview,
    ExamContext,
    GuidanceDecision,
    Injury,
    LabResult,
    ReportSection,
    Signer,
    SiteFinding,
    Treatment,
)
from clinic.exam.timing import (
    WINDOWS,
    WINDOWS_BY_CODE,
    AssaultTiming,
    Elapsed,
    TimeWindow,
    TimingKind,
    WindowStatus,
    advice,
    elapsed,
    guidance_status,
    in_words,
)
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n import N_
from clinic.i18n.sentences import (
    Coded,
    Day,
    Listing,
    Measure,
    Moment,
    Sentence,
    Word,
    sentence,
)

# How far ahead of the clock a time may be entered (clocks on tablets drift).
CLOCK_TOLERANCE = timedelta(minutes=10)


class ExamRefused(DomainError):
    """A step or change the rules do not allow; the message says why."""


class ExamNotFound(ExamRefused):
    """No such exam, or one the caller may not see: the same answer for both."""


# Her examination and treatment consent (consent_forms/exam-treatment): the parts
# whose findings are refused when she declined them, and what the refusal says.
EXAM_CONSENT_FORM = "exam-treatment"
ANOGENITAL_EXAM = "anogenital-exam"
SPECULUM_EXAM = "speculum-exam"
DECLINED_MESSAGES = {
    ANOGENITAL_EXAM: sentence(
        "She declined the anogenital examination in her examination and treatment "
        "consent. If she changes her mind, record her new consent first (Her consent > "
        "Examination and treatment)."
    ),
    SPECULUM_EXAM: sentence(
        "She declined the internal examination with a speculum in her examination and "
        "treatment consent. If she changes her mind, record her new consent first (Her "
        "consent > Examination and treatment)."
    ),
}
# The sample a test needs, as a word within a sentence.
SAMPLE_WORDS = {"blood": N_("blood"), "urine": N_("urine")}


def _sample_declined(code: str, *, since_requested: bool = False) -> Sentence:
    """Why test `code` cannot be requested (or, `since_requested`, why its result
    cannot be added): she declined the sample it needs."""
    words = {
        "test": Coded("lab-test", code, english_text=LAB_TESTS[code]),
        "sample": _sample_word(code),
    }
    if since_requested:
        return sentence(
            "%(test)s: she has declined a %(sample)s sample in her evidence-collection "
            "consent since the test was requested, so its result cannot be added to her "
            "record. If she changes her mind, record her new consent first (Her consent > "
            "Evidence collection and storage).",
            **words,
        )
    return sentence(
        "%(test)s: she declined a %(sample)s sample in her evidence-collection consent, so "
        "it cannot be requested. If she changes her mind, record her new consent first (Her "
        "consent > Evidence collection and storage).",
        **words,
    )


def _sample_word(code: str) -> Word:
    sample = LAB_TEST_SAMPLES[code]
    return Word(SAMPLE_WORDS.get(sample, sample))


NO_CONSENT_MESSAGE = sentence(
    "Her consent to examination and treatment is not recorded. Record it first (Her "
    "consent > Examination and treatment) or, if she cannot consent, record why on the "
    "exam's “Her consent” step."
)


@dataclass(frozen=True)
class ExamConsent:
    """What her Consents say about this exam, read through the decision point."""

    in_force: bool  # an examination and treatment Consent is active now
    declined: frozenset[str]  # exam parts she declined (ANOGENITAL_EXAM, SPECULUM_EXAM)


def exam_consent(uow: UnitOfWork, actor: Actor, exam: Exam) -> ExamConsent:
    subject = f"Patient/{exam.patient_id}"
    consents = consent_book(uow)
    answers = {
        part: decide_care(
            actor,
            subject,
            form=EXAM_CONSENT_FORM,
            action="examine",
            part=part,
            consents=consents,
        )
        for part in (ANOGENITAL_EXAM, SPECULUM_EXAM)
    }
    return ExamConsent(
        in_force=any(answer.in_force for answer in answers.values()),
        declined=frozenset(part for part, answer in answers.items() if answer.declined),
    )


def declined_samples(uow: UnitOfWork, actor: Actor, exam: Exam) -> frozenset[str]:
    """The samples (evidence types: blood, urine) her evidence-collection consent
    declines to the examiners of her case."""
    directives = consent_book(uow).directives(f"Patient/{exam.patient_id}")
    return frozenset(
        sample
        for sample in set(LAB_TEST_SAMPLES.values())
        if denies(
            directives,
            ConsentRequest(
                recipients=frozenset(
                    {Recipient("case-examiner", f"Organization/{actor.organization_id}")}
                ),
                action="collect",
                purpose="TREAT",
                classes=frozenset({f"evidence-{sample}"}),
                labels=frozenset(),
                at=utcnow(),
            ),
        )
        is not None
    )


def exam_facts(exam: Exam) -> ResourceFacts:
    return ResourceFacts(
        "Encounter",
        exam.id,
        site_id=exam.site_id,
        subject=f"Patient/{exam.patient_id}",
        data_classes=frozenset({"exam-report"}),
    )


# -- what the steps record --------------------------------------------------------


@dataclass(frozen=True)
class History:
    narrative: str  # her own words
    demeanour: str
    acts: Mapping[str, Answer]  # every code of ACTS
    means: Mapping[str, frozenset[str]]  # penetration act -> by what
    activities: Mapping[str, Answer]  # every code of ACTIVITIES


@dataclass(frozen=True)
class Vitals:
    heart_rate: Decimal | None = None
    respiratory_rate: Decimal | None = None
    temperature: Decimal | None = None
    oxygen_saturation: Decimal | None = None
    systolic: Decimal | None = None
    diastolic: Decimal | None = None


@dataclass(frozen=True)
class GeneralExam:
    findings: str
    vitals: Vitals


# -- the record as read ---------------------------------------------------------


def _site_declined(site: tuple[str, SiteFinding], declined: frozenset[str]) -> bool:
    """Findings of a site that a part she declined covers."""
    code, finding = site
    if ANOGENITAL_EXAM in declined:
        return True
    return SPECULUM_EXAM in declined and (
        ANOGENITAL_SITES_BY_CODE[code].needs_speculum or SPECULUM_METHOD in finding.methods
    )


def _answered_no(acts: StoredVersion | None) -> frozenset[str]:
    """The acts the history answers "no" (the guidance reads them)."""
    answers = fhir.answers_of(acts.content if acts else None, ASSAULT_ACT)
    return frozenset(code for code, answer in answers.items() if answer is Answer.NO)


@dataclass(frozen=True)
class WindowGuidance:
    window: TimeWindow
    status: WindowStatus
    advice: str
    decision: GuidanceDecision | None

    @property
    def is_current(self) -> bool:
        """Decided, on guidance that still says the same."""
        return self.decision is not None and self.decision.status is self.status


@dataclass
class ExamRecord:
    exam: Exam
    case: Case
    encounter: StoredVersion
    entries: dict[str, StoredVersion]  # slot -> current version (retired ones left out)
    amendments: list[ExamAmendment] = field(default_factory=list)
    # Injuries retracted (e.g. recorded twice): slot -> (the injury as last recorded,
    # the retraction). Kept out of `entries`, shown as retracted in the report.
    retracted: dict[str, tuple[StoredVersion, StoredVersion]] = field(default_factory=dict)
    consent: ExamConsent | None = None  # read by read_exam and sign_off
    signer: Signer | None = None  # from the signed report

    @property
    def consent_absent(self) -> ConsentAbsent | None:
        entry = self.entries.get("consent-absent")
        return fhir.consent_absent_of(entry.content if entry else None)

    @property
    def consent_review(self) -> ConsentReview | None:
        entry = self.entries.get("consent-review")
        return fhir.consent_review_of(entry.content if entry else None)

    @property
    def awaits_review(self) -> bool:
        """Done without her consent and not yet reviewed: the case is flagged."""
        return self.consent_absent is not None and self.consent_review is None

    def declined(self, part: str) -> bool:
        return self.consent is not None and part in self.consent.declined

    @property
    def is_signed(self) -> bool:
        return self.exam.status == ExamStatus.SIGNED

    @property
    def exam_time(self) -> datetime:
        return fhir.parse_instant(self.encounter.content["period"]["start"])

    @property
    def timing(self) -> AssaultTiming | None:
        entry = self.entries.get("timing")
        return fhir.timing_of(entry.content if entry else None)

    @property
    def elapsed(self) -> Elapsed | None:
        timing = self.timing
        return elapsed(timing, self.exam_time) if timing else None

    @property
    def guidance(self) -> list[WindowGuidance]:
        timing = self.timing
        if timing is None:
            return []
        answered_no = _answered_no(self.entries.get("acts"))
        declined = self.consent.declined if self.consent else frozenset()
        result = []
        for window in WINDOWS:
            status = guidance_status(
                window, timing, self.exam_time, answered_no=answered_no, declined=declined
            )
            entry = self.entries.get(f"guidance:{window.code}")
            decision = fhir.guidance_decision_of(entry.content) if entry else None
            result.append(WindowGuidance(window, status, advice(window, status), decision))
        return result

    def text(self, slot: str) -> str:
        entry = self.entries.get(slot)
        return str(entry.content.get("valueString", "")) if entry else ""

    def answers(self, slot: str, system: str) -> dict[str, Answer]:
        entry = self.entries.get(slot)
        return fhir.answers_of(entry.content if entry else None, system)

    @property
    def means(self) -> dict[str, frozenset[str]]:
        entry = self.entries.get("acts")
        return fhir.means_of(entry.content if entry else None)

    def vital(self, slot: str) -> dict[str, Any] | None:
        entry = self.entries.get(slot)
        return entry.content if entry else None

    @property
    def injuries(self) -> list[tuple[str, Injury, StoredVersion]]:
        return [
            (slot, fhir.injury_of(version.content), version)
            for slot, version in self.entries.items()
            if slot.startswith("injury:")
        ]

    def sheet_answers(self, sheet: Sheet, slot: str | None = None) -> dict[str, AnswerValue]:
        """The answers recorded on a sheet (on one of its rows, for a repeated one)."""
        entry = self.entries.get(slot or sheet.key)
        return fhir.sheet_answers_of(entry.content if entry else None, sheet)

    def step_recorded(self, step: StepSheets) -> bool:
        return any(slot in self.entries for sheet in step.sheets for slot in sheet.slots())

    @property
    def lab_requests(self) -> dict[str, str]:
        """Test code -> where the sample goes, in the order of the tests list."""
        found = {
            slot.removeprefix("lab:"): fhir.lab_destination_of(version.content)
            for slot, version in self.entries.items()
            if slot.startswith("lab:")
        }
        return {code: found[code] for code in LAB_TESTS if code in found}

    @property
    def lab_results(self) -> dict[str, list[LabResult]]:
        """Test code -> results added, oldest first."""
        found: dict[str, list[LabResult]] = {}
        for slot, version in self.entries.items():
            if slot.startswith("lab-result:"):
                result = fhir.lab_result_of(version.content)
                found.setdefault(result.test, []).append(result)
        return found

    @property
    def anogenital_sites(self) -> dict[str, SiteFinding]:
        """Site code -> findings, in the order of the sites list."""
        found = dict(
            fhir.site_finding_of(version.content)
            for slot, version in self.entries.items()
            if slot.startswith("anogenital-site:")
        )
        return {site.code: found[site.code] for site in ANOGENITAL_SITES if site.code in found}

    @property
    def anogenital_injuries(self) -> list[str]:
        """Slots of injuries in an anogenital region or marked on an anogenital diagram."""
        book = diagram_book()
        return [
            slot
            for slot, injury, _ in self.injuries
            if injury.region in book.anogenital_regions
            or (injury.mark is not None and injury.mark.diagram in book.anogenital)
        ]

    @property
    def treatments(self) -> list[tuple[str, Treatment, StoredVersion]]:
        return [
            (slot, fhir.treatment_of(version.content), version)
            for slot, version in self.entries.items()
            if slot.startswith("treatment:")
        ]

    def _asked_twice_contradictions(self, acts: Mapping[str, Answer]) -> list[Sentence]:
        """What the history and the incident step both ask (restraint, drugs or
        alcohol) and answer yes on one, no on the other: a signed report must not
        contradict itself, so the examiner corrects the one that is wrong. "Not
        known" on either side contradicts nothing."""
        incident = fhir.sheet_answers_of(
            self.entries["incident"].content if "incident" in self.entries else None,
            INCIDENT.sheets[0],
        )
        questions = {q.code: q for q in INCIDENT.sheets[0].questions}
        found: list[Sentence] = []
        for question, act in ASKED_TWICE.items():
            said = (acts.get(act), incident.get(question))
            if said not in ((Answer.YES, Answer.NO), (Answer.NO, Answer.YES)):
                continue
            values = {
                "act": Coded("assault-act", act, english_text=ACTS[act]),
                "question": Coded(
                    "exam-question", question, english_text=questions[question].label
                ),
            }
            if said[0] is Answer.YES:
                found.append(
                    sentence(
                        "The history says yes to “%(act)s” but the incident step says no to "
                        "“%(question)s”: correct the one that is wrong (ask her again if "
                        "needed).",
                        **values,
                    )
                )
            else:
                found.append(
                    sentence(
                        "The history says no to “%(act)s” but the incident step says yes to "
                        "“%(question)s”: correct the one that is wrong (ask her again if "
                        "needed).",
                        **values,
                    )
                )
        return found

    def missing_for_sign_off(self) -> list[Sentence]:
        """What stands between the exam and its sign-off, each said to the examiner
        in her language (the `said` filter)."""
        missing: list[Sentence] = []
        if self.consent is not None and not self.consent.in_force and self.consent_absent is None:
            missing.append(NO_CONSENT_MESSAGE)
        declined = self.consent.declined if self.consent else frozenset()
        for part, slot, recorded in (
            (
                ANOGENITAL_EXAM,
                "anogenital",
                sentence(
                    "Anogenital findings are recorded but she has since declined this part: "
                    "remove them on the Anogenital findings step."
                ),
            ),
            (
                SPECULUM_EXAM,
                "speculum",
                sentence(
                    "Speculum findings are recorded but she has since declined this part: "
                    "remove them on the Anogenital findings step."
                ),
            ),
        ):
            if self.declined(part) and (
                slot in self.entries
                or any(_site_declined(s, declined) for s in self.anogenital_sites.items())
            ):
                missing.append(recorded)
        if self.declined(ANOGENITAL_EXAM) and self.anogenital_injuries:
            missing.append(
                sentence(
                    "Injuries in the anogenital area are recorded but she has since declined "
                    "this part: remove them on the Anogenital findings step."
                )
            )
        # The reverse of record_structured_step's refusal: the history was changed
        # to "no" after the step was filled, and the report would contradict itself.
        acts = fhir.answers_of(
            self.entries["acts"].content if "acts" in self.entries else None, ASSAULT_ACT
        )
        for step in STRUCTURED_STEPS.values():
            if (
                step.needs_act
                and acts.get(step.needs_act) is Answer.NO
                and any(slot in self.entries for sheet in step.sheets for slot in sheet.slots())
            ):
                missing.append(
                    sentence(
                        "The history says no to “%(act)s” but the %(step)s step holds answers: "
                        "correct the history if she reports it, or clear the %(step)s step.",
                        act=Coded("assault-act", step.needs_act, english_text=ACTS[step.needs_act]),
                        step=Word(step.title),
                    )
                )
        missing.extend(self._asked_twice_contradictions(acts))
        if self.timing is None:
            missing.append(sentence("Record the time of the assault (or that it is not known)."))
        if "history" not in self.entries:
            missing.append(sentence("Record the history."))
        for item in self.guidance:
            window = Coded("time-window", item.window.code, english_text=item.window.label)
            if item.decision is None:
                missing.append(
                    sentence("Confirm or override the guidance on %(window)s.", window=window)
                )
            elif not item.is_current:
                missing.append(
                    sentence(
                        "The guidance changed (timing, history or her consent): confirm or "
                        "override the guidance on %(window)s again.",
                        window=window,
                    )
                )
        return missing


# -- starting and finding exams ---------------------------------------------------------


def start_exam(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    channel: str = "web",
) -> Exam:
    """Open an exam for a case (or return the exam already in progress)."""
    require(actor, Action.CREATE, "Encounter")
    try:
        case = _load_case(uow, actor, case_id, Action.READ, lock=True)
    except CaseNotFound as missing:
        raise ExamNotFound(N_("No such case.")) from missing
    facts = ResourceFacts("Encounter", "new", site_id=case.site_id)
    if not decide(actor, Action.CREATE, "Encounter", facts).permitted:
        raise ExamNotFound(N_("No such case."))
    open_exam = uow.session.scalar(
        sa.select(Exam).where(Exam.case_id == case.id, Exam.status == ExamStatus.IN_PROGRESS)
    )
    if open_exam is not None:
        return open_exam
    now = utcnow()
    store = ResourceStore(uow.session, registry)
    version = store.create(
        fhir.encounter(
            patient_id=case.patient_id, case_id=case.id, site_id=case.site_id, start=now
        ),
        site_id=case.site_id,
        author_id=actor.user_id,
    )
    exam = Exam(
        id=version.logical_id,
        case_id=case.id,
        site_id=case.site_id,
        patient_id=case.patient_id,
        status=ExamStatus.IN_PROGRESS.value,
        started_at=now,
        started_by=actor.username,
    )
    uow.session.add(exam)
    uow.session.flush()
    _audit_write(uow, actor, version, channel, "exam started")
    return exam


def exams_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[Exam]:
    """The case's exams the actor may read, oldest first (none for other roles)."""
    if not decide(actor, Action.READ, "Encounter").permitted:
        return []
    exams = uow.session.scalars(
        sa.select(Exam).where(Exam.case_id == case_id).order_by(Exam.started_at)
    )
    return [exam for exam in exams if _care_team_may(uow, actor, Action.READ, exam)]


def _care_team_may(uow: UnitOfWork, actor: Actor, action: Action, exam: Exam) -> bool:
    """The exam screens show everything, her account included: only those whose
    access carries no obligation (the care team, by the baseline) may use them.
    Anyone her consent lets read the report reads it through the FHIR API, where
    each record is decided on its own and obligations are applied."""
    decision = decide(actor, action, "Encounter", exam_facts(exam), consents=consent_book(uow))
    return decision.permitted and not decision.obligations


def _load_exam(
    uow: UnitOfWork, actor: Actor, exam_id: str, action: Action, *, lock: bool = False
) -> Exam:
    require(actor, action, "Encounter")
    query = sa.select(Exam).where(Exam.id == exam_id)
    if lock:
        query = query.with_for_update()
    exam = uow.session.scalar(query)
    if exam is None or not _care_team_may(uow, actor, action, exam):
        raise ExamNotFound(N_("No such exam."))
    return exam


def _assemble(uow: UnitOfWork, store: ResourceStore, exam: Exam) -> ExamRecord:
    case = uow.session.get(Case, exam.case_id)
    encounter = store.current("Encounter", exam.id)
    assert case is not None
    assert encounter is not None
    entries: dict[str, StoredVersion] = {}
    rows = uow.session.scalars(
        sa.select(ExamEntry).where(ExamEntry.exam_id == exam.id).order_by(ExamEntry.position)
    )
    withdrawn: dict[str, StoredVersion] = {}
    for row in rows:
        version = store.current(row.resource_type, row.resource_id)
        assert version is not None
        if not is_entered_in_error(version.content):
            entries[row.slot] = version
        elif row.slot.startswith("injury:"):
            withdrawn[row.slot] = version
    retracted = {}
    for slot, version in withdrawn.items():
        retraction = entries.pop(f"retraction:{slot}", None)
        if retraction is not None and version.version_id > 1:
            # The injury as it stood when retracted (its last version before).
            before = store.version(
                version.resource_type, version.logical_id, version.version_id - 1
            )
            retracted[slot] = (before or version, retraction)
    amendments = list(
        uow.session.scalars(
            sa.select(ExamAmendment)
            .where(ExamAmendment.exam_id == exam.id)
            .order_by(ExamAmendment.id)
        )
    )
    return ExamRecord(exam, case, encounter, entries, amendments, retracted=retracted)


def read_exam(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, exam_id: str, channel: str = "web"
) -> ExamRecord:
    """An exam with every resource recorded in it; audited."""
    exam = _load_exam(uow, actor, exam_id, Action.READ)
    store = ResourceStore(uow.session, registry)
    record = _assemble(uow, store, exam)
    record.consent = exam_consent(uow, actor, exam)
    record.signer = _signer_of(store, exam)
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(
                record.encounter.versioned_reference,
                *(version.versioned_reference for version in record.entries.values()),
            ),
            reasons=("exam opened",),
        )
    )
    return record


# -- writing steps ------------------------------------------------------------------


@dataclass
class _Writer:
    """One request's writes to one exam: every step goes through `save`."""

    uow: UnitOfWork
    store: ResourceStore
    actor: Actor
    exam: Exam
    reason: str | None
    channel: str
    changed: list[str] = field(default_factory=list)

    @property
    def context(self) -> ExamContext:
        encounter = self.store.current("Encounter", self.exam.id)
        assert encounter is not None
        return ExamContext(
            self.exam.id,
            self.exam.patient_id,
            fhir.parse_instant(encounter.content["period"]["start"]),
        )

    def check_amendable(self) -> None:
        check_amendable(self.exam, self.reason)

    def save(
        self,
        slot: str,
        resource: dict[str, Any],
        what: str | None,
        *,
        logical_id: str | None = None,
    ) -> None:
        """Create or update the slot's resource; nothing is written if it is unchanged.
        `what` names the change in the amendments after sign-off; None for a record
        read from another (her baseline's resources), whose amendment says it."""
        current = self.current(slot)
        if current is not None:
            if not _same(current.content, resource):
                self._update(slot, current, resource, what)
            return
        self.check_amendable()
        version = self.store.create(
            resource,
            site_id=self.exam.site_id,
            author_id=self.actor.user_id,
            logical_id=logical_id,
        )
        position = self.uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(ExamEntry)
            .where(ExamEntry.exam_id == self.exam.id)
        )
        self.uow.session.add(
            ExamEntry(
                exam_id=self.exam.id,
                slot=slot,
                resource_type=version.resource_type,
                resource_id=version.logical_id,
                position=(position or 0) + 1,
            )
        )
        self.record(slot, version, None, what)

    def save_text(self, slot: str, section: str, code: str, display: str, text: str) -> None:
        """A free-text finding: saved when given, taken back (entered-in-error) when
        cleared."""
        if text.strip():
            finding = fhir.text_observation(
                self.context, section=section, code=code, display=display, text=text.strip()
            )
            self.save(slot, finding, display)
        else:
            self.retire(slot, display)

    def current(self, slot: str) -> StoredVersion | None:
        """The current version of the slot's resource (None if never recorded)."""
        row = self.uow.session.get(ExamEntry, (self.exam.id, slot))
        return self.store.current(row.resource_type, row.resource_id) if row else None

    def retire(self, slot: str, what: str | None) -> None:
        """Mark a slot's resource entered-in-error (a value taken back)."""
        current = self.current(slot)
        if current is None or is_entered_in_error(current.content):
            return
        taken_back = entered_in_error(current.resource_type, dict(current.content))
        self._update(slot, current, taken_back, what)

    def recorder(self) -> Recorder:
        user = self.uow.session.get(User, self.actor.user_id)
        return Recorder(self.actor.username, user.display_name if user else self.actor.username)

    def save_encounter(self, content: dict[str, Any], what: str) -> None:
        current = self.store.current("Encounter", self.exam.id)
        assert current is not None
        if not _same(current.content, content):
            self._update("encounter", current, content, what)

    def _update(
        self, slot: str, current: StoredVersion, content: dict[str, Any], what: str | None
    ) -> None:
        self.check_amendable()
        version = self.store.update(
            current.resource_type,
            current.logical_id,
            content,
            author_id=self.actor.user_id,
            expected_version=current.version_id,
        )
        self.record(slot, version, current.version_id, what)

    def record(
        self, slot: str, version: StoredVersion, from_version: int | None, what: str | None
    ) -> None:
        self.uow.session.flush()
        amendment = self.exam.status == ExamStatus.SIGNED
        if amendment and what is not None:
            self.uow.session.add(
                ExamAmendment(
                    exam_id=self.exam.id,
                    slot=slot,
                    resource=version.reference,
                    from_version=from_version,
                    to_version=version.version_id,
                    what=what,
                    reason=(self.reason or "").strip(),
                    amended_by=self.actor.username,
                    amended_at=utcnow(),
                )
            )
            self.uow.session.flush()
        self.changed.append(slot)
        _audit_write(
            self.uow,
            self.actor,
            version,
            self.channel,
            "exam amended after sign-off" if amendment else "exam step saved",
        )

    def finish(self) -> None:
        """After an amendment, the signed report gets a new version."""
        if self.changed and self.exam.status == ExamStatus.SIGNED:
            _write_report(self.uow, self.store, self.actor, self.exam, self.channel)


def _writer(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    actor: Actor,
    exam_id: str,
    reason: str | None,
    channel: str,
) -> _Writer:
    exam = _load_exam(uow, actor, exam_id, Action.UPDATE, lock=True)
    return _Writer(uow, ResourceStore(uow.session, registry), actor, exam, reason, channel)


def _same(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def strip(content: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in content.items() if key not in ("id", "meta")}

    return strip(stored) == strip(new)


def record_timing(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    timing: AssaultTiming,
    exam_time: datetime,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """The time of the assault (a time, a range or unknown) and of the exam."""
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    latest_allowed = utcnow() + CLOCK_TOLERANCE
    if exam_time > latest_allowed:
        raise ExamRefused(N_("The time of the exam cannot be in the future."), "exam_time")
    if timing.kind is TimingKind.EXACT:
        if timing.at is None:
            raise ExamRefused(N_("Enter the date and time of the assault."), "assault_at")
        if timing.at > exam_time:
            raise ExamRefused(N_("The assault cannot be after the exam."), "assault_at")
    elif timing.kind is TimingKind.RANGE:
        if timing.earliest is None or timing.latest is None:
            raise ExamRefused(
                N_("Enter both ends of the range: the earliest and the latest it could have been."),
                "assault_earliest" if timing.earliest is None else "assault_latest",
            )
        if timing.earliest >= timing.latest:
            raise ExamRefused(
                N_("The earliest time must be before the latest time."), "assault_earliest"
            )
        if timing.latest > exam_time:
            raise ExamRefused(N_("The assault cannot be after the exam."), "assault_latest")
    encounter = writer.store.current("Encounter", writer.exam.id)
    assert encounter is not None
    content = dict(encounter.content)
    content["period"] = dict(content["period"]) | {"start": isoformat(exam_time)}
    end = content["period"].get("end")
    if end is not None and exam_time > fhir.parse_instant(end):
        raise ExamRefused(N_("The exam cannot start after it was signed off."), "exam_time")
    writer.save_encounter(content, "Time of the exam")
    writer.save("timing", fhir.timing_observation(writer.context, timing), "Time of the assault")
    writer.finish()


def record_history(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    history: History,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    if not history.narrative.strip():
        raise ExamRefused(
            N_("Write down what she said, in her own words (or that she did not want to say)."),
            "narrative",
        )
    for code, label in ACTS.items():
        if code not in history.acts:
            raise ExamRefused(
                sentence(
                    "Answer “%(question)s”: yes, no or not known.",
                    question=Coded("assault-act", code, english_text=label),
                ),
                f"act_{code}",
            )
    for code, label in ACTIVITIES.items():
        if code not in history.activities:
            raise ExamRefused(
                sentence(
                    "Answer “%(question)s”: yes, no or not known.",
                    question=Coded("post-assault-activity", code, english_text=label),
                ),
                f"activity_{code}",
            )
    for act, means in history.means.items():
        if means and (act not in PENETRATION_ACTS or history.acts[act] is not Answer.YES):
            raise ExamRefused(
                sentence(
                    "“By what” is only recorded for a penetration answered yes (%(act)s).",
                    act=Coded("assault-act", act, english_text=ACTS.get(act, act)),
                ),
                f"means_{act}",
            )
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    context = writer.context
    writer.save_text(
        "history",
        "history",
        "history-narrative",
        "History in the survivor's words",
        history.narrative,
    )
    writer.save_text("demeanour", "history", "demeanour", "Demeanour", history.demeanour)
    writer.save(
        "acts", fhir.acts_observation(context, history.acts, history.means), "Acts described"
    )
    writer.save(
        "post-assault",
        fhir.activities_observation(context, history.activities),
        "Post-assault activities",
    )
    writer.finish()


def record_general(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    general: GeneralExam,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    vitals = general.vitals
    if (vitals.systolic is None) != (vitals.diastolic is None):
        raise ExamRefused(
            N_("Enter both the systolic and the diastolic pressure, or neither."),
            "systolic" if vitals.systolic is None else "diastolic",
        )
    if (
        vitals.systolic is not None
        and vitals.diastolic is not None
        and vitals.diastolic >= vitals.systolic
    ):
        raise ExamRefused(N_("The diastolic pressure must be below the systolic."), "diastolic")
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    context = writer.context
    writer.save_text(
        "general", "general", "general-examination", "General examination", general.findings
    )
    values = {
        "vital:heart-rate": vitals.heart_rate,
        "vital:respiratory-rate": vitals.respiratory_rate,
        "vital:temperature": vitals.temperature,
        "vital:oxygen-saturation": vitals.oxygen_saturation,
    }
    for sign in VITAL_SIGNS:
        value = values[sign.slot]
        if value is None:
            writer.retire(sign.slot, sign.display)
        else:
            writer.save(sign.slot, fhir.vital_observation(context, sign, value), sign.display)
    if vitals.systolic is None or vitals.diastolic is None:
        writer.retire(BLOOD_PRESSURE.slot, "Blood pressure")
    else:
        writer.save(
            BLOOD_PRESSURE.slot,
            fhir.blood_pressure_observation(context, vitals.systolic, vitals.diastolic),
            "Blood pressure",
        )
    writer.finish()


def _check_injury(injury: Injury) -> None:
    if injury.kind not in INJURY_TYPES:
        raise ExamRefused(N_("Choose the type of injury."), "kind")
    if injury.region not in fhir.BODY_REGIONS:
        raise ExamRefused(N_("Choose the body region."), "region")
    if not injury.site.strip():
        raise ExamRefused(
            N_("Say exactly where (side and place, e.g. “left forearm, inner side”)."), "site"
        )
    if injury.length_mm <= 0:
        raise ExamRefused(N_("The length is in millimetres and more than 0."), "length_mm")
    if injury.width_mm is not None and injury.width_mm <= 0:
        raise ExamRefused(N_("The width is in millimetres and more than 0."), "width_mm")


def add_injury(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    injury: Injury,
    mark: MarkRequest | None = None,
    reason: str | None = None,
    channel: str = "web",
) -> str:
    """Record one more injury, marked on a body diagram if `mark` says where;
    returns its slot."""
    _check_injury(injury)
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    slot = f"injury:{_next_number(uow, writer.exam.id, 'injury:')}"
    injury = _marked(uow, writer, injury, mark, slot)
    writer.save(
        slot, fhir.injury_observation(writer.context, injury), f"Injury added: {injury.summary()}"
    )
    writer.finish()
    return slot


def change_injury(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    slot: str,
    injury: Injury,
    mark: MarkRequest | None = None,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """Change an injury; its body map mark is what `mark` says (none: no mark). An
    injury taken back (retracted, or removed after she declined) is no longer there
    to change, as it is no longer there to read."""
    _check_injury(injury)
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    current = writer.current(slot) if slot.startswith("injury:") else None
    if current is None or current.content.get("status") == "entered-in-error":
        raise ExamNotFound(N_("No such injury in this exam."))
    injury = _marked(uow, writer, injury, mark, slot)
    writer.save(
        slot, fhir.injury_observation(writer.context, injury), f"Injury changed: {injury.summary()}"
    )
    writer.finish()


# A day typed at the bedside is a day in the clinic's zone: the latest local date
# anywhere is 14 hours ahead of UTC.
LATEST_ZONE_OFFSET = timedelta(hours=14)


def _check_answer(
    question: Question, value: AnswerValue, field_name: str, exam_time: datetime
) -> None:
    if question.kind is Kind.ANSWER:
        if not isinstance(value, Answer):
            raise ExamRefused(
                sentence(
                    "Answer “%(question)s”: yes, no or not known.",
                    question=Coded("exam-question", question.code, english_text=question.label),
                ),
                field_name,
            )
    elif question.kind in (Kind.CHOICE, Kind.CHOICES):
        assert question.options
        known = terms(question.options)
        chosen = value if isinstance(value, frozenset) else frozenset({value})
        if not all(isinstance(code, str) and code in known for code in chosen):
            raise ExamRefused(
                sentence(
                    "Choose “%(question)s” from the list.",
                    question=Coded("exam-question", question.code, english_text=question.label),
                ),
                field_name,
            )
    elif question.kind is Kind.DATE:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ExamRefused(
                sentence(
                    "Enter “%(question)s” as a date.",
                    question=Coded("exam-question", question.code, english_text=question.label),
                ),
                field_name,
            )
        if (
            value > (exam_time + LATEST_ZONE_OFFSET).date()
            or value > (utcnow() + LATEST_ZONE_OFFSET).date()
        ):
            raise ExamRefused(
                sentence(
                    "“%(question)s” cannot be after the exam (a date in the future).",
                    question=Coded("exam-question", question.code, english_text=question.label),
                ),
                field_name,
            )
    elif question.kind is Kind.COUNT:
        if not isinstance(value, int) or not question.low <= value <= question.high:
            raise ExamRefused(
                sentence(
                    "Enter “%(question)s” as a whole number from %(low)s to %(high)s.",
                    question=Coded("exam-question", question.code, english_text=question.label),
                    low=question.low,
                    high=question.high,
                ),
                field_name,
            )
    elif not isinstance(value, str) or len(value) > MAX_ANSWER_TEXT:
        raise ExamRefused(
            sentence(
                "“%(question)s”: at most %(count)s characters.",
                question=Coded("exam-question", question.code, english_text=question.label),
                count=MAX_ANSWER_TEXT,
            ),
            field_name,
        )


MAX_ANSWER_TEXT = 4000


def record_structured_step(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    step: str,
    answers: Mapping[str, Mapping[str, AnswerValue]],
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """A structured step (clinical baseline, the incident, strangulation, mental
    state and safety, clothing): each sheet's answers are one Observation, each
    answer a coded component; a sheet left empty is taken back. `answers` maps a
    sheet's slot ("baseline", "assailant:2") to question code -> answer. Dates
    cannot be after the exam; numbers and choices must be in their lists."""
    definition = STRUCTURED_STEPS.get(step)
    if definition is None:
        raise ExamNotFound(N_("No such step."))
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    context = writer.context
    given: dict[str, dict[str, AnswerValue]] = {}
    for sheet in definition.sheets:
        for slot in sheet.slots():
            row = {
                code: value
                for code, value in (answers.get(slot) or {}).items()
                if value not in ("", None, frozenset())
                and not (isinstance(value, str) and not value.strip())
            }
            questions = {question.code: question for question in sheet.questions}
            for code, value in row.items():
                question = questions.get(code)
                if question is None:
                    raise ExamRefused(N_("No such question on this step."), None)
                _check_answer(question, value, answer_field(slot, code), context.exam_time)
            if row or sheet.repeat == 0:
                for question in sheet.questions:
                    if question.required and question.code not in row:
                        raise ExamRefused(
                            sentence(
                                "Answer “%(question)s”: yes, no or not known.",
                                question=Coded(
                                    "exam-question", question.code, english_text=question.label
                                ),
                            ),
                            answer_field(slot, question.code),
                        )
            # Words are kept as typed, less the blanks around them (_check_answer
            # made sure an answer of words is a str).
            given[slot] = {
                code: value.strip()
                if questions[code].kind is Kind.TEXT and isinstance(value, str)
                else value
                for code, value in row.items()
            }
    if definition.needs_act and any(given.values()):
        recorded_acts = writer.current("acts")
        acts = fhir.answers_of(recorded_acts.content if recorded_acts else None, ASSAULT_ACT)
        if acts.get(definition.needs_act) is Answer.NO:
            first = definition.sheets[0]
            raise ExamRefused(
                sentence(
                    "The history says no to “%(act)s”: correct the history first if she "
                    "reports it now.",
                    act=Coded(
                        "assault-act",
                        definition.needs_act,
                        english_text=ACTS[definition.needs_act],
                    ),
                ),
                answer_field(first.key, first.questions[0].code),
            )
    _check_assailant_rows(definition, given)
    for sheet in definition.sheets:
        for number, slot in enumerate(sheet.slots(), start=1):
            what = f"{sheet.title} {number}" if sheet.repeat else sheet.title
            if given[slot]:
                writer.save(slot, fhir.answers_observation(context, sheet, given[slot]), what)
            else:
                writer.retire(slot, what)
    if step == BASELINE.code:
        _record_baseline_resources(writer, given.get(BASELINE.code, {}))
    writer.finish()


def _record_baseline_resources(writer: _Writer, answers: Mapping[str, AnswerValue]) -> None:
    """Her allergies, medicines and history, each also as its own resource
    (clinic/exam/baseline.py): a new version when the words change, taken back
    (entered in error) when cleared."""
    baseline = writer.current(BASELINE.code)
    context = writer.context
    for derived in DERIVED:
        text = answers.get(derived.question)
        # Each follows the baseline Observation: its change is that amendment.
        if isinstance(text, str) and text and baseline is not None:
            current = writer.current(derived.slot)
            resource = derived_resource(
                derived, context, text, baseline.logical_id, writer.recorder()
            )
            earlier = (
                recorder_of(current.content)
                if current is not None and not is_entered_in_error(current.content)
                else None
            )
            if current is not None and earlier is not None:
                # The same words saved again by someone else are not a new record:
                # kept as the first recorder's. Changed words are the new one's.
                unchanged = derived_resource(derived, context, text, baseline.logical_id, earlier)
                if _same(current.content, unchanged):
                    resource = unchanged
            writer.save(derived.slot, resource, None)
        else:
            writer.retire(derived.slot, None)


def _check_assailant_rows(step: StepSheets, given: Mapping[str, Mapping[str, AnswerValue]]) -> None:
    """No more assailants described than the number she gave."""
    count = given.get("incident", {}).get("assailant-count")
    if step.code != "incident" or not isinstance(count, int):
        return
    described = [slot for slot in given if slot.startswith("assailant:") and given[slot]]
    if len(described) > count:
        last = described[-1]
        raise ExamRefused(
            sentence(
                "%(described)s assailants are described but the number of assailants is "
                "%(count)s: correct one or the other.",
                described=len(described),
                count=count,
            ),
            answer_field(last, "relationship"),
        )


def retract_injury(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    slot: str,
    why: str,
    channel: str = "web",
) -> None:
    """Take back an injury recorded in error (e.g. recorded twice): the injury is
    marked entered-in-error (every version stays in its history) and a retraction
    says why, who and when; the report shows it as retracted, never silently gone.
    After sign-off it is an amendment, its reason the retraction's."""
    if not why.strip():
        raise ExamRefused(
            N_("Say why this injury is retracted (e.g. “recorded twice: same as injury 2”)."), "why"
        )
    writer = _writer(uow, registry, actor, exam_id, why.strip(), channel)
    current = writer.current(slot) if slot.startswith("injury:") else None
    if current is None:
        raise ExamNotFound(N_("No such injury in this exam."))
    if current.content.get("status") == "entered-in-error":
        raise ExamRefused(N_("This injury is already retracted."), "why")
    number = slot.removeprefix("injury:")
    writer.retire(slot, f"Injury {number} retracted")
    writer.save(
        f"retraction:{slot}",
        fhir.retraction_observation(
            writer.context,
            f"{current.resource_type}/{current.logical_id}",
            why.strip(),
            actor.username,
            utcnow(),
        ),
        f"Injury {number} retracted: {why.strip()}",
    )
    writer.finish()


def request_lab_tests(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    requested: Mapping[str, str],
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """The laboratory tests requested at the exam (test code -> where the sample
    goes). A test no longer requested is taken back; one that has a result
    cannot be: its result is part of the record."""
    for code, destination in requested.items():
        if code not in LAB_TESTS:
            raise ExamRefused(N_("Choose tests from the list."), "tests")
        if not destination.strip():
            raise ExamRefused(
                sentence(
                    "%(test)s: say where the sample goes (which laboratory).",
                    test=Coded("lab-test", code, english_text=LAB_TESTS[code]),
                ),
                f"lab_{code.replace('-', '_')}_destination",
            )
        if len(destination) > 300:
            raise ExamRefused(
                sentence(
                    "%(test)s: at most %(count)s characters.",
                    test=Coded("lab-test", code, english_text=LAB_TESTS[code]),
                    count=300,
                ),
                f"lab_{code.replace('-', '_')}_destination",
            )
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    context = writer.context
    with_results = {
        slot.split(":")[1]
        for slot in uow.session.scalars(
            sa.select(ExamEntry.slot).where(
                ExamEntry.exam_id == exam_id, ExamEntry.slot.startswith("lab-result:")
            )
        )
    }
    declined = declined_samples(uow, actor, writer.exam)
    for code in requested:
        # A test whose result is in stays requested (its result is part of the record).
        if LAB_TEST_SAMPLES.get(code) in declined and code not in with_results:
            raise ExamRefused(
                _sample_declined(code),
                f"lab_{code.replace('-', '_')}_requested",
            )
    for code, label in LAB_TESTS.items():
        slot = f"lab:{code}"
        if code in requested:
            writer.save(
                slot,
                fhir.lab_request_observation(context, code, requested[code].strip()),
                f"Laboratory test requested: {label}",
            )
        elif code in with_results and writer.current(slot) is not None:
            raise ExamRefused(
                sentence(
                    "%(test)s has a result: it stays requested.",
                    test=Coded("lab-test", code, english_text=label),
                ),
                f"lab_{code.replace('-', '_')}_requested",
            )
        else:
            writer.retire(slot, f"Laboratory test no longer requested: {label}")
    writer.finish()


def add_lab_result(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    test: str,
    result: str,
    details: str = "",
    channel: str = "web",
) -> str:
    """A laboratory result, added to the exam when it arrives (before or after
    sign-off) with who added it and when. A result is not an amendment: it adds
    a record and changes none, and the signed report gets a new version listing
    it. Refused, nothing written, when she has declined the test's sample in her
    evidence-collection consent since it was requested. Who added it is named as
    the report names its signer (name, role, professional registration)."""
    if result not in LAB_RESULTS:
        raise ExamRefused(N_("Choose the result."), "result")
    if len(details) > 4000:
        raise ExamRefused(N_("Details: at most 4000 characters."), "details")
    writer = _writer(uow, registry, actor, exam_id, None, channel)
    requested = writer.current(f"lab:{test}")
    if requested is None or requested.content.get("status") == "entered-in-error":
        raise ExamNotFound(N_("No such test requested in this exam."))
    # Her consent is read now, not as it was when the test was requested: a sample
    # she has since declined yields no result in her record.
    if LAB_TEST_SAMPLES.get(test) in declined_samples(uow, actor, writer.exam):
        raise ExamRefused(_sample_declined(test, since_requested=True), "result")
    version = writer.store.create(
        fhir.lab_result_observation(
            writer.context,
            LabResult(test, result, details.strip(), _signer_now(uow, actor.username), utcnow()),
            requested.versioned_reference,
        ),
        site_id=writer.exam.site_id,
        author_id=actor.user_id,
    )
    slot = f"lab-result:{test}:{_next_number(uow, writer.exam.id, f'lab-result:{test}:')}"
    _add_entry(uow, writer.exam, slot, version)
    _audit_write(uow, actor, version, channel, "laboratory result added")
    if writer.exam.status == ExamStatus.SIGNED:
        _write_report(uow, writer.store, actor, writer.exam, channel)
    return slot


def _marked(
    uow: UnitOfWork, writer: _Writer, injury: Injury, mark: MarkRequest | None, slot: str
) -> Injury:
    """The injury with its body map mark placed (docs/design.md, body maps): a
    tapped point must lie on the body in the injury's region; without a point
    the mark goes to the middle of the region, beside the marks already there.
    Nothing of a part she declined is marked: an anogenital region, or any mark
    on an anogenital diagram, is refused when she declined that examination."""
    book = diagram_book()
    declined = ANOGENITAL_EXAM in exam_consent(uow, writer.actor, writer.exam).declined
    if declined and injury.region in book.anogenital_regions:
        raise ExamRefused(DECLINED_MESSAGES[ANOGENITAL_EXAM], "region")
    if mark is None:
        return replace(injury, mark=None)
    try:
        drawing = drawing_of(book, mark)
        if declined and drawing.is_anogenital:
            raise ExamRefused(DECLINED_MESSAGES[ANOGENITAL_EXAM], "drawing")
        taken = [
            (float(other.mark.x), float(other.mark.y))
            for other_slot, other, _ in _assemble(uow, writer.store, writer.exam).injuries
            if other_slot != slot
            and other.mark is not None
            and (other.mark.diagram, other.mark.view) == (mark.diagram, mark.view)
        ]
        placed = place_mark(
            book,
            mark,
            region=injury.region,
            number=int(slot.removeprefix("injury:")),
            labels=BODY_REGIONS,
            site=injury.site,
            taken=taken,
        )
    except MarkRefused as refused:
        raise ExamRefused(refused.message, refused.field) from refused
    return replace(injury, mark=placed)


def exam_for_update(uow: UnitOfWork, actor: Actor, exam_id: str) -> Exam:
    """The exam, locked, for a domain that adds records to it (photographs); an
    exam the actor may not change is answered as one that does not exist."""
    return _load_exam(uow, actor, exam_id, Action.UPDATE, lock=True)


def next_slot(uow: UnitOfWork, exam_id: str, prefix: str) -> tuple[str, int]:
    """The exam's next free slot of a kind (`photo:3`), and its number."""
    number = _next_number(uow, exam_id, f"{prefix}:")
    return f"{prefix}:{number}", number


def add_exam_record(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam: Exam,
    slot: str,
    resource: dict[str, Any],
    what: str,
    logical_id: str,
    reason: str | None = None,
    channel: str = "web",
) -> StoredVersion:
    """Add a record made by another domain (a photograph's Media) to the exam, by
    the exam's rules: after sign-off only as an amendment with a reason, which the
    signed report then lists."""
    writer = _Writer(uow, ResourceStore(uow.session, registry), actor, exam, reason, channel)
    writer.save(slot, resource, what, logical_id=logical_id)
    writer.finish()
    version = writer.current(slot)
    assert version is not None
    return version


def correct_exam_record(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam: Exam,
    slot: str,
    content: dict[str, Any],
    what: str,
    reason: str,
    labels_removed: frozenset[str] = frozenset(),
    channel: str = "web",
) -> StoredVersion:
    """A new version of a record another domain added to the exam (a photograph
    corrected or retired), by the exam's rules: after sign-off it is an amendment
    with its reason, which the signed report then lists. Every earlier version
    stays in the record's history."""
    writer = _Writer(uow, ResourceStore(uow.session, registry), actor, exam, reason, channel)
    current = writer.current(slot)
    if current is None:
        raise ExamNotFound(N_("No such record in this exam."))
    writer.check_amendable()
    version = writer.store.update(
        current.resource_type,
        current.logical_id,
        content,
        author_id=actor.user_id,
        expected_version=current.version_id,
        labels_removed=labels_removed,
    )
    writer.record(slot, version, current.version_id, what)
    writer.finish()
    return version


def check_amendable(exam: Exam, reason: str | None) -> None:
    """A signed exam changes only with the reason for the amendment."""
    if exam.status == ExamStatus.SIGNED and not (reason or "").strip():
        raise ExamRefused(
            N_(
                "This exam is signed off and read-only: to correct it, say why (the "
                "amendment is kept with the original)."
            ),
            "amendment_reason",
        )


def injury_ids(uow: UnitOfWork, exam_id: str) -> dict[str, str]:
    """The exam's injury slots and the Observation each is recorded as."""
    rows = uow.session.execute(
        sa.select(ExamEntry.slot, ExamEntry.resource_id).where(
            ExamEntry.exam_id == exam_id, ExamEntry.slot.startswith("injury:")
        )
    )
    return {slot: resource_id for slot, resource_id in rows}


def _next_number(uow: UnitOfWork, exam_id: str, prefix: str) -> int:
    slots = uow.session.scalars(
        sa.select(ExamEntry.slot).where(
            ExamEntry.exam_id == exam_id, ExamEntry.slot.startswith(prefix)
        )
    )
    return 1 + max((int(slot.removeprefix(prefix)) for slot in slots), default=0)


def _check_sites(sites: Mapping[str, SiteFinding], declined: frozenset[str]) -> None:
    for code, site in sites.items():
        where = ANOGENITAL_SITES_BY_CODE.get(code)
        if where is None:
            raise ExamRefused(N_("No such anogenital site."), "findings")
        if site.is_empty:
            continue
        name = f"site_{code.replace('-', '_')}"
        if where.needs_speculum and SPECULUM_EXAM in declined:
            raise ExamRefused(
                sentence(
                    "%(site)s: seen only with a speculum, which she declined. %(declined)s",
                    site=Coded("anogenital-site", where.code, english_text=where.display),
                    declined=DECLINED_MESSAGES[SPECULUM_EXAM],
                ),
                f"{name}_findings",
            )
        if SPECULUM_METHOD in site.methods and SPECULUM_EXAM in declined:
            raise ExamRefused(DECLINED_MESSAGES[SPECULUM_EXAM], f"{name}_methods")
        if not site.findings <= ANOGENITAL_FINDINGS.keys():
            raise ExamRefused(N_("Choose findings from the list."), f"{name}_findings")
        if not site.methods <= EXAM_METHODS.keys():
            raise ExamRefused(N_("Choose methods from the list."), f"{name}_methods")
        if not site.findings:
            raise ExamRefused(
                sentence(
                    "%(site)s: choose what was seen, or “No injury seen”.",
                    site=Coded("anogenital-site", where.code, english_text=where.display),
                ),
                f"{name}_findings",
            )
        if NO_FINDING in site.findings and len(site.findings) > 1:
            raise ExamRefused(
                sentence(
                    "%(site)s: “No injury seen” cannot go with a finding.",
                    site=Coded("anogenital-site", where.code, english_text=where.display),
                ),
                f"{name}_findings",
            )
        if not site.methods:
            raise ExamRefused(
                sentence(
                    "%(site)s: say how the site was examined.",
                    site=Coded("anogenital-site", where.code, english_text=where.display),
                ),
                f"{name}_methods",
            )


def record_anogenital(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    findings: str = "",
    speculum: str = "",
    sites: Mapping[str, SiteFinding] | None = None,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """The anogenital examination by site (TEARS findings and how each site was
    examined), free text only as a supplement, and speculum findings when a
    speculum was used. A part she declined in her examination and treatment
    consent is never recorded, in the exam or in an amendment: the refusal names
    the item and what to do."""
    sites = {code: site for code, site in (sites or {}).items()}
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    consent = exam_consent(uow, actor, writer.exam)
    filled = {code: site for code, site in sites.items() if not site.is_empty}
    if ANOGENITAL_EXAM in consent.declined and (findings.strip() or speculum.strip() or filled):
        raise ExamRefused(DECLINED_MESSAGES[ANOGENITAL_EXAM], "findings")
    if SPECULUM_EXAM in consent.declined and speculum.strip():
        raise ExamRefused(DECLINED_MESSAGES[SPECULUM_EXAM], "speculum")
    _check_sites(sites, consent.declined)
    if not findings.strip() and not filled:
        raise ExamRefused(
            N_("Record the findings of at least one site, or describe the findings in words."),
            "findings",
        )
    context = writer.context
    for site in ANOGENITAL_SITES:
        slot = f"anogenital-site:{site.code}"
        if site.code in filled:
            writer.save(
                slot,
                fhir.anogenital_site_observation(context, site.code, filled[site.code]),
                f"Anogenital findings: {site.display}",
            )
        else:
            writer.retire(slot, f"Anogenital findings: {site.display}")
    writer.save_text(
        "anogenital", "anogenital", "anogenital-findings", "Anogenital findings", findings
    )
    writer.save_text(
        "speculum", "anogenital", "speculum-findings", "Speculum examination findings", speculum
    )
    writer.finish()


def remove_declined_findings(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """Findings recorded before she declined their part are taken back (marked
    entered-in-error; the earlier versions stay in the history)."""
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    consent = exam_consent(uow, actor, writer.exam)
    if ANOGENITAL_EXAM in consent.declined:
        writer.retire("anogenital", "Anogenital findings removed: she declined this part")
    if ANOGENITAL_EXAM in consent.declined or SPECULUM_EXAM in consent.declined:
        writer.retire("speculum", "Speculum findings removed: she declined this part")
    for site in ANOGENITAL_SITES:
        slot = f"anogenital-site:{site.code}"
        recorded = writer.current(slot)
        if recorded is None or recorded.content.get("status") == "entered-in-error":
            continue
        if _site_declined(fhir.site_finding_of(recorded.content), consent.declined):
            writer.retire(slot, f"{site.display} findings removed: she declined this part")
    if ANOGENITAL_EXAM in consent.declined:
        for slot in _assemble(uow, writer.store, writer.exam).anogenital_injuries:
            writer.retire(
                slot, f"{slot.replace(':', ' ').capitalize()} removed: she declined this part"
            )
    writer.finish()


def record_consent_absent(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    why: str,
    details: str = "",
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """The examiner's record of why she could not consent to examination and
    treatment (unconscious, lacking capacity, or another reason in words). It lets
    the exam be signed off without her Consent, and flags the case for review
    until another examiner reviews it. If she later can consent, her Consent is
    recorded as usual; the flag stays until the review."""
    if why not in CONSENT_ABSENT_REASONS:
        raise ExamRefused(N_("Choose why she could not consent."), "why")
    if why == "other" and not details.strip():
        raise ExamRefused(N_("Say, in words, why she could not consent."), "details")
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    if writer.current("consent-review") is not None:
        # A review speaks of the record it read: changing that record afterwards
        # would leave the case cleared by a review of something else.
        raise ExamRefused(
            N_(
                "Another examiner has reviewed why she could not consent; the record can no "
                "longer be changed. Add what you learnt as an amendment note instead."
            ),
            "why",
        )
    recorded = writer.current("consent-absent")
    current = fhir.consent_absent_of(recorded.content if recorded else None)
    if current is not None and (current.reason, current.details) == (why, details.strip()):
        return
    writer.save(
        "consent-absent",
        fhir.consent_absent_observation(
            writer.context,
            ConsentAbsent(why, details.strip(), actor.username, utcnow()),
        ),
        "Why she could not consent",
    )
    writer.finish()


def review_consent_absent(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    note: str,
    channel: str = "web",
) -> None:
    """A second examiner of the site reviews an exam done without her consent;
    the review clears the case's flag. It adds a record and changes none, so it
    is not an amendment of a signed exam."""
    if not note.strip():
        raise ExamRefused(N_("Write what you reviewed and what you concluded."), "note")
    writer = _writer(uow, registry, actor, exam_id, None, channel)
    absent = writer.current("consent-absent")
    if absent is None:
        raise ExamRefused(N_("This exam has no record that she could not consent."), "note")
    if writer.current("consent-review") is not None:
        raise ExamRefused(N_("This record is already reviewed."), "note")
    recorded = fhir.consent_absent_of(absent.content)
    assert recorded is not None
    if recorded.recorded_by == actor.username:
        raise ExamRefused(
            N_(
                "Another examiner reviews this: a review by the examiner who recorded it is no review."
            ),
            "note",
        )
    version = writer.store.create(
        fhir.consent_review_observation(
            writer.context,
            ConsentReview(note.strip(), actor.username, utcnow()),
            absent.versioned_reference,
        ),
        site_id=writer.exam.site_id,
        author_id=actor.user_id,
    )
    _add_entry(uow, writer.exam, "consent-review", version)
    _audit_write(uow, actor, version, channel, "exam without her consent reviewed")
    if writer.exam.status == ExamStatus.SIGNED:
        # The signed report says who reviewed it, as the printed one does.
        _write_report(uow, writer.store, actor, writer.exam, channel)


def _add_entry(uow: UnitOfWork, exam: Exam, slot: str, version: StoredVersion) -> None:
    position = uow.session.scalar(
        sa.select(sa.func.count()).select_from(ExamEntry).where(ExamEntry.exam_id == exam.id)
    )
    uow.session.add(
        ExamEntry(
            exam_id=exam.id,
            slot=slot,
            resource_type=version.resource_type,
            resource_id=version.logical_id,
            position=(position or 0) + 1,
        )
    )
    uow.session.flush()


def exams_awaiting_review(uow: UnitOfWork, *, actor: Actor, case_id: str) -> set[str]:
    """The case's exams (that the actor may read) done without her consent and not
    yet reviewed: the case page shows them flagged."""
    exams = exams_of_case(uow, actor=actor, case_id=case_id)
    if not exams:
        return set()
    slots: dict[str, set[str]] = {}
    for exam_id, slot in uow.session.execute(
        sa.select(ExamEntry.exam_id, ExamEntry.slot).where(
            ExamEntry.exam_id.in_([exam.id for exam in exams]),
            ExamEntry.slot.in_(("consent-absent", "consent-review")),
        )
    ):
        slots.setdefault(exam_id, set()).add(slot)
    return {exam_id for exam_id, found in slots.items() if found == {"consent-absent"}}


def decide_window(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    window_code: str,
    overridden: bool,
    override_reason: str | None = None,
    reason: str | None = None,
    channel: str = "web",
) -> None:
    """The examiner confirms a window's guidance, or overrides it with a reason."""
    window = WINDOWS_BY_CODE.get(window_code)
    if window is None:
        raise ExamRefused(N_("No such time window."), "window")
    if overridden and not (override_reason or "").strip():
        raise ExamRefused(
            sentence(
                "Say why you are not following the guidance on %(window)s.",
                window=Coded("time-window", window.code, english_text=window.label),
            ),
            "override_reason",
        )
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    recorded = writer.current("timing")
    timing = fhir.timing_of(recorded.content if recorded else None)
    if timing is None:
        raise ExamRefused(N_("Record the time of the assault first."), "window")
    context = writer.context
    status = guidance_status(
        window,
        timing,
        context.exam_time,
        answered_no=_answered_no(writer.current("acts")),
        declined=exam_consent(uow, actor, writer.exam).declined,
    )
    writer.save(
        f"guidance:{window.code}",
        fhir.guidance_observation(
            context,
            window,
            status,
            elapsed(timing, context.exam_time),
            overridden=overridden,
            reason=override_reason.strip() if overridden and override_reason else None,
        ),
        f"Guidance on {window.label}: {'overridden' if overridden else 'confirmed'}",
    )
    writer.finish()


def add_treatment(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    treatment: Treatment,
    reason: str | None = None,
    channel: str = "web",
) -> str:
    if treatment.kind not in TREATMENTS:
        raise ExamRefused(N_("Choose the treatment."), "kind")
    if not treatment.medication.strip():
        raise ExamRefused(
            N_("Write the medicine (name and strength) as given or offered."), "medication"
        )
    if not treatment.given and not (treatment.declined_reason or "").strip():
        raise ExamRefused(N_("Say why it was not given (e.g. she declined)."), "declined_reason")
    if treatment.at > utcnow() + CLOCK_TOLERANCE:
        raise ExamRefused(N_("The time given cannot be in the future."), "at")
    writer = _writer(uow, registry, actor, exam_id, reason, channel)
    slot = f"treatment:{_next_number(uow, writer.exam.id, 'treatment:')}"
    writer.save(
        slot,
        fhir.treatment_resource(writer.context, treatment),
        f"Treatment: {treatment.summary()}",
    )
    writer.finish()
    return slot


# -- sign-off and the report --------------------------------------------------------


def sign_off(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    exam_id: str,
    channel: str = "web",
) -> Exam:
    """Sign the exam off: it becomes read-only and its report is written. Her
    examination and treatment Consent must be in force, or the examiner must have
    recorded why she could not consent; no findings of a part she declined."""
    writer = _writer(uow, registry, actor, exam_id, None, channel)
    exam = writer.exam
    if exam.status == ExamStatus.SIGNED:
        raise ExamRefused(N_("This exam is already signed off."), "sign")
    record = _assemble(uow, writer.store, exam)
    record.consent = exam_consent(uow, actor, exam)
    missing = record.missing_for_sign_off()
    if missing:
        raise ExamRefused(
            sentence(
                "Before signing off: %(missing)s",
                missing=Listing(tuple(missing), separator=" "),
            ),
            "sign",
        )
    now = utcnow()
    content = dict(record.encounter.content)
    content["status"] = "finished"
    content["period"] = dict(content["period"]) | {"end": isoformat(max(now, record.exam_time))}
    writer.save_encounter(content, "Signed off")
    exam.status = ExamStatus.SIGNED.value
    exam.signed_at = now
    exam.signed_by = actor.username
    uow.session.flush()
    _write_report(uow, writer.store, actor, exam, channel)
    return exam


def _write_report(
    uow: UnitOfWork, store: ResourceStore, actor: Actor, exam: Exam, channel: str
) -> None:
    record = _assemble(uow, store, exam)
    record.consent = exam_consent(uow, actor, exam)
    assert exam.signed_at is not None
    assert exam.signed_by is not None
    signer = _signer_of(store, exam) or _signer_now(uow, exam.signed_by)
    resource = fhir.report_composition(
        patient_id=exam.patient_id,
        exam_id=exam.id,
        site_id=exam.site_id,
        case_reference=record.case.reference,
        signed_by=signer.name,
        signed_by_role=signer.role,
        signed_by_registration=signer.registration,
        signed_at=exam.signed_at,
        written_at=utcnow(),
        sections=report_sections(record),
        amended=bool(record.amendments),
    )
    if exam.report_id is None:
        version = store.create(resource, site_id=exam.site_id, author_id=actor.user_id)
        exam.report_id = version.logical_id
        uow.session.flush()
        _audit_write(uow, actor, version, channel, "exam signed off")
    else:
        current = store.current("Composition", exam.report_id)
        assert current is not None
        version = store.update(
            "Composition",
            exam.report_id,
            resource,
            author_id=actor.user_id,
            expected_version=current.version_id,
        )
        _audit_write(uow, actor, version, channel, "exam report amended")


def _signer_now(uow: UnitOfWork, username: str) -> Signer:
    """The signer as their account says at sign-off; the report keeps it."""
    user = uow.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        return Signer(username, "", None)
    from clinic.access.roles import Role

    return Signer(user.display_name, Role(user.role).label, user.professional_registration)


def _signer_of(store: ResourceStore, exam: Exam) -> Signer | None:
    """Who signed, as the signed report (Composition.attester) recorded it."""
    if exam.report_id is None:
        return None
    report = store.current("Composition", exam.report_id)
    if report is None:
        return None
    return fhir.signer_of(report.content)


def report_sections(record: ExamRecord, zone: str = "UTC") -> list[ReportSection]:
    """The report's sections, in exam order; each names the versions it shows.
    Times are in words in `zone` (the clinic's, for the printed report), coded
    values by their display, and a section with nothing in it says so."""
    entries = record.entries

    def refs(*slots: str) -> tuple[str, ...]:
        return tuple(entries[slot].versioned_reference for slot in slots if slot in entries)

    def when(moment: datetime) -> Moment:
        return Moment(moment, zone, in_words(moment, zone))

    def answer(value: str) -> Sentence:
        return Sentence(ANSWER_DISPLAY[value])  # "Yes", "No", "Not known": in the catalogues

    not_recorded = sentence("Not recorded.")
    consent_lines: list[str] = []
    if record.consent is not None:
        consent_lines.append(
            sentence("Her consent to examination and treatment: in force.")
            if record.consent.in_force
            else sentence("Her consent to examination and treatment: not recorded.")
        )
        if ANOGENITAL_EXAM in record.consent.declined:
            consent_lines.append(sentence("She declined the anogenital examination."))
        if SPECULUM_EXAM in record.consent.declined:
            consent_lines.append(sentence("She declined the internal examination with a speculum."))
    absent = record.consent_absent
    if absent is not None:
        consent_lines.append(
            sentence(
                "She could not consent (%(why)s), recorded by %(by)s on %(when)s.",
                why=absent.summary(),
                by=absent.recorded_by,
                when=when(absent.recorded_at),
            )
        )
        review = record.consent_review
        consent_lines.append(
            sentence(
                "Reviewed by %(by)s on %(when)s: %(note)s",
                by=review.reviewed_by,
                when=when(review.reviewed_at),
                note=review.note,
            )
            if review
            else sentence("Awaiting review by another examiner.")
        )
    timing_lines: list[str] = [sentence("Exam started: %(when)s", when=when(record.exam_time))]
    timing = record.timing
    if timing is not None:
        timing_lines.append(sentence("Assault: %(when)s", when=describe_timing(timing, zone)))
        hours = record.elapsed
        timing_lines.append(
            sentence("Assault to exam: %(hours)s", hours=hours.describe())
            if hours
            else sentence("Assault to exam: not known")
        )
    else:
        timing_lines.append(sentence("Time of the assault: not recorded."))
    history_lines: list[str] = []
    if record.text("history"):
        history_lines.append(sentence("In her words: “%(words)s”", words=record.text("history")))
    if record.text("demeanour"):
        history_lines.append(sentence("Demeanour: %(words)s", words=record.text("demeanour")))
    acts = record.answers("acts", ASSAULT_ACT)
    means = record.means
    for code in ACTS:
        if code in acts:
            act = Coded("assault-act", code)
            said = answer(acts[code].value)
            by = Listing(tuple(Coded("penetration-means", m) for m in sorted(means.get(code, ()))))
            history_lines.append(
                sentence("%(act)s: %(answer)s (by: %(means)s)", act=act, answer=said, means=by)
                if by.values
                else sentence("%(act)s: %(answer)s", act=act, answer=said)
            )
    activities = record.answers("post-assault", POST_ASSAULT_ACTIVITY)
    for code in ACTIVITIES:
        if code in activities:
            history_lines.append(
                sentence(
                    "Since the assault — %(activity)s: %(answer)s",
                    activity=Coded("post-assault-activity", code),
                    answer=answer(activities[code].value),
                )
            )
    general_lines: list[str] = (
        [sentence("General examination: %(words)s", words=record.text("general"))]
        if record.text("general")
        else []
    )
    for sign in (*VITAL_SIGNS, BLOOD_PRESSURE):
        content = record.vital(sign.slot)
        if content:
            general_lines.append(
                sentence(
                    "%(sign)s: %(value)s",
                    sign=Word(sign.words, english_text=sign.display),
                    value=describe_vital(content),
                )
            )
    injury_lines: list[str] = [
        sentence(
            "Injury %(number)s: %(injury)s (%(region)s)%(details)s",
            number=slot.removeprefix("injury:"),
            injury=injury.summary(),
            region=Coded("body-region", injury.region, english_text=BODY_REGIONS[injury.region]),
            details="".join(
                f"; {words}" for words in (injury.shape, injury.colour, injury.description) if words
            ),
        )
        for slot, injury, _ in record.injuries
    ]
    for slot, (version, retraction) in record.retracted.items():
        injury = fhir.injury_of(version.content)
        retracted = fhir.retraction_of(retraction.content)
        injury_lines.append(
            sentence(
                "Injury %(number)s: RETRACTED — %(injury)s; why: %(reason)s; by %(by)s on %(when)s",
                number=slot.removeprefix("injury:"),
                injury=injury.summary(),
                reason=retracted.reason,
                by=retracted.by,
                when=when(retracted.at),
            )
        )
    anogenital_lines: list[str]
    if record.declined(ANOGENITAL_EXAM):
        anogenital_lines = [sentence("Not examined: she declined the anogenital examination.")]
    else:
        anogenital_lines = [
            sentence(
                "%(site)s: %(findings)s",
                site=Coded("anogenital-site", code),
                findings=site.summary(),
            )
            for code, site in record.anogenital_sites.items()
        ]
        if record.text("anogenital"):
            anogenital_lines.append(
                sentence("In words: %(words)s", words=record.text("anogenital"))
                if anogenital_lines
                else record.text("anogenital")
            )
        anogenital_lines = anogenital_lines or [not_recorded]
    if record.declined(SPECULUM_EXAM) and not record.declined(ANOGENITAL_EXAM):
        anogenital_lines.append(sentence("Speculum: not done, she declined it."))
    elif record.text("speculum"):
        anogenital_lines.append(sentence("Speculum: %(words)s", words=record.text("speculum")))
    guidance_lines: list[str] = []
    for item in record.guidance:
        window = Coded("time-window", item.window.code, english_text=item.window.label)
        status = Coded(
            "window-status",
            item.status.value,
            inline=True,
            english_text=WINDOW_STATUS_DISPLAY[item.status.value],
        )
        if item.decision and item.decision.overridden:
            line = sentence(
                "%(window)s: %(status)s; overridden: %(reason)s",
                window=window,
                status=status,
                reason=item.decision.reason,
            )
        elif item.decision:
            line = sentence("%(window)s: %(status)s; confirmed", window=window, status=status)
        else:
            line = sentence("%(window)s: %(status)s; not decided", window=window, status=status)
        guidance_lines.append(line)
    lab_lines: list[str] = []
    results = record.lab_results
    for code, destination in record.lab_requests.items():
        test = Coded("lab-test", code, english_text=LAB_TESTS[code])
        lab_lines.append(
            sentence(
                "%(test)s: requested, sent to %(destination)s", test=test, destination=destination
            )
        )
        lab_lines.extend(
            sentence(
                "%(test)s result, added %(when)s by %(by)s: %(result)s",
                test=test,
                when=when(r.added_at),
                by=r.added_by.named,
                result=r.summary(),
            )
            for r in results.get(code, [])
        )
    treatment_lines: list[str] = [
        Sentence(
            "%(treatment)s",
            treatment=Listing(
                (
                    treatment.summary(),
                    *((treatment.dose,) if treatment.dose else ()),
                    when(treatment.at),
                ),
                separator="; ",
            ),
        )
        for _, treatment, _ in record.treatments
    ]
    structured = {
        code: _structured_section(record, step) for code, step in STRUCTURED_STEPS.items()
    }
    sections = [
        ReportSection(
            sentence("Her consent"),
            "consent",
            tuple(consent_lines) or (not_recorded,),
            refs("consent-absent", "consent-review"),
        ),
        ReportSection(
            sentence("Arrival and timing"), "timing", tuple(timing_lines), refs("timing")
        ),
        structured["baseline"],
        ReportSection(
            sentence("History"),
            "history",
            tuple(history_lines) or (not_recorded,),
            refs("history", "demeanour", "acts", "post-assault"),
        ),
        structured["incident"],
        structured["strangulation"],
        ReportSection(
            sentence("General examination and vital signs"),
            "general",
            tuple(general_lines) or (not_recorded,),
            refs("general", *(s.slot for s in (*VITAL_SIGNS, BLOOD_PRESSURE))),
        ),
        structured["mental-state"],
        structured["clothing"],
        ReportSection(
            sentence("Injuries"),
            "injuries",
            tuple(injury_lines) or (sentence("Not recorded: no injuries were recorded."),),
            refs(*(slot for slot, _, _ in record.injuries))
            + tuple(r.versioned_reference for _, r in record.retracted.values()),
        ),
        ReportSection(
            sentence("Anogenital findings"),
            "anogenital",
            tuple(anogenital_lines),
            refs(
                *(f"anogenital-site:{code}" for code in record.anogenital_sites),
                "anogenital",
                "speculum",
            ),
        ),
        ReportSection(
            sentence("Time-window guidance"),
            "guidance",
            tuple(guidance_lines) or (not_recorded,),
            refs(*(f"guidance:{w.code}" for w in WINDOWS)),
        ),
        ReportSection(
            sentence("Laboratory tests"),
            "laboratory",
            tuple(lab_lines) or (sentence("Not recorded: no tests were requested."),),
            refs(
                *(f"lab:{code}" for code in record.lab_requests),
                *(slot for slot in entries if slot.startswith("lab-result:")),
            ),
        ),
        ReportSection(
            sentence("Treatment"),
            "treatment",
            tuple(treatment_lines) or (sentence("Not recorded: no treatment was recorded."),),
            refs(*(slot for slot, _, _ in record.treatments)),
        ),
    ]
    if record.amendments:
        sections.append(
            ReportSection(
                sentence("Amendments after sign-off"),
                "amendments",
                tuple(
                    sentence(
                        "%(when)s by %(by)s: %(what)s — why: %(reason)s",
                        when=when(a.amended_at),
                        by=a.amended_by,
                        what=amendment_in_words(a.what),
                        reason=a.reason,
                    )
                    for a in record.amendments
                ),
                (),
            )
        )
    return sections


def _structured_section(record: ExamRecord, step: StepSheets) -> ReportSection:
    """A structured step in words: each sheet's answers in the order asked, "not
    recorded" when nothing is, and the step's standard advice when anything is."""
    lines: list[str] = []
    slots: list[str] = []
    for sheet in step.sheets:
        for number, slot in enumerate(sheet.slots(), start=1):
            answers = record.sheet_answers(sheet, slot)
            if not answers:
                continue
            slots.append(slot)
            said = [
                sentence(
                    "%(question)s: %(answer)s",
                    question=Coded("exam-question", question.code),
                    answer=_answer_said(question, answers[question.code]),
                )
                for question in sheet.questions
                if question.code in answers
            ]
            answered = Listing(tuple(said), separator="; ")
            if sheet.repeat:
                lines.append(
                    sentence(
                        "%(sheet)s %(number)s: %(answers)s",
                        sheet=Word(sheet.title),
                        number=number,
                        answers=answered,
                    )
                )
            elif len(step.sheets) > 1:
                lines.append(
                    sentence("%(sheet)s — %(answers)s", sheet=Word(sheet.title), answers=answered)
                )
            else:
                lines.extend(said)
    if lines and step.advice:
        lines.append(sentence("Advice given: %(advice)s", advice=Word(step.advice)))
    return ReportSection(
        Sentence("%(title)s", title=Coded("exam-section", step.code, english_text=step.title)),
        step.code,
        tuple(lines) or (sentence("Not recorded."),),
        tuple(record.entries[slot].versioned_reference for slot in slots),
    )


def _answer_said(question: Question, value: AnswerValue) -> Any:
    """An answer as the report prints it: a coded one by its system's designation in
    the reader's language (the English is what `answer_in_words` has always written)."""
    english = fhir.answer_in_words(question, value)
    if question.kind is Kind.ANSWER:
        return Sentence(english)  # "Yes", "No", "Not known": in the catalogues
    if question.kind is Kind.CHOICE and question.options:
        return Coded(question.options, str(value), english_text=english)
    if question.kind is Kind.CHOICES and question.options:
        assert isinstance(value, frozenset)
        codes = [code for code in terms(question.options) if code in value]
        return Listing(tuple(Coded(question.options, code) for code in codes))
    if question.kind is Kind.DATE and isinstance(value, date):
        return Day(value, english)
    if question.kind is Kind.COUNT and question.unit == "a":
        return sentence("%(count)s years", count=value)
    return english


def report_maps(record: ExamRecord) -> list[MapFigure]:
    """The body maps of the printed report: each drawing with marks, its legend
    the injuries as the report's Injuries section words them."""
    return map_figures(
        (injury.mark, _injury_words(injury))
        for _, injury, _ in record.injuries
        if injury.mark is not None
    )


# What an amendment names (ExamAmendment.what, kept in English as the record
# writes it): the fixed names, and the shapes with a value, as screens say them.
AMENDMENT_NAMES = (
    N_("Time of the exam"),
    N_("Time of the assault"),
    N_("Demeanour"),
    N_("Anogenital findings"),
    N_("Speculum examination findings"),
    N_("Signed off"),
    N_("Anogenital findings removed: she declined this part"),
    N_("Speculum findings removed: she declined this part"),
)
AMENDMENT_SHAPES = (
    ("Injury added: ", N_("Injury added: %(what)s")),
    ("Injury changed: ", N_("Injury changed: %(what)s")),
    ("Treatment: ", N_("Treatment: %(what)s")),
    ("Laboratory test requested: ", N_("Laboratory test requested: %(what)s")),
    ("Laboratory test no longer requested: ", N_("Laboratory test no longer requested: %(what)s")),
    ("Anogenital findings: ", N_("Anogenital findings: %(what)s")),
)
_INJURY_NUMBER = re.compile(r"Injury (\d+) retracted")


def amendment_in_words(what: str) -> Sentence:
    """An amendment's name as the record keeps it (English), said in the reader's
    language: the coded values it names by their designation; what is not one of
    ours (a photograph's note) as recorded."""
    if what in AMENDMENT_NAMES:
        return Sentence(what)
    vital = {sign.display: sign.words for sign in (*VITAL_SIGNS, BLOOD_PRESSURE)}
    if what in vital:
        return Sentence("%(sign)s", sign=Word(vital[what], english_text=what))
    retracted = _INJURY_NUMBER.fullmatch(what)
    if retracted:
        return sentence("Injury %(number)s retracted", number=retracted.group(1))
    for prefix, shape in AMENDMENT_SHAPES:
        if what.startswith(prefix):
            return Sentence(shape, what=_recorded_value(what.removeprefix(prefix)))
    return Sentence(what)


def _recorded_value(text: str) -> Any:
    """A value an amendment's name holds, back to its code where it is one of ours:
    an anogenital site, a laboratory test, or the kind of injury or treatment that
    starts a summary ("Bruise, left forearm, 30 mm"); otherwise as recorded."""
    for system, words in (
        ("anogenital-site", {s.code: s.display for s in ANOGENITAL_SITES}),
        ("lab-test", LAB_TESTS),
    ):
        for code, english in words.items():
            if text == english:
                return Coded(system, code, english_text=english)
    for system, words, joiner in (
        ("injury-type", INJURY_TYPES, ", "),
        ("exam-treatment", TREATMENTS, ": "),
    ):
        head, found, rest = text.partition(joiner)
        for code, english in words.items():
            if found and head == english:
                return Listing((Coded(system, code, english_text=english), rest), separator=joiner)
    return text


def _injury_words(injury: Injury) -> str:
    """An injury with its body region, in English (as records keep it), said in the
    reader's language."""
    region = Coded("body-region", injury.region, english_text=BODY_REGIONS[injury.region])
    return Sentence("%(injury)s (%(region)s)", injury=injury.summary(), region=region)


def describe_timing(timing: AssaultTiming, zone: str = "UTC") -> str:
    """When the assault was, in English words (as records keep it), said in the
    reader's language."""

    def when(moment: datetime) -> Moment:
        return Moment(moment, zone, in_words(moment, zone))

    if timing.kind is TimingKind.EXACT and timing.at:
        return Sentence("%(when)s", when=when(timing.at))
    if timing.kind is TimingKind.RANGE and timing.earliest and timing.latest:
        return sentence(
            "between %(earliest)s and %(latest)s",
            earliest=when(timing.earliest),
            latest=when(timing.latest),
        )
    return sentence("not known")


# UCUM units as people read them.
UNIT_DISPLAY = {"/min": "per minute", "Cel": "°C", "%": "%", "mm[Hg]": "mmHg"}


def describe_vital(content: Mapping[str, Any]) -> str:
    """A vital sign's value and unit, in English (as records keep it), said in the
    reader's language."""
    if "valueQuantity" in content:
        quantity = content["valueQuantity"]
        unit = quantity.get("code", quantity.get("unit"))
        if unit == "/min":
            return sentence("%(value)s per minute", value=Measure(quantity["value"]))
        # A unit symbol ("°C", "kg") is the same in every language.
        return Sentence(
            "%(value)s %(unit)s",
            value=Measure(quantity["value"]),
            unit=UNIT_DISPLAY.get(unit, quantity.get("unit", "")),
        )
    parts = tuple(Measure(c["valueQuantity"]["value"]) for c in content.get("component", []))
    return Sentence("%(parts)s mmHg", parts=Listing(parts, separator="/"))


def _audit_write(
    uow: UnitOfWork, actor: Actor, version: StoredVersion, channel: str, reason: str
) -> None:
    kind = EventKind.CREATE if version.version_id == 1 else EventKind.UPDATE
    decision = require(
        actor,
        Action.CREATE if kind is EventKind.CREATE else Action.UPDATE,
        version.resource_type,
        version.facts(),
    )
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(*decision.reasons, reason),
        )
    )
