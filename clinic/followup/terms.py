"""The words of follow-up, in one table (a languages issue will translate them):
codes of our CodeSystems (fhir_profiles/) with what people read for them."""

from __future__ import annotations

from clinic.fhir.canonical import CODE_SYSTEM

ITEM_SYSTEM = f"{CODE_SYSTEM}/followup-item"
RESPONSIBLE_SYSTEM = f"{CODE_SYSTEM}/followup-responsible"
PLAN_CATEGORY_SYSTEM = f"{CODE_SYSTEM}/followup-plan"
SERVICE_KIND_SYSTEM = f"{CODE_SYSTEM}/partner-service-kind"

# Who carries an item (CodeSystem followup-responsible).
RESPONSIBLE: dict[str, str] = {
    "clinic": "The clinic (follow-up clinician)",
    "counselling-team": "The counselling and advocacy team",
    "survivor": "She does it herself",
    "gp": "Her GP",
}

# What kind of thing an item is, and the FHIR resource that carries it out
# (CarePlan.activity.detail.kind).
ITEM_KINDS: dict[str, tuple[str, str]] = {
    "visit": ("Visit", "Appointment"),
    "test": ("Test", "ServiceRequest"),
    "vaccine": ("Vaccine dose", "MedicationRequest"),
    "check": ("Check", "Task"),
    "referral": ("Referral", "ServiceRequest"),
}

# Kinds of partner service she may want to be referred to (CodeSystem
# partner-service-kind); the directory of partners uses the same codes.
SERVICE_KINDS: dict[str, str] = {
    "refuge": "Refuge or shelter",
    "independent-advocate": "Independent sexual violence advocate",
    "legal-aid": "Legal aid",
    "housing": "Housing",
    "mental-health": "Mental health",
    "sexual-health": "Sexual health",
    "childrens-services": "Children's services",
    "substance-use": "Substance use",
    "immigration-advice": "Immigration advice",
}

# CarePlan.activity.detail.status as the screens say it.
ITEM_STATUS: dict[str, str] = {
    "not-started": "Due",
    "scheduled": "Booked",
    "completed": "Done",
    "cancelled": "Not needed",
}
OPEN_ITEM_STATUSES = frozenset({"not-started", "scheduled"})

PLAN_STATUS: dict[str, str] = {
    "active": "Agreed with her",
    "completed": "Completed",
    "revoked": "Ended",
}

# Why an item is in her plan, as the plan says it (CarePlan.activity.detail.reasonCode.text).
REASON_WORDS: dict[str, str] = {
    "exam": "counted from the exam on {day}",
    "treatment": "{treatment} given on {day}",
    "exposure": "counted from the assault on {day}",
    "referral": "she asked to be referred",
}
