"""Safety for intimate-partner cases as FHIR: her answers to the checklist
(QuestionnaireResponse, fc-safety-answers), the assessment (RiskAssessment,
fc-safety-assessment, whose basis is the answers), the high-risk flag (Flag,
fc-safety-flag) and the safety plan (the fc-safety-plan extension on her
follow-up CarePlan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic.core.clock import isoformat
from clinic.fhir.canonical import CANONICAL_BASE, CODE_SYSTEM, STRUCTURE_DEFINITION
from clinic.followup.safety_checklist import (
    ANSWER_SYSTEM,
    ANSWERS,
    CHECKLIST_ID,
    CHECKLIST_TITLE,
    CHECKLIST_VERSION,
    FLAG_SYSTEM,
    FLAGS,
    KEEP_READY,
    QUESTIONS,
    RISK_SYSTEM,
    RISKS,
)

ANSWERS_PROFILE = f"{STRUCTURE_DEFINITION}/fc-safety-answers"
ASSESSMENT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-safety-assessment"
FLAG_PROFILE = f"{STRUCTURE_DEFINITION}/fc-safety-flag"
FROM_EXAM_URL = f"{STRUCTURE_DEFINITION}/fc-safety-from-exam"
SCORE_URL = f"{STRUCTURE_DEFINITION}/fc-safety-score"
SAFETY_PLAN_URL = f"{STRUCTURE_DEFINITION}/fc-safety-plan"
# The core extension that links a Flag to what it is about.
FLAG_DETAIL_URL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
QUESTIONNAIRE = f"{CANONICAL_BASE}/Questionnaire/{CHECKLIST_ID}|{CHECKLIST_VERSION}"
KEEP_READY_SYSTEM = f"{CODE_SYSTEM}/safety-keep-ready"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


@dataclass(frozen=True)
class SafetyPlan:
    """What she and the counsellor agreed to keep her safe."""

    safe_places: tuple[str, ...] = ()
    people_to_call: tuple[str, ...] = ()
    code_word: str | None = None  # agreed with the people she would call
    keep_ready: tuple[str, ...] = ()  # safety_checklist.KEEP_READY codes
    keep_ready_other: str | None = None
    referrals: tuple[tuple[str, str], ...] = ()  # (referral id, what it is, in words)

    @property
    def is_empty(self) -> bool:
        return not (
            self.safe_places
            or self.people_to_call
            or self.code_word
            or self.keep_ready
            or self.keep_ready_other
            or self.referrals
        )


def answers_response(
    *,
    patient_id: str,
    answers: Mapping[str, str],
    from_exam: Mapping[str, str],  # question -> exam id, for answers carried over
    authored_at: datetime,
    author: str,
) -> dict[str, Any]:
    items = []
    for question in QUESTIONS:
        answer = answers[question.code]
        item: dict[str, Any] = {
            "linkId": question.code,
            "text": question.text,
            "answer": [
                {
                    "valueCoding": {
                        "system": ANSWER_SYSTEM,
                        "code": answer,
                        "display": ANSWERS[answer],
                    }
                }
            ],
        }
        if question.code in from_exam:
            item = {
                "extension": [
                    {
                        "url": FROM_EXAM_URL,
                        "valueReference": {"reference": f"Encounter/{from_exam[question.code]}"},
                    }
                ],
                **item,
            }
        items.append(item)
    return {
        "resourceType": "QuestionnaireResponse",
        "meta": {"profile": [ANSWERS_PROFILE]},
        "questionnaire": QUESTIONNAIRE,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": isoformat(authored_at),
        "author": {"display": author},
        "item": items,
    }


def answers_of(content: Mapping[str, Any]) -> dict[str, str]:
    return {
        item["linkId"]: item["answer"][0]["valueCoding"]["code"] for item in content.get("item", [])
    }


def from_exam_of(content: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        item["linkId"]
        for item in content.get("item", [])
        if any(e.get("url") == FROM_EXAM_URL for e in item.get("extension", []))
    )


def risk_assessment(
    *,
    patient_id: str,
    plan_id: str,
    answers_id: str,
    yes_count: int,
    threshold: int,
    is_high_risk: bool,
    judgement_reason: str | None,
    assessed_at: datetime,
    performer: str,
) -> dict[str, Any]:
    risk = "high" if is_high_risk else "not-high"
    if judgement_reason:
        rationale = f"High risk on professional judgement: {judgement_reason}"
    else:
        rationale = f"{yes_count} of {len(QUESTIONS)} answered yes; high risk at {threshold}."
    score: list[dict[str, Any]] = [
        {"url": "yes-count", "valueInteger": yes_count},
        {"url": "threshold", "valueInteger": threshold},
    ]
    if judgement_reason:
        score.append({"url": "professional-judgement", "valueString": judgement_reason})
    return {
        "resourceType": "RiskAssessment",
        "meta": {"profile": [ASSESSMENT_PROFILE]},
        "extension": [{"url": SCORE_URL, "extension": score}],
        "status": "final",
        "method": {
            "coding": [
                {
                    "system": f"{CODE_SYSTEM}/safety-method",
                    "code": CHECKLIST_ID,
                    "display": CHECKLIST_TITLE,
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": isoformat(assessed_at),
        "performer": {"display": performer},
        "basis": [
            {"reference": f"QuestionnaireResponse/{answers_id}"},
            {"reference": f"CarePlan/{plan_id}"},
        ],
        "prediction": [
            {
                "outcome": {"text": "Serious harm from a partner or former partner"},
                "qualitativeRisk": {
                    "coding": [{"system": RISK_SYSTEM, "code": risk, "display": RISKS[risk]}]
                },
                "rationale": rationale,
            }
        ],
    }


def safety_flag(
    *,
    patient_id: str,
    assessment_id: str,
    raised_at: datetime,
    ended_at: datetime | None = None,
) -> dict[str, Any]:
    period: dict[str, str] = {"start": isoformat(raised_at)}
    if ended_at is not None:
        period["end"] = isoformat(ended_at)
    return {
        "resourceType": "Flag",
        "meta": {"profile": [FLAG_PROFILE]},
        "extension": [
            {
                "url": FLAG_DETAIL_URL,
                "valueReference": {"reference": f"RiskAssessment/{assessment_id}"},
            }
        ],
        "status": "inactive" if ended_at is not None else "active",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}]}
        ],
        "code": {
            "coding": [{"system": FLAG_SYSTEM, "code": "high-risk", "display": FLAGS["high-risk"]}]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": period,
    }


def safety_plan_extension(plan: SafetyPlan, assessment_id: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "assessment", "valueReference": {"reference": f"RiskAssessment/{assessment_id}"}}
    ]
    parts += [{"url": "safe-place", "valueString": place} for place in plan.safe_places]
    parts += [{"url": "person-to-call", "valueString": person} for person in plan.people_to_call]
    if plan.code_word:
        parts.append({"url": "code-word", "valueString": plan.code_word})
    parts += [
        {
            "url": "keep-ready",
            "valueCoding": {"system": KEEP_READY_SYSTEM, "code": code, "display": KEEP_READY[code]},
        }
        for code in plan.keep_ready
    ]
    if plan.keep_ready_other:
        parts.append({"url": "keep-ready-other", "valueString": plan.keep_ready_other})
    parts += [
        {
            "url": "referral",
            "valueReference": {"reference": f"ServiceRequest/{referral_id}", "display": words},
        }
        for referral_id, words in plan.referrals
    ]
    return {"url": SAFETY_PLAN_URL, "extension": parts}


def with_safety_plan(
    care_plan: Mapping[str, Any], plan: SafetyPlan, assessment_id: str
) -> dict[str, Any]:
    """Her follow-up CarePlan with this safety plan (replacing any earlier one) and
    the assessment it was recorded with among its supporting information."""
    content = dict(care_plan)
    extensions = [e for e in content.get("extension", []) if e.get("url") != SAFETY_PLAN_URL]
    extensions.append(safety_plan_extension(plan, assessment_id))
    content["extension"] = extensions
    supporting = [
        s
        for s in content.get("supportingInfo", [])
        if not str(s.get("reference", "")).startswith("RiskAssessment/")
    ]
    content["supportingInfo"] = [*supporting, {"reference": f"RiskAssessment/{assessment_id}"}]
    return content


def safety_plan_of(care_plan: Mapping[str, Any]) -> SafetyPlan | None:
    found = next(
        (e for e in care_plan.get("extension", []) if e.get("url") == SAFETY_PLAN_URL), None
    )
    if found is None:
        return None
    parts: Sequence[Mapping[str, Any]] = found.get("extension", [])

    def strings(url: str) -> tuple[str, ...]:
        return tuple(str(p["valueString"]) for p in parts if p["url"] == url)

    code_word = strings("code-word")
    other = strings("keep-ready-other")
    return SafetyPlan(
        safe_places=strings("safe-place"),
        people_to_call=strings("person-to-call"),
        code_word=code_word[0] if code_word else None,
        keep_ready=tuple(p["valueCoding"]["code"] for p in parts if p["url"] == "keep-ready"),
        keep_ready_other=other[0] if other else None,
        referrals=tuple(
            (
                str(p["valueReference"]["reference"]).removeprefix("ServiceRequest/"),
                str(p["valueReference"].get("display", "")),
            )
            for p in parts
            if p["url"] == "referral"
        ),
    )
