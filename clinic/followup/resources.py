"""The follow-up plan as FHIR: a CarePlan (fc-care-plan) and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from clinic.core.clock import isoformat
from clinic.fhir.canonical import STRUCTURE_DEFINITION
from clinic.followup.terms import (
    ITEM_KINDS,
    ITEM_SYSTEM,
    PLAN_CATEGORY_SYSTEM,
    RESPONSIBLE,
    RESPONSIBLE_SYSTEM,
    SERVICE_KIND_SYSTEM,
    SERVICE_KINDS,
)

CARE_PLAN_PROFILE = f"{STRUCTURE_DEFINITION}/fc-care-plan"
AGREEMENT_URL = f"{STRUCTURE_DEFINITION}/fc-followup-agreement"
RESPONSIBLE_URL = f"{STRUCTURE_DEFINITION}/fc-followup-responsible"
PLAN_CATEGORY = "followup-after-exam"
REFERRAL = "referral"


@dataclass(frozen=True)
class PlanItem:
    """One item of her plan, as the plan records it."""

    code: str  # followup-item
    kind: str  # terms.ITEM_KINDS
    label: str
    due_on: date
    responsible: str  # terms.RESPONSIBLE
    status: str = "not-started"
    reason: str = ""  # why it is in the plan, in words
    service_kind: str | None = None  # referrals: partner-service-kind

    @property
    def is_referral(self) -> bool:
        return self.code == REFERRAL


def care_plan(
    *,
    patient_id: str,
    exam_id: str,
    starts_on: date,
    created_at: datetime,
    reviewed_by: str,
    items: Sequence[PlanItem],
    status: str = "active",
) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "meta": {"profile": [CARE_PLAN_PROFILE]},
        "extension": [
            {
                "url": AGREEMENT_URL,
                "extension": [
                    {"url": "agreed-with-her", "valueBoolean": True},
                    {"url": "reviewed-by", "valueString": reviewed_by},
                    {"url": "agreed-at", "valueDateTime": isoformat(created_at)},
                ],
            }
        ],
        "status": status,
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": PLAN_CATEGORY_SYSTEM,
                        "code": PLAN_CATEGORY,
                        "display": "Follow-up after the exam",
                    }
                ]
            }
        ],
        "title": "Follow-up plan",
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{exam_id}"},
        "period": {"start": starts_on.isoformat()},
        "created": isoformat(created_at),
        "activity": [_activity(item) for item in items],
    }


def _activity(item: PlanItem) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "extension": [
            {
                "url": RESPONSIBLE_URL,
                "valueCoding": {
                    "system": RESPONSIBLE_SYSTEM,
                    "code": item.responsible,
                    "display": RESPONSIBLE[item.responsible],
                },
            }
        ],
        "kind": ITEM_KINDS[item.kind][1],
        "code": {
            "coding": [{"system": ITEM_SYSTEM, "code": item.code, "display": _item_display(item)}],
            "text": item.label,
        },
        "status": item.status,
        "scheduledPeriod": {"start": item.due_on.isoformat()},
        "description": item.label,
    }
    reasons: list[dict[str, Any]] = []
    if item.service_kind is not None:
        reasons.append(
            {
                "coding": [
                    {
                        "system": SERVICE_KIND_SYSTEM,
                        "code": item.service_kind,
                        "display": SERVICE_KINDS[item.service_kind],
                    }
                ]
            }
        )
    if item.reason:
        reasons.append({"text": item.reason})
    if reasons:
        detail["reasonCode"] = reasons
    return {"detail": detail}


def _item_display(item: PlanItem) -> str:
    # The CodeSystem's display: the default schedule's label, or "Referral ...".
    from clinic.followup.codes import ITEM_DISPLAY

    return ITEM_DISPLAY.get(item.code, item.label)


def items_of(content: Mapping[str, Any]) -> list[PlanItem]:
    items = []
    for activity in content.get("activity", []):
        detail = activity["detail"]
        coding = detail["code"]["coding"][0]
        service_kind = None
        reason = ""
        for concept in detail.get("reasonCode", []):
            for code in concept.get("coding", []):
                if code.get("system") == SERVICE_KIND_SYSTEM:
                    service_kind = code["code"]
            reason = concept.get("text", reason)
        responsible = detail["extension"][0]["valueCoding"]["code"]
        kind = next(
            (k for k, (_, resource) in ITEM_KINDS.items() if resource == detail["kind"]), "check"
        )
        if coding["code"] == REFERRAL:
            kind = "referral"
        items.append(
            PlanItem(
                code=coding["code"],
                kind=kind,
                label=detail.get("description") or detail["code"].get("text", ""),
                due_on=date.fromisoformat(detail["scheduledPeriod"]["start"]),
                responsible=responsible,
                status=detail["status"],
                reason=reason,
                service_kind=service_kind,
            )
        )
    return items
