"""The words of follow-up, in one table: codes of our CodeSystems (fhir_profiles/)
with their English display, which records carry (screens show the CodeSystem's
designation in the reader's language: clinic.fhir.terminology), and the words of
statuses, marked for the catalogues (N_) and translated where they are shown."""

from __future__ import annotations

from clinic.fhir.canonical import CODE_SYSTEM
from clinic.i18n import N_

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
    "visit": (N_("Visit"), "Appointment"),
    "test": (N_("Test"), "ServiceRequest"),
    "vaccine": (N_("Vaccine dose"), "MedicationRequest"),
    "check": (N_("Check"), "Task"),
    "referral": (N_("Referral"), "ServiceRequest"),
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

# A referral's status (its Task): sent, then accepted or declined by the partner (or
# declined by her when offered), attended, closed. Value -> the words on screen.
REFERRAL_STATUS: dict[str, str] = {
    "sent": N_("Sent"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "attended": N_("Attended"),
    "closed": N_("Closed"),
}
# Which status may follow which (anything else is refused).
REFERRAL_NEXT: dict[str, tuple[str, ...]] = {
    "sent": ("accepted", "declined", "closed"),
    "accepted": ("attended", "closed"),
    "attended": ("closed",),
    "declined": ("closed",),
    "closed": (),
}

# CarePlan.activity.detail.status as the screens say it.
ITEM_STATUS: dict[str, str] = {
    "not-started": N_("Due"),
    "scheduled": N_("Booked"),
    "completed": N_("Done"),
    "cancelled": N_("Not needed"),
}
OPEN_ITEM_STATUSES = frozenset({"not-started", "scheduled"})

PLAN_STATUS: dict[str, str] = {
    "active": N_("Agreed with her"),
    "completed": N_("Completed"),
    "revoked": N_("Ended"),
}

# Why an item is in her plan, as the plan says it (CarePlan.activity.detail.reasonCode.text).
REASON_WORDS: dict[str, str] = {
    "exam": "counted from the exam on {day}",
    "treatment": "{treatment} given on {day}",
    "exposure": "counted from the assault on {day}",
    "referral": "she asked to be referred",
}
# The same, marked for the catalogues: how screens say them (the plan keeps the English).
REASON_MESSAGES: dict[str, str] = {
    "exam": N_("counted from the exam on %(day)s"),
    "treatment": N_("%(treatment)s given on %(day)s"),
    "exposure": N_("counted from the assault on %(day)s"),
    "referral": N_("she asked to be referred"),
}

# Appointment.status as the screens say it: booked, then attended, missed or cancelled.
APPOINTMENT_STATUS: dict[str, str] = {
    "booked": N_("Booked"),
    "fulfilled": N_("Attended"),
    "noshow": N_("Missed"),
    "cancelled": N_("Cancelled"),
}
# What the counsellor records after the appointment time.
APPOINTMENT_OUTCOMES = ("fulfilled", "noshow", "cancelled")

# Why she is back on the caseload for contact.
CONTACT_REASONS: dict[str, str] = {
    "missed-appointment": N_("Missed appointment: contact her"),
}

CHANNEL_SYSTEM = f"{CODE_SYSTEM}/contact-channel"
CONTACT_OUTCOME_SYSTEM = f"{CODE_SYSTEM}/contact-outcome"

# How we may contact her (CodeSystem contact-channel), as she agreed.
CHANNELS: dict[str, str] = {
    "call": "Phone call",
    "text": "Text message",
    "voicemail": "Voicemail",
    "email": "Email",
}
# What came of a contact attempt (CodeSystem contact-outcome).
CONTACT_OUTCOMES: dict[str, str] = {
    "reached": "Reached her",
    "no-answer": "No answer",
    "not-safe": "Not safe to talk",
    "wrong-number": "Wrong number",
}
