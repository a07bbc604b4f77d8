"""The follow-up plan as FHIR: a CarePlan (fc-care-plan) and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from clinic.core.clock import isoformat
from clinic.fhir.canonical import STRUCTURE_DEFINITION
from clinic.followup.terms import (
    CHANNEL_SYSTEM,
    CHANNELS,
    CONTACT_OUTCOME_SYSTEM,
    CONTACT_OUTCOMES,
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
CONTACT_URL = f"{STRUCTURE_DEFINITION}/fc-followup-contact"
CONTACT_ATTEMPT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-contact-attempt"


@dataclass(frozen=True)
class SafeContactPlan:
    """How she agreed to be contacted for follow-up."""

    channels: tuple[str, ...]  # terms.CHANNELS she allowed
    safe_times: str | None = None
    asks_code_word: bool = False


def contact_extension(contact: SafeContactPlan) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {
            "url": "channel",
            "valueCoding": {"system": CHANNEL_SYSTEM, "code": code, "display": CHANNELS[code]},
        }
        for code in contact.channels
    ]
    if contact.safe_times:
        parts.append({"url": "safe-times", "valueString": contact.safe_times})
    parts.append({"url": "ask-code-word", "valueBoolean": contact.asks_code_word})
    return {"url": CONTACT_URL, "extension": parts}


def with_contact(content: Mapping[str, Any], contact: SafeContactPlan) -> dict[str, Any]:
    """Her plan with new contact wishes in place of the old (the rest unchanged)."""
    changed = dict(content)
    changed["extension"] = [
        contact_extension(contact) if extension.get("url") == CONTACT_URL else extension
        for extension in content.get("extension", [])
    ]
    return changed


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
    contact: SafeContactPlan,
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
            },
            contact_extension(contact),
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


APPOINTMENT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-appointment"
PLAN_ITEM_URL = f"{STRUCTURE_DEFINITION}/fc-followup-plan-item"


def appointment(
    *,
    patient_id: str,
    plan_id: str,
    item: PlanItem,
    starts_at: datetime,
    minutes: int,
    booked_at: datetime,
    status: str = "booked",
) -> dict[str, Any]:
    """An appointment for one item of her plan (fc-appointment)."""
    from datetime import timedelta

    return {
        "resourceType": "Appointment",
        "meta": {"profile": [APPOINTMENT_PROFILE]},
        "extension": [
            {
                "url": PLAN_ITEM_URL,
                "valueCoding": {
                    "system": ITEM_SYSTEM,
                    "code": item.code,
                    "display": _item_display(item),
                },
            }
        ],
        "status": status,
        "description": item.label,
        "start": isoformat(starts_at),
        "end": isoformat(starts_at + timedelta(minutes=minutes)),
        "minutesDuration": minutes,
        "created": isoformat(booked_at),
        "supportingInformation": [{"reference": f"CarePlan/{plan_id}"}],
        "participant": [
            {
                "actor": {"reference": f"Patient/{patient_id}"},
                "status": "accepted",
            }
        ],
    }


def contact_attempt(
    *,
    patient_id: str,
    plan_id: str,
    channel: str,
    outcome: str,
    attempted_at: datetime,
    attempted_by: str,
    note: str | None,
) -> dict[str, Any]:
    """A contact attempt (fc-contact-attempt): completed when she was reached,
    not-done with the reason otherwise. It has no payload: nothing is sent."""
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "meta": {"profile": [CONTACT_ATTEMPT_PROFILE]},
        "basedOn": [{"reference": f"CarePlan/{plan_id}"}],
        "status": "completed" if outcome == "reached" else "not-done",
        "medium": [
            {"coding": [{"system": CHANNEL_SYSTEM, "code": channel, "display": CHANNELS[channel]}]}
        ],
        "subject": {"reference": f"Patient/{patient_id}"},
        "recipient": [{"reference": f"Patient/{patient_id}"}],
        "sent": isoformat(attempted_at),
        "sender": {"display": attempted_by},
    }
    outcome_coding = {
        "system": CONTACT_OUTCOME_SYSTEM,
        "code": outcome,
        "display": CONTACT_OUTCOMES[outcome],
    }
    resource["extension"] = [
        {"url": f"{STRUCTURE_DEFINITION}/fc-contact-outcome", "valueCoding": outcome_coding}
    ]
    if outcome != "reached":
        resource["statusReason"] = {"coding": [outcome_coding]}
    if note:
        resource["note"] = [{"text": note}]
    return resource


COUNSELLING_NOTE_PROFILE = f"{STRUCTURE_DEFINITION}/fc-counselling-note"
DOCUMENT_SYSTEM = f"{ITEM_SYSTEM.rsplit('/', 1)[0]}/followup-document"


def counselling_note(
    *, patient_id: str, text: str, written_at: datetime, author: str
) -> dict[str, Any]:
    """A counsellor's note (fc-counselling-note): the text inline, nothing else."""
    import base64

    return {
        "resourceType": "DocumentReference",
        "meta": {"profile": [COUNSELLING_NOTE_PROFILE]},
        "status": "current",
        "type": {
            "coding": [
                {
                    "system": DOCUMENT_SYSTEM,
                    "code": "counselling-note",
                    "display": "Counselling note",
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": isoformat(written_at),
        "author": [{"display": author}],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                    "title": "Counselling note",
                }
            }
        ],
    }


def note_text(content: Mapping[str, Any]) -> str:
    import base64

    return base64.b64decode(content["content"][0]["attachment"]["data"]).decode("utf-8")
