"""Her clinical baseline as the resources a receiving health record expects.

The baseline step is one Observation (`fc-exam-answers`) holding every answer. Four
of its answers, words as the examiner wrote them, are also written as the resource
a FHIR reader looks for: her allergies as an AllergyIntolerance, her current
medicines as a MedicationStatement, her relevant medical and surgical history as
Conditions. Each points back to the baseline Observation it was read from
(Condition.evidence.detail, MedicationStatement.derivedFrom, and on
AllergyIntolerance, which has no such element in R4, the `fc-derived-from`
extension). Nothing is coded that the examiner did not say: the words stay in
`code.text`; only "none known" and its usual spellings become SNOMED CT
716186003 |No known allergy|, the words kept beside it.

A cleared answer takes its resource back the FHIR way: AllergyIntolerance and
Condition get verificationStatus `entered-in-error` (and, as ait-2/con-5 require,
no clinicalStatus); MedicationStatement gets status `entered-in-error`. Nothing
is deleted: the earlier versions stay in the resource's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clinic.core.clock import isoformat
from clinic.exam.resources import ExamContext, labels
from clinic.fhir.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION, USER_IDENTIFIER_SYSTEM

ALLERGY_PROFILE = f"{STRUCTURE_DEFINITION}/fc-baseline-allergy"
MEDICATION_PROFILE = f"{STRUCTURE_DEFINITION}/fc-baseline-medication"
CONDITION_PROFILE = f"{STRUCTURE_DEFINITION}/fc-baseline-condition"
DERIVED_FROM = f"{STRUCTURE_DEFINITION}/fc-derived-from"
EXAM_QUESTION = f"{CODE_SYSTEM}/exam-question"
SNOMED = "http://snomed.info/sct"
NO_KNOWN_ALLERGY = {"system": SNOMED, "code": "716186003", "display": "No known allergy"}
_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_INFORMATION_SOURCE = "Patient"

# What examiners write for "no allergies" (the question's hint says "none known").
_NONE_KNOWN = frozenset(
    {
        "none known",
        "none",
        "nil",
        "nil known",
        "nka",
        "no known allergies",
        "no known allergy",
        "no allergies",
        "no allergy",
    }
)


@dataclass(frozen=True)
class Derived:
    """One baseline answer written as its own resource."""

    question: str  # the baseline question's code
    slot: str  # the exam entry's slot
    resource_type: str


# In the order of the baseline sheet. Medical history stays active (what she lives
# with); surgical history is what was done to her before, inactive.
DERIVED = (
    Derived("allergies", "baseline:allergies", "AllergyIntolerance"),
    Derived("current-medicines", "baseline:current-medicines", "MedicationStatement"),
    Derived("medical-history", "baseline:medical-history", "Condition"),
    Derived("surgical-history", "baseline:surgical-history", "Condition"),
)
_CONDITION_STATUS = {"medical-history": "active", "surgical-history": "inactive"}
_QUESTION_DISPLAY = {
    "medical-history": "Relevant medical history",
    "surgical-history": "Relevant surgical history",
}


@dataclass(frozen=True)
class Recorder:
    username: str
    display: str


def recorder_of(content: dict[str, Any]) -> Recorder | None:
    """Who recorded a resource (MedicationStatement names no recorder)."""
    recorder = content.get("recorder")
    if not recorder:
        return None
    return Recorder(recorder["identifier"]["value"], recorder["display"])


def none_known(text: str) -> bool:
    return " ".join(text.lower().replace(".", " ").split()) in _NONE_KNOWN


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _recorder(recorder: Recorder) -> dict[str, Any]:
    return {
        "identifier": {"system": USER_IDENTIFIER_SYSTEM, "value": recorder.username},
        "display": recorder.display,
    }


def derived_resource(
    derived: Derived,
    context: ExamContext,
    text: str,
    baseline_id: str,
    recorder: Recorder,
) -> dict[str, Any]:
    """The resource a baseline answer is written as."""
    patient = {"reference": f"Patient/{context.patient_id}"}
    encounter = {"reference": f"Encounter/{context.exam_id}"}
    source = {"reference": f"Observation/{baseline_id}"}
    when = isoformat(context.exam_time)
    if derived.resource_type == "AllergyIntolerance":
        code: dict[str, Any] = {"text": text}
        if none_known(text):
            code = {"coding": [NO_KNOWN_ALLERGY], "text": text}
        return {
            "resourceType": "AllergyIntolerance",
            "meta": {"profile": [ALLERGY_PROFILE], "security": labels()},
            "extension": [{"url": DERIVED_FROM, "valueReference": source}],
            "clinicalStatus": _coding(_CLINICAL, "active"),
            "verificationStatus": _coding(_VERIFICATION, "unconfirmed"),
            "code": code,
            "patient": patient,
            "encounter": encounter,
            "recordedDate": when,
            "recorder": _recorder(recorder),
            "asserter": patient,
        }
    if derived.resource_type == "MedicationStatement":
        return {
            "resourceType": "MedicationStatement",
            "meta": {"profile": [MEDICATION_PROFILE], "security": labels()},
            "status": "active",
            "medicationCodeableConcept": {"text": text},
            "subject": patient,
            "context": encounter,
            "dateAsserted": when,
            "informationSource": {"reference": f"{_INFORMATION_SOURCE}/{context.patient_id}"},
            "derivedFrom": [source],
        }
    return {
        "resourceType": "Condition",
        "meta": {"profile": [CONDITION_PROFILE], "security": labels()},
        "clinicalStatus": _coding(_CONDITION_CLINICAL, _CONDITION_STATUS[derived.question]),
        "verificationStatus": _coding(_CONDITION_VERIFICATION, "unconfirmed"),
        "category": [
            {
                "coding": [
                    {
                        "system": _CONDITION_CATEGORY,
                        "code": "problem-list-item",
                        "display": "Problem List Item",
                    },
                    {
                        "system": EXAM_QUESTION,
                        "code": derived.question,
                        "display": _QUESTION_DISPLAY[derived.question],
                    },
                ]
            }
        ],
        "code": {"text": text},
        "subject": patient,
        "encounter": encounter,
        "recordedDate": when,
        "recorder": _recorder(recorder),
        "asserter": patient,
        "evidence": [{"detail": [source]}],
    }


def entered_in_error(resource_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """The resource taken back: its status says entered in error."""
    if resource_type not in ("AllergyIntolerance", "Condition"):
        return content | {"status": "entered-in-error"}
    system = _VERIFICATION if resource_type == "AllergyIntolerance" else _CONDITION_VERIFICATION
    taken_back = {key: value for key, value in content.items() if key != "clinicalStatus"}
    return taken_back | {"verificationStatus": _coding(system, "entered-in-error")}


def is_entered_in_error(content: dict[str, Any]) -> bool:
    """Any resource whose status or verification status says entered in error."""
    if content.get("status") == "entered-in-error":
        return True
    return any(
        coding.get("code") == "entered-in-error"
        for coding in content.get("verificationStatus", {}).get("coding", [])
    )
