"""The exam as FHIR resources: one builder per kind of record, nothing else.

Codes: LOINC for vital signs (the codes of the FHIR vital signs profiles), HL7
terminology for yes/no (v2-0136), absent data (data-absent-reason), categories
and labels; our own CodeSystems (fhir_profiles/) wherever no standard code says
it with certainty. Every builder's output is validated by the store against the
profile it claims.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from clinic.bodymap.diagrams import diagram_book
from clinic.bodymap.marks import BodyMapMark
from clinic.consent.words import MONTHS
from clinic.core.clock import isoformat
from clinic.exam.lists import (
    ANOGENITAL_FINDINGS,
    ANOGENITAL_SITES_BY_CODE,
    EXAM_METHODS,
    LAB_RESULTS,
    LAB_TESTS,
    Kind,
    Question,
    Sheet,
    terms,
)
from clinic.exam.timing import AssaultTiming, Elapsed, TimeWindow, TimingKind, WindowStatus
from clinic.fhir.canonical import (
    CODE_SYSTEM,
    RESTRICTED_LABEL,
    SEXUAL_VIOLENCE_LABEL,
    STRUCTURE_DEFINITION,
)
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Listing, Measure, Sentence, Word, sentence

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
YES_NO = "http://terminology.hl7.org/CodeSystem/v2-0136"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

EXAM_SECTION = f"{CODE_SYSTEM}/exam-section"
EXAM_OBSERVATION = f"{CODE_SYSTEM}/exam-observation"
ASSAULT_ACT = f"{CODE_SYSTEM}/assault-act"
PENETRATION_MEANS = f"{CODE_SYSTEM}/penetration-means"
POST_ASSAULT_ACTIVITY = f"{CODE_SYSTEM}/post-assault-activity"
INJURY_TYPE = f"{CODE_SYSTEM}/injury-type"
BODY_REGION = f"{CODE_SYSTEM}/body-region"
TIME_WINDOW = f"{CODE_SYSTEM}/time-window"
WINDOW_STATUS = f"{CODE_SYSTEM}/window-status"
GUIDANCE_DECISION = f"{CODE_SYSTEM}/guidance-decision"
EXAM_TREATMENT = f"{CODE_SYSTEM}/exam-treatment"
EXAM_DOCUMENT = f"{CODE_SYSTEM}/exam-document"
ENCOUNTER_TYPE = f"{CODE_SYSTEM}/encounter-type"
CONSENT_ABSENT_REASON = f"{CODE_SYSTEM}/consent-absent-reason"

FINDING_PROFILE = f"{STRUCTURE_DEFINITION}/fc-exam-finding"
TIMING_PROFILE = f"{STRUCTURE_DEFINITION}/fc-assault-timing"
INJURY_PROFILE = f"{STRUCTURE_DEFINITION}/fc-injury"
MAPPED_INJURY_PROFILE = f"{STRUCTURE_DEFINITION}/fc-mapped-injury"
BODY_MAP_MARK = f"{STRUCTURE_DEFINITION}/fc-body-map-mark"
BODY_DIAGRAM = f"{CODE_SYSTEM}/body-diagram"
BODY_DIAGRAM_VIEW = f"{CODE_SYSTEM}/body-diagram-view"
VITAL_PROFILE = f"{STRUCTURE_DEFINITION}/fc-exam-vital-sign"
GUIDANCE_PROFILE = f"{STRUCTURE_DEFINITION}/fc-window-guidance"
TREATMENT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-treatment"
REPORT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-exam-report"
ENCOUNTER_PROFILE = f"{STRUCTURE_DEFINITION}/fc-exam-encounter"


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


# The checklists, in the order the form asks them (codes from our CodeSystems).
ACTS = {
    "oral-penetration": "Oral penetration",
    "vaginal-penetration": "Vaginal penetration",
    "anal-penetration": "Anal penetration",
    "ejaculation": "Ejaculation",
    "condom": "Condom used",
    "strangulation": "Strangulation or non-fatal suffocation",
    "restraints": "Restraints (held down, tied)",
    "drugs-alcohol-suspected": "Drugs or alcohol suspected",
}
PENETRATION_ACTS = ("oral-penetration", "vaginal-penetration", "anal-penetration")
MEANS = {"penis": "Penis", "finger": "Finger or hand", "object": "Object", "unknown": "Not known"}
ACTIVITIES = {
    "washed": "Washed, bathed or showered",
    "changed-clothes": "Changed clothes",
    "urinated": "Urinated",
    "ate-drank": "Ate or drank",
    "brushed-teeth": "Brushed teeth or used mouthwash",
}
INJURY_TYPES = {
    "bruise": "Bruise",
    "abrasion": "Abrasion",
    "laceration": "Laceration",
    "incised-wound": "Incised wound",
    "bite": "Bite mark",
    "burn": "Burn",
    "petechiae": "Petechiae",
    "erythema": "Redness",
    "swelling": "Swelling",
    "other": "Other",
}
BODY_REGIONS = {
    "head": "Head and scalp",
    "face": "Face",
    "neck": "Neck",
    "chest": "Chest",
    "breast": "Breast",
    "abdomen": "Abdomen",
    "back": "Back",
    "buttock": "Buttock",
    "upper-arm": "Upper arm",
    "forearm": "Forearm",
    "wrist": "Wrist",
    "hand": "Hand",
    "thigh": "Thigh",
    "knee": "Knee",
    "lower-leg": "Lower leg",
    "ankle": "Ankle",
    "foot": "Foot",
    "vulva": "Vulva",
    "vaginal-introitus": "Vaginal opening and hymen",
    "posterior-fourchette": "Posterior fourchette",
    "penis": "Penis",
    "scrotum": "Scrotum",
    "perineum": "Perineum",
    "anus": "Anus and perianal skin",
    "other": "Other",
}
# Why she could not consent to the exam (CodeSystem consent-absent-reason).
CONSENT_ABSENT_REASONS = {
    "unconscious": "Unconscious",
    "lacks-capacity": "Lacks capacity (incapacitated)",
    "other": "Other reason",
}
# How answers and windows read in words (the report shows displays, never codes).
ANSWER_DISPLAY = {"yes": "Yes", "no": "No", "unknown": "Not known"}
WINDOW_STATUS_DISPLAY = {
    "within": "within the window",
    "outside": "outside the window",
    "uncertain": "not known whether within the window",
    "not-indicated": "not indicated by the history",
    "not-possible": "not possible: she declined the part it needs",
}
# The displays of CodeSystem window-status, as the FHIR record carries them.
WINDOW_STATUS_CODE_DISPLAY = {
    "within": "Within the window",
    "outside": "Outside the window",
    "uncertain": "Cannot tell",
    "not-indicated": "Not indicated by the history",
    "not-possible": "Not possible: she declined the part needed",
}
TREATMENTS = {
    "emergency-contraception": "Emergency contraception",
    "hiv-pep-starter": "HIV PEP starter pack",
    "sti-prophylaxis": "STI prophylaxis",
    "hepatitis-b": "Hepatitis B cover",
    "tetanus": "Tetanus cover",
    "wound-care": "Wound care",
    "suturing": "Suturing",
    "other": "Other",
}


@dataclass(frozen=True)
class VitalSign:
    slot: str
    loinc: str
    display: str
    unit: str  # UCUM
    label: str
    words: str  # its name on screens and prints, marked for the catalogues


VITAL_SIGNS = (
    VitalSign(
        "vital:heart-rate",
        "8867-4",
        "Heart rate",
        "/min",
        "Heart rate (beats/min)",
        N_("Heart rate"),
    ),
    VitalSign(
        "vital:respiratory-rate",
        "9279-1",
        "Respiratory rate",
        "/min",
        "Breaths per minute",
        N_("Respiratory rate"),
    ),
    VitalSign(
        "vital:temperature",
        "8310-5",
        "Body temperature",
        "Cel",
        "Temperature (°C)",
        N_("Body temperature"),
    ),
    VitalSign(
        "vital:oxygen-saturation",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "Oxygen saturation (%)",
        N_("Oxygen saturation"),
    ),
)
BLOOD_PRESSURE = VitalSign(
    "vital:blood-pressure",
    "85354-9",
    "Blood pressure panel with all children optional",
    "mm[Hg]",
    "Blood pressure (mmHg)",
    N_("Blood pressure"),
)


def labels() -> list[dict[str, str]]:
    return [
        {"system": system, "code": code}
        for system, code in (SEXUAL_VIOLENCE_LABEL, RESTRICTED_LABEL)
    ]


def encounter(
    *,
    patient_id: str,
    case_id: str,
    site_id: str,
    start: datetime,
    end: datetime | None = None,
) -> dict[str, Any]:
    period = {"start": isoformat(start)} | ({"end": isoformat(end)} if end else {})
    return {
        "resourceType": "Encounter",
        "meta": {"profile": [ENCOUNTER_PROFILE], "security": labels()},
        "status": "finished" if end else "in-progress",
        "class": {
            "system": ACT_CODE_SYSTEM,
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [
            {
                "coding": [
                    {
                        "system": ENCOUNTER_TYPE,
                        "code": "medical-forensic-exam",
                        "display": "Medical-forensic exam",
                    }
                ]
            }
        ],
        "subject": {"reference": f"Patient/{patient_id}"},
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{case_id}"}],
        "serviceProvider": {"reference": f"Organization/{site_id}"},
        "period": period,
    }


@dataclass(frozen=True)
class ExamContext:
    """What every exam resource refers to."""

    exam_id: str
    patient_id: str
    exam_time: datetime


def _observation(
    context: ExamContext,
    *,
    profile: str,
    section: str,
    code: dict[str, Any],
    extra_categories: Iterable[dict[str, Any]] = (),
    **content: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [profile], "security": labels()},
        "status": "final",
        "category": [
            *extra_categories,
            {"coding": [{"system": EXAM_SECTION, "code": section}]},
        ],
        "code": code,
        "subject": {"reference": f"Patient/{context.patient_id}"},
        "encounter": {"reference": f"Encounter/{context.exam_id}"},
        "effectiveDateTime": isoformat(context.exam_time),
        **content,
    }


def _ours(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": EXAM_OBSERVATION, "code": code, "display": display}]}


def _coded(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def timing_observation(context: ExamContext, timing: AssaultTiming) -> dict[str, Any]:
    value: dict[str, Any]
    if timing.kind is TimingKind.EXACT and timing.at:
        value = {"valueDateTime": isoformat(timing.at)}
    elif timing.kind is TimingKind.RANGE and timing.earliest and timing.latest:
        value = {
            "valuePeriod": {"start": isoformat(timing.earliest), "end": isoformat(timing.latest)}
        }
    else:
        value = {"dataAbsentReason": _coded(DATA_ABSENT, "unknown", "Unknown")}
    return _observation(
        context,
        profile=TIMING_PROFILE,
        section="timing",
        code=_ours("assault-timing", "Time of the assault"),
        **value,
    )


def timing_of(content: Mapping[str, Any] | None) -> AssaultTiming | None:
    """Read an assault-timing Observation back (None when none is recorded)."""
    if content is None:
        return None
    if "valueDateTime" in content:
        return AssaultTiming(TimingKind.EXACT, at=parse_instant(content["valueDateTime"]))
    if "valuePeriod" in content:
        period = content["valuePeriod"]
        return AssaultTiming(
            TimingKind.RANGE,
            earliest=parse_instant(period["start"]),
            latest=parse_instant(period["end"]),
        )
    return AssaultTiming.unknown()


def parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def text_observation(
    context: ExamContext, *, section: str, code: str, display: str, text: str
) -> dict[str, Any]:
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section=section,
        code=_ours(code, display),
        valueString=text,
    )


@dataclass(frozen=True)
class ConsentAbsent:
    """The examiner's record of why she could not consent to the exam."""

    reason: str  # a code of CONSENT_ABSENT_REASONS
    details: str
    recorded_by: str
    recorded_at: datetime

    def summary(self) -> str:
        """In English (as records keep it), said in the reader's language."""
        said = Coded(
            "consent-absent-reason", self.reason, english_text=CONSENT_ABSENT_REASONS[self.reason]
        )
        if self.details:
            return sentence("%(reason)s: %(details)s", reason=said, details=self.details)
        return Sentence("%(reason)s", reason=said)


@dataclass(frozen=True)
class ConsentReview:
    note: str
    reviewed_by: str
    reviewed_at: datetime


def consent_absent_observation(context: ExamContext, absent: ConsentAbsent) -> dict[str, Any]:
    value: dict[str, Any] = _coded(
        CONSENT_ABSENT_REASON, absent.reason, CONSENT_ABSENT_REASONS[absent.reason]
    )
    if absent.details:
        value["text"] = absent.details
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section="consent",
        code=_ours("consent-not-obtained", "She could not consent to the exam"),
        issued=isoformat(absent.recorded_at),
        performer=[{"display": absent.recorded_by}],
        valueCodeableConcept=value,
    )


def consent_absent_of(content: Mapping[str, Any] | None) -> ConsentAbsent | None:
    if content is None:
        return None
    value = content["valueCodeableConcept"]
    return ConsentAbsent(
        reason=value["coding"][0]["code"],
        details=value.get("text", ""),
        recorded_by=content["performer"][0]["display"],
        recorded_at=parse_instant(content["issued"]),
    )


def consent_review_observation(
    context: ExamContext, review: ConsentReview, reviewed: str
) -> dict[str, Any]:
    """The review that clears the flag: derived from the version it reviewed."""
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section="consent",
        code=_ours("consent-review", "Review of an exam done without her consent"),
        issued=isoformat(review.reviewed_at),
        performer=[{"display": review.reviewed_by}],
        derivedFrom=[{"reference": reviewed}],
        valueString=review.note,
    )


def consent_review_of(content: Mapping[str, Any] | None) -> ConsentReview | None:
    if content is None:
        return None
    return ConsentReview(
        note=content["valueString"],
        reviewed_by=content["performer"][0]["display"],
        reviewed_at=parse_instant(content["issued"]),
    )


def _answer_component(system: str, code: str, display: str, answer: Answer) -> dict[str, Any]:
    component: dict[str, Any] = {"code": _coded(system, code, display)}
    if answer is Answer.UNKNOWN:
        component["dataAbsentReason"] = _coded(DATA_ABSENT, "unknown", "Unknown")
    else:
        flag = "Y" if answer is Answer.YES else "N"
        component["valueCodeableConcept"] = _coded(YES_NO, flag, "Yes" if flag == "Y" else "No")
    return component


def acts_observation(
    context: ExamContext,
    acts: Mapping[str, Answer],
    means: Mapping[str, frozenset[str]],
) -> dict[str, Any]:
    components = []
    for code, display in ACTS.items():
        components.append(_answer_component(ASSAULT_ACT, code, display, acts[code]))
        for mean in sorted(means.get(code, ())):
            components.append(
                {
                    "code": _coded(ASSAULT_ACT, f"{code}-by", f"{display} by"),
                    "valueCodeableConcept": _coded(PENETRATION_MEANS, mean, MEANS[mean]),
                }
            )
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section="history",
        code=_ours("acts-described", "Acts described"),
        component=components,
    )


def activities_observation(
    context: ExamContext, activities: Mapping[str, Answer]
) -> dict[str, Any]:
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section="history",
        code=_ours("post-assault-activities", "Post-assault activities"),
        component=[
            _answer_component(POST_ASSAULT_ACTIVITY, code, display, activities[code])
            for code, display in ACTIVITIES.items()
        ],
    )


def answers_of(content: Mapping[str, Any] | None, system: str) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for component in (content or {}).get("component", []):
        coding = component["code"]["coding"][0]
        if coding["system"] != system or coding["code"].endswith("-by"):
            continue
        value = component.get("valueCodeableConcept")
        answers[coding["code"]] = (
            Answer.UNKNOWN
            if value is None
            else Answer.YES
            if value["coding"][0]["code"] == "Y"
            else Answer.NO
        )
    return answers


def means_of(content: Mapping[str, Any] | None) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for component in (content or {}).get("component", []):
        code = component["code"]["coding"][0]["code"]
        if code.endswith("-by"):
            found.setdefault(code.removesuffix("-by"), set()).add(
                component["valueCodeableConcept"]["coding"][0]["code"]
            )
    return {act: frozenset(values) for act, values in found.items()}


def _quantity(value: Decimal | float, unit: str) -> dict[str, Any]:
    number = Decimal(str(value)).normalize()
    return {
        "value": int(number) if number == number.to_integral_value() else float(number),
        "unit": unit,
        "system": UCUM,
        "code": unit,
    }


def vital_observation(context: ExamContext, sign: VitalSign, value: Decimal) -> dict[str, Any]:
    return _observation(
        context,
        profile=VITAL_PROFILE,
        section="general",
        code=_coded(LOINC, sign.loinc, sign.display),
        extra_categories=[_coded(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        valueQuantity=_quantity(value, sign.unit),
    )


def blood_pressure_observation(
    context: ExamContext, systolic: Decimal, diastolic: Decimal
) -> dict[str, Any]:
    return _observation(
        context,
        profile=VITAL_PROFILE,
        section="general",
        code=_coded(LOINC, BLOOD_PRESSURE.loinc, BLOOD_PRESSURE.display),
        extra_categories=[_coded(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        component=[
            {
                "code": _coded(LOINC, "8480-6", "Systolic blood pressure"),
                "valueQuantity": _quantity(systolic, "mm[Hg]"),
            },
            {
                "code": _coded(LOINC, "8462-4", "Diastolic blood pressure"),
                "valueQuantity": _quantity(diastolic, "mm[Hg]"),
            },
        ],
    )


@dataclass(frozen=True)
class Injury:
    kind: str  # injury-type code
    region: str  # body-region code
    site: str  # side and exact place, in words
    length_mm: Decimal
    width_mm: Decimal | None = None
    shape: str | None = None
    colour: str | None = None
    description: str | None = None
    mark: BodyMapMark | None = None  # where it is marked on a body diagram

    def summary(self) -> str:
        """In English (as records keep it), said in the reader's language: the kind of
        injury by its designation, the site and the size as written."""
        # Measured: the reader's decimal separator ("2,5 mm"); records keep "2.5 mm".
        size = (
            Sentence(
                "%(length)s mm x %(width)s mm",
                length=Measure(self.length_mm),
                width=Measure(self.width_mm),
            )
            if self.width_mm
            else Sentence("%(length)s mm", length=Measure(self.length_mm))
        )
        kind = Coded("injury-type", self.kind, english_text=INJURY_TYPES[self.kind])
        return Sentence("%(injury)s", injury=Listing((kind, self.site, size)))


def injury_observation(context: ExamContext, injury: Injury) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {
            "code": _ours("injury-length", "Injury length"),
            "valueQuantity": _quantity(injury.length_mm, "mm"),
        }
    ]
    if injury.width_mm is not None:
        components.append(
            {
                "code": _ours("injury-width", "Injury width"),
                "valueQuantity": _quantity(injury.width_mm, "mm"),
            }
        )
    if injury.shape:
        components.append(
            {"code": _ours("injury-shape", "Injury shape"), "valueString": injury.shape}
        )
    if injury.colour:
        components.append(
            {"code": _ours("injury-colour", "Injury colour"), "valueString": injury.colour}
        )
    extra: dict[str, Any] = {}
    if injury.mark is not None:
        extra["extension"] = [body_map_mark_extension(injury.mark)]
    if injury.description:
        extra["note"] = [{"text": injury.description}]
    return _observation(
        context,
        profile=INJURY_PROFILE if injury.mark is None else MAPPED_INJURY_PROFILE,
        section="injuries",
        code=_ours("injury", "Injury"),
        valueCodeableConcept=_coded(INJURY_TYPE, injury.kind, INJURY_TYPES[injury.kind]),
        bodySite={
            "coding": [
                {
                    "system": BODY_REGION,
                    "code": injury.region,
                    "display": BODY_REGIONS[injury.region],
                }
            ],
            "text": injury.site,
        },
        component=components,
        **extra,
    )


def injury_of(content: Mapping[str, Any]) -> Injury:
    parts: dict[str, Any] = {}
    for component in content.get("component", []):
        code = component["code"]["coding"][0]["code"]
        if "valueQuantity" in component:
            parts[code] = Decimal(str(component["valueQuantity"]["value"]))
        else:
            parts[code] = component.get("valueString")
    return Injury(
        kind=content["valueCodeableConcept"]["coding"][0]["code"],
        region=content["bodySite"]["coding"][0]["code"],
        site=content["bodySite"]["text"],
        length_mm=parts["injury-length"],
        width_mm=parts.get("injury-width"),
        shape=parts.get("injury-shape"),
        colour=parts.get("injury-colour"),
        description=(content.get("note") or [{}])[0].get("text"),
        mark=body_map_mark_of(content),
    )


def _decimal(value: Decimal) -> int | float:
    number = Decimal(str(value)).normalize()
    return int(number) if number == number.to_integral_value() else float(number)


def body_map_mark_extension(mark: BodyMapMark) -> dict[str, Any]:
    book = diagram_book()
    return {
        "url": BODY_MAP_MARK,
        "extension": [
            {
                "url": "diagram",
                "valueCoding": {
                    "system": BODY_DIAGRAM,
                    "code": mark.diagram,
                    "display": book.diagrams[mark.diagram],
                },
            },
            {
                "url": "view",
                "valueCoding": {
                    "system": BODY_DIAGRAM_VIEW,
                    "code": mark.view,
                    "display": book.views[mark.view],
                },
            },
            {"url": "x", "valueDecimal": _decimal(mark.x)},
            {"url": "y", "valueDecimal": _decimal(mark.y)},
            {"url": "number", "valuePositiveInt": mark.number},
        ],
    }


def body_map_mark_of(content: Mapping[str, Any]) -> BodyMapMark | None:
    """The body map mark an Observation carries, if any."""
    for extension in content.get("extension", []):
        if extension.get("url") == BODY_MAP_MARK:
            parts = {part["url"]: part for part in extension.get("extension", [])}
            return BodyMapMark(
                diagram=parts["diagram"]["valueCoding"]["code"],
                view=parts["view"]["valueCoding"]["code"],
                x=Decimal(str(parts["x"]["valueDecimal"])),
                y=Decimal(str(parts["y"]["valueDecimal"])),
                number=int(parts["number"]["valuePositiveInt"]),
            )
    return None


def guidance_observation(
    context: ExamContext,
    window: TimeWindow,
    status: WindowStatus,
    hours: Elapsed | None,
    *,
    overridden: bool,
    reason: str | None,
) -> dict[str, Any]:
    decision = "overridden" if overridden else "confirmed"
    components = [
        {
            "code": _ours("examiner-decision", "Examiner's decision"),
            "valueCodeableConcept": _coded(GUIDANCE_DECISION, decision, decision.capitalize()),
        }
    ]
    if hours is not None:
        components.append(
            {
                "code": _ours("hours-elapsed", "Hours elapsed"),
                "valueQuantity": {
                    "value": round(hours.most, 1),
                    "unit": "h",
                    "system": UCUM,
                    "code": "h",
                },
            }
        )
    extra = {"note": [{"text": reason}]} if reason else {}
    return _observation(
        context,
        profile=GUIDANCE_PROFILE,
        section="guidance",
        code=_coded(TIME_WINDOW, window.code, window.label),
        valueCodeableConcept=_coded(
            WINDOW_STATUS, status.value, WINDOW_STATUS_CODE_DISPLAY[status.value]
        ),
        component=components,
        **extra,
    )


@dataclass(frozen=True)
class GuidanceDecision:
    status: WindowStatus  # what the guidance said when the examiner decided
    overridden: bool
    reason: str | None


def guidance_decision_of(content: Mapping[str, Any]) -> GuidanceDecision:
    decision = next(
        c for c in content["component"] if c["code"]["coding"][0]["code"] == "examiner-decision"
    )
    return GuidanceDecision(
        WindowStatus(content["valueCodeableConcept"]["coding"][0]["code"]),
        decision["valueCodeableConcept"]["coding"][0]["code"] == "overridden",
        (content.get("note") or [{}])[0].get("text"),
    )


@dataclass(frozen=True)
class Treatment:
    kind: str  # exam-treatment code
    medication: str  # the medicine as given, e.g. "Levonorgestrel 1.5 mg"
    dose: str | None
    given: bool  # False: offered and declined
    declined_reason: str | None
    at: datetime

    def summary(self) -> str:
        """In English (as records keep it), said in the reader's language."""
        kind = Coded("exam-treatment", self.kind, english_text=TREATMENTS[self.kind])
        if self.given:
            return sentence(
                "%(treatment)s: %(medication)s", treatment=kind, medication=self.medication
            )
        return sentence(
            "%(treatment)s: %(medication)s — declined (%(reason)s)",
            treatment=kind,
            medication=self.medication,
            reason=self.declined_reason,
        )


def treatment_resource(context: ExamContext, treatment: Treatment) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "meta": {"profile": [TREATMENT_PROFILE], "security": labels()},
        "status": "completed" if treatment.given else "not-done",
        "category": _coded(EXAM_TREATMENT, treatment.kind, TREATMENTS[treatment.kind]),
        "medicationCodeableConcept": {"text": treatment.medication},
        "subject": {"reference": f"Patient/{context.patient_id}"},
        "context": {"reference": f"Encounter/{context.exam_id}"},
        "effectiveDateTime": isoformat(treatment.at),
    }
    if not treatment.given:
        resource["statusReason"] = [{"text": treatment.declined_reason}]
    if treatment.dose:
        # The dose as written: dosage would need a coded dose or rate (mad-1).
        resource["note"] = [{"text": treatment.dose}]
    return resource


def treatment_of(content: Mapping[str, Any]) -> Treatment:
    return Treatment(
        kind=content["category"]["coding"][0]["code"],
        medication=content["medicationCodeableConcept"]["text"],
        dose=(content.get("note") or [{}])[0].get("text"),
        given=content["status"] == "completed",
        declined_reason=(content.get("statusReason") or [{}])[0].get("text"),
        at=parse_instant(content["effectiveDateTime"]),
    )


@dataclass(frozen=True)
class ReportSection:
    title: str
    code: str  # exam-section code, or "treatment" / "amendments"
    lines: tuple[str, ...]
    entries: tuple[str, ...]  # versioned references


@dataclass(frozen=True)
class Signer:
    """Who signed the report, as the report records it (a witness in court)."""

    name: str
    role: str
    registration: str | None

    @property
    def named(self) -> str:
        """Name and role, as a line of the report says who did something (the role,
        a marked word, in the reader's language)."""
        return Sentence(
            "%(who)s",
            who=Listing(tuple(p for p in (self.name, Word(self.role) if self.role else "") if p)),
        )


REGISTRATION_TYPE = "Professional registration"


def staff_reference(staff: Signer) -> dict[str, Any]:
    """A member of staff as the exam's records name them (the report's signer, who
    added a laboratory result): display "name, role" and their professional
    registration as the identifier, where their account has one. Staff are not
    FHIR resources here, so no literal reference. Names hold no comma (", "
    separates the role)."""
    reference: dict[str, Any] = {
        "display": ", ".join(p for p in (staff.name.replace(",", " "), staff.role) if p)
    }
    if staff.registration:
        reference["identifier"] = {
            "type": {"text": REGISTRATION_TYPE},
            "value": staff.registration,
        }
    return reference


def signer_of(content: Mapping[str, Any]) -> Signer | None:
    for attester in content.get("attester", []):
        if attester.get("mode") != "legal":
            continue
        return _staff_of(attester.get("party", {}))
    return None


def report_composition(
    *,
    patient_id: str,
    exam_id: str,
    site_id: str,
    case_reference: str,
    signed_by: str,
    signed_at: datetime,
    signed_by_role: str = "",
    signed_by_registration: str | None = None,
    written_at: datetime,
    sections: Iterable[ReportSection],
    amended: bool,
) -> dict[str, Any]:
    # The signer by name and role, with their professional registration: they
    # will be called as a witness.
    party = staff_reference(Signer(signed_by, signed_by_role, signed_by_registration))
    return {
        "resourceType": "Composition",
        "meta": {"profile": [REPORT_PROFILE], "security": labels()},
        "status": "amended" if amended else "final",
        "type": _coded(EXAM_DOCUMENT, "forensic-exam-report", "Medical-forensic exam report"),
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{exam_id}"},
        "date": isoformat(written_at),
        "author": [{"reference": f"Organization/{site_id}"}],
        "title": f"Medical-forensic exam report, case {case_reference}",
        "confidentiality": "R",
        "attester": [{"mode": "legal", "time": isoformat(signed_at), "party": party}],
        "section": [_section(section) for section in sections],
    }


def _section(section: ReportSection) -> dict[str, Any]:
    lines = section.lines or ("Nothing recorded.",)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    result: dict[str, Any] = {
        "title": section.title,
        # Which step the section reports: what a release reads to withhold a whole
        # section the police never receive (clinic.access.terms.WITHHELD_SECTIONS).
        "code": {"coding": [{"system": EXAM_SECTION, "code": section.code}]},
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{items}</ul></div>',
        },
    }
    if section.entries:
        result["entry"] = [{"reference": reference} for reference in section.entries]
    return result


# -- the structured anogenital examination -------------------------------------------

ANOGENITAL_SITE_PROFILE = f"{STRUCTURE_DEFINITION}/fc-anogenital-site"
ANOGENITAL_SITE = f"{CODE_SYSTEM}/anogenital-site"
ANOGENITAL_FINDING = f"{CODE_SYSTEM}/anogenital-finding"
EXAM_METHOD = f"{CODE_SYSTEM}/exam-method"


@dataclass(frozen=True)
class SiteFinding:
    """What was seen at one anogenital site, and how it was examined."""

    findings: frozenset[str]  # anogenital-finding codes (TEARS, or "none")
    methods: frozenset[str]  # exam-method codes
    note: str = ""  # a supplement in words

    @property
    def is_empty(self) -> bool:
        return not (self.findings or self.methods or self.note.strip())

    def summary(self) -> str:
        """In English (as records keep it), said in the reader's language."""
        seen = Listing(
            tuple(
                Coded("anogenital-finding", f, english_text=ANOGENITAL_FINDINGS[f])
                for f in ANOGENITAL_FINDINGS
                if f in self.findings
            )
        )
        how = Listing(
            tuple(
                Coded("exam-method", m, english_text=EXAM_METHODS[m])
                for m in EXAM_METHODS
                if m in self.methods
            )
        )
        if self.note:
            return sentence(
                "%(seen)s (examined by: %(how)s); %(note)s", seen=seen, how=how, note=self.note
            )
        return sentence("%(seen)s (examined by: %(how)s)", seen=seen, how=how)


def anogenital_site_observation(
    context: ExamContext, site: str, finding: SiteFinding
) -> dict[str, Any]:
    components = [
        {
            "code": _ours("site-finding", "Finding at the site"),
            "valueCodeableConcept": _coded(ANOGENITAL_FINDING, code, ANOGENITAL_FINDINGS[code]),
        }
        for code in ANOGENITAL_FINDINGS
        if code in finding.findings
    ] + [
        {
            "code": _ours("examination-method", "Examination method"),
            "valueCodeableConcept": _coded(EXAM_METHOD, code, EXAM_METHODS[code]),
        }
        for code in EXAM_METHODS
        if code in finding.methods
    ]
    extra = {"note": [{"text": finding.note}]} if finding.note else {}
    return _observation(
        context,
        profile=ANOGENITAL_SITE_PROFILE,
        section="anogenital",
        code=_ours("anogenital-site-finding", "Anogenital site finding"),
        bodySite=_coded(ANOGENITAL_SITE, site, ANOGENITAL_SITES_BY_CODE[site].display),
        component=components,
        **extra,
    )


def site_finding_of(content: Mapping[str, Any]) -> tuple[str, SiteFinding]:
    findings: set[str] = set()
    methods: set[str] = set()
    for component in content.get("component", []):
        code = component["code"]["coding"][0]["code"]
        value = component["valueCodeableConcept"]["coding"][0]["code"]
        (findings if code == "site-finding" else methods).add(value)
    return content["bodySite"]["coding"][0]["code"], SiteFinding(
        frozenset(findings),
        frozenset(methods),
        (content.get("note") or [{}])[0].get("text", ""),
    )


# -- the structured steps (clinical baseline, incident, strangulation, ...) ---------

ANSWERS_PROFILE = f"{STRUCTURE_DEFINITION}/fc-exam-answers"
EXAM_QUESTION = f"{CODE_SYSTEM}/exam-question"

# A question's answer as the service takes it: Answer, a code, a set of codes,
# words, a day or a whole number (by Question.kind).
AnswerValue = Answer | str | frozenset[str] | date | int


def _question_component(question: Question, value: AnswerValue) -> list[dict[str, Any]]:
    code = _coded(EXAM_QUESTION, question.code, question.label)
    if question.kind is Kind.ANSWER:
        assert isinstance(value, Answer)
        return [_answer_component(EXAM_QUESTION, question.code, question.label, value)]
    if question.kind is Kind.CHOICE:
        assert question.options
        assert isinstance(value, str)
        return [
            {
                "code": code,
                "valueCodeableConcept": _coded(
                    f"{CODE_SYSTEM}/{question.options}", value, terms(question.options)[value]
                ),
            }
        ]
    if question.kind is Kind.CHOICES:
        assert question.options
        assert isinstance(value, frozenset)
        chosen = terms(question.options)
        return [
            {
                "code": code,
                "valueCodeableConcept": _coded(
                    f"{CODE_SYSTEM}/{question.options}", option, chosen[option]
                ),
            }
            for option in chosen
            if option in value
        ]
    if question.kind is Kind.DATE:
        assert isinstance(value, date)
        return [{"code": code, "valueDateTime": value.isoformat()}]
    if question.kind is Kind.COUNT:
        assert isinstance(value, int)
        if question.unit:
            return [{"code": code, "valueQuantity": _quantity(value, question.unit)}]
        return [{"code": code, "valueInteger": value}]
    return [{"code": code, "valueString": str(value)}]


def answers_observation(
    context: ExamContext, sheet: Sheet, answers: Mapping[str, AnswerValue]
) -> dict[str, Any]:
    """One sheet of a structured step: one component per answer, in the order asked."""
    components = [
        component
        for question in sheet.questions
        if question.code in answers
        for component in _question_component(question, answers[question.code])
    ]
    return _observation(
        context,
        profile=ANSWERS_PROFILE,
        section=sheet.section,
        code=_ours(sheet.code, OBSERVATION_DISPLAY[sheet.code]),
        component=components,
    )


def sheet_answers_of(content: Mapping[str, Any] | None, sheet: Sheet) -> dict[str, AnswerValue]:
    """Read a sheet's Observation back into the answers the service takes."""
    questions = {question.code: question for question in sheet.questions}
    found: dict[str, AnswerValue] = {}
    for component in (content or {}).get("component", []):
        question = questions.get(component["code"]["coding"][0]["code"])
        if question is None:
            continue
        if question.kind is Kind.ANSWER:
            concept = component.get("valueCodeableConcept")
            found[question.code] = (
                Answer.UNKNOWN
                if concept is None
                else Answer.YES
                if concept["coding"][0]["code"] == "Y"
                else Answer.NO
            )
        elif question.kind is Kind.CHOICE:
            found[question.code] = component["valueCodeableConcept"]["coding"][0]["code"]
        elif question.kind is Kind.CHOICES:
            chosen = found.get(question.code, frozenset())
            assert isinstance(chosen, frozenset)
            found[question.code] = chosen | {component["valueCodeableConcept"]["coding"][0]["code"]}
        elif question.kind is Kind.DATE:
            found[question.code] = date.fromisoformat(component["valueDateTime"][:10])
        elif question.kind is Kind.COUNT:
            found[question.code] = int(
                component["valueQuantity"]["value"]
                if "valueQuantity" in component
                else component["valueInteger"]
            )
        else:
            found[question.code] = str(component["valueString"])
    return found


def answer_in_words(question: Question, value: AnswerValue) -> str:
    """An answer as the report prints it: displays, never codes."""
    if question.kind is Kind.ANSWER:
        return ANSWER_DISPLAY[str(value)]
    if question.kind is Kind.CHOICE:
        assert question.options
        return terms(question.options)[str(value)]
    if question.kind is Kind.CHOICES:
        assert question.options
        assert isinstance(value, frozenset)
        return ", ".join(text for code, text in terms(question.options).items() if code in value)
    if question.kind is Kind.DATE:
        assert isinstance(value, date)
        return f"{value.day} {MONTHS['en'][value.month - 1]} {value.year}"
    if question.kind is Kind.COUNT and question.unit == "a":
        return f"{value} years"
    return str(value)


# The displays of CodeSystem exam-observation for the sheets' Observations.
OBSERVATION_DISPLAY = {
    "clinical-baseline": "Clinical baseline",
    "incident-details": "The incident",
    "assailant": "Assailant",
    "marks-on-assailant": "Marks she may have left on the assailant",
    "strangulation-assessment": "Non-fatal strangulation assessment",
    "strangulation-signs": "Signs of strangulation",
    "mental-state-safety": "Mental state and immediate safety",
    "clothing": "Clothing",
}


# -- corrections before sign-off: an injury retracted --------------------------------


@dataclass(frozen=True)
class Retraction:
    reason: str
    by: str
    at: datetime


def retraction_observation(
    context: ExamContext, injury: str, reason: str, by: str, at: datetime
) -> dict[str, Any]:
    """Why an injury record was taken back; it points at the injury (whose own
    history keeps every version), so the report can show it retracted."""
    return _observation(
        context,
        profile=FINDING_PROFILE,
        section="injuries",
        code=_ours("injury-retracted", "Injury retracted"),
        issued=isoformat(at),
        performer=[{"display": by}],
        derivedFrom=[{"reference": injury}],
        valueString=reason,
    )


def retraction_of(content: Mapping[str, Any]) -> Retraction:
    return Retraction(
        content["valueString"],
        content["performer"][0]["display"],
        parse_instant(content["issued"]),
    )


# -- laboratory tests requested at the exam, and their results -----------------------

LAB_PROFILE = f"{STRUCTURE_DEFINITION}/fc-lab-test"
LAB_TEST = f"{CODE_SYSTEM}/lab-test"
LAB_RESULT = f"{CODE_SYSTEM}/lab-result"


@dataclass(frozen=True)
class LabResult:
    """A result added to the exam when it arrives: who added it and when."""

    test: str  # lab-test code
    result: str  # lab-result code
    details: str
    added_by: Signer  # the member of staff who added it, as their account said then
    added_at: datetime

    def summary(self) -> str:
        """In English (as records keep it), said in the reader's language."""
        said = Coded("lab-result", self.result, english_text=LAB_RESULTS[self.result])
        if self.details:
            return Sentence("%(result)s (%(details)s)", result=said, details=self.details)
        return Sentence("%(result)s", result=said)


def lab_request_observation(context: ExamContext, test: str, destination: str) -> dict[str, Any]:
    """A test requested at the exam: registered, no result yet (FHIR's own meaning
    of `registered`); where the sample goes as a component."""
    content = _observation(
        context,
        profile=LAB_PROFILE,
        section="laboratory",
        code=_coded(LAB_TEST, test, LAB_TESTS[test]),
        component=[
            {
                "code": _coded(EXAM_QUESTION, "lab-destination", "Sent to"),
                "valueString": destination,
            }
        ],
    )
    content["status"] = "registered"
    return content


def lab_destination_of(content: Mapping[str, Any]) -> str:
    return str(content["component"][0]["valueString"])


def lab_result_observation(
    context: ExamContext, result: LabResult, requested: str
) -> dict[str, Any]:
    """The result, derived from the request's version it answers."""
    extra = {"note": [{"text": result.details}]} if result.details else {}
    return _observation(
        context,
        profile=LAB_PROFILE,
        section="laboratory",
        code=_coded(LAB_TEST, result.test, LAB_TESTS[result.test]),
        issued=isoformat(result.added_at),
        performer=[staff_reference(result.added_by)],
        derivedFrom=[{"reference": requested}],
        valueCodeableConcept=_coded(LAB_RESULT, result.result, LAB_RESULTS[result.result]),
        **extra,
    )


def lab_result_of(content: Mapping[str, Any]) -> LabResult:
    return LabResult(
        content["code"]["coding"][0]["code"],
        content["valueCodeableConcept"]["coding"][0]["code"],
        (content.get("note") or [{}])[0].get("text", ""),
        _staff_of(content["performer"][0]),
        parse_instant(content["issued"]),
    )


def _staff_of(reference: Mapping[str, Any]) -> Signer:
    """Who a staff reference names (a result written before staff references
    named only the login name reads as that name, with no role)."""
    name, _, role = str(reference.get("display", "")).partition(", ")
    return Signer(name, role, reference.get("identifier", {}).get("value"))
