"""The search parameters the server supports, declared once.

The CapabilityStatement, the index and the query parser are all made from this
table, so the server cannot claim a parameter it does not implement.
"""

from __future__ import annotations

from dataclasses import dataclass

HL7_SP = "http://hl7.org/fhir/SearchParameter"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # token | reference | date
    definition: str
    documentation: str
    expression: str | None = None  # FHIRPath for indexed parameters
    target_types: tuple[str, ...] = ()


RESOURCE_PARAMS = (
    SearchParam(
        "_id", "token", f"{HL7_SP}/Resource-id", "Logical id; several separated by commas."
    ),
    SearchParam(
        "_lastUpdated",
        "date",
        f"{HL7_SP}/Resource-lastUpdated",
        "When the current version was written; prefixes eq, gt, ge, lt, le, sa, eb; repeat for a range.",
    ),
)

TYPE_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        SearchParam(
            "identifier",
            "token",
            f"{HL7_SP}/Patient-identifier",
            "A survivor identifier or case reference: system|value, |value or value.",
            "Patient.identifier",
        ),
    ),
    "Observation": (
        SearchParam(
            "identifier",
            "token",
            f"{HL7_SP}/clinical-identifier",
            "An observation identifier: system|value, |value or value.",
            "Observation.identifier",
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/Observation-subject",
            "The survivor the observation is about: Patient/id or id.",
            "Observation.subject",
            ("Patient",),
        ),
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor the observation is about: Patient/id or id.",
            "Observation.subject",
            ("Patient",),
        ),
        SearchParam(
            "encounter",
            "reference",
            f"{HL7_SP}/clinical-encounter",
            "The exam the observation was recorded in: Encounter/id or id.",
            "Observation.encounter",
            ("Encounter",),
        ),
        SearchParam(
            "category",
            "token",
            f"{HL7_SP}/Observation-category",
            "The exam step (exam-section) or vital-signs: system|code, |code or code.",
            "Observation.category",
        ),
        SearchParam(
            "code",
            "token",
            f"{HL7_SP}/clinical-code",
            "What was observed (LOINC or our exam-observation codes): system|code or code.",
            "Observation.code",
        ),
    ),
    "Encounter": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor examined: Patient/id or id.",
            "Encounter.subject",
            ("Patient",),
        ),
        SearchParam(
            "episode-of-care",
            "reference",
            f"{HL7_SP}/Encounter-episode-of-care",
            "The case the exam belongs to: EpisodeOfCare/id or id.",
            "Encounter.episodeOfCare",
            ("EpisodeOfCare",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Encounter-status",
            "in-progress (being recorded) or finished (signed off).",
            "Encounter.status",
        ),
    ),
    "MedicationAdministration": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor treated: Patient/id or id.",
            "MedicationAdministration.subject",
            ("Patient",),
        ),
        SearchParam(
            "context",
            "reference",
            f"{HL7_SP}/MedicationAdministration-context",
            "The exam the treatment was given at: Encounter/id or id.",
            "MedicationAdministration.context",
            ("Encounter",),
        ),
    ),
    "AllergyIntolerance": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor: Patient/id or id.",
            "AllergyIntolerance.patient",
            ("Patient",),
        ),
    ),
    "MedicationStatement": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor: Patient/id or id.",
            "MedicationStatement.subject",
            ("Patient",),
        ),
        SearchParam(
            "context",
            "reference",
            f"{HL7_SP}/MedicationStatement-context",
            "The exam it was recorded at: Encounter/id or id.",
            "MedicationStatement.context",
            ("Encounter",),
        ),
    ),
    "Condition": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor: Patient/id or id.",
            "Condition.subject",
            ("Patient",),
        ),
        SearchParam(
            "encounter",
            "reference",
            f"{HL7_SP}/clinical-encounter",
            "The exam it was recorded at: Encounter/id or id.",
            "Condition.encounter",
            ("Encounter",),
        ),
    ),
    "Composition": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor the report is about: Patient/id or id.",
            "Composition.subject",
            ("Patient",),
        ),
        SearchParam(
            "encounter",
            "reference",
            f"{HL7_SP}/clinical-encounter",
            "The exam reported on: Encounter/id or id.",
            "Composition.encounter",
            ("Encounter",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Composition-status",
            "final (signed) or amended (corrected after signing).",
            "Composition.status",
        ),
    ),
    "Consent": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "Whose consent: Patient/id or id.",
            "Consent.patient",
            ("Patient",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Consent-status",
            "active (in force) or inactive (replaced or withdrawn).",
            "Consent.status",
        ),
        SearchParam(
            "category",
            "token",
            f"{HL7_SP}/Consent-category",
            "Which form: consent-form code (e.g. police-release), or the LOINC category.",
            "Consent.category",
        ),
    ),
    "Specimen": (
        SearchParam(
            "identifier",
            "token",
            f"{HL7_SP}/Specimen-identifier",
            "The label printed on the kit or item: system|value, |value or value.",
            "Specimen.identifier",
        ),
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/Specimen-patient",
            "The survivor the evidence was collected from: Patient/id or id.",
            "Specimen.subject",
            ("Patient",),
        ),
        SearchParam(
            "parent",
            "reference",
            f"{HL7_SP}/Specimen-parent",
            "The kit an item belongs to: Specimen/id or id.",
            "Specimen.parent",
            ("Specimen",),
        ),
    ),
    "Media": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/Media-patient",
            "The survivor photographed: Patient/id or id.",
            "Media.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/Media-subject",
            "The survivor photographed: Patient/id or id.",
            "Media.subject",
            ("Patient",),
        ),
        SearchParam(
            "encounter",
            "reference",
            f"{HL7_SP}/Media-encounter",
            "The exam the photograph was taken in: Encounter/id or id.",
            "Media.encounter",
            ("Encounter",),
        ),
        SearchParam(
            "site",
            "token",
            f"{HL7_SP}/Media-site",
            "The body region photographed (body-region): system|code, |code or code.",
            "Media.bodySite",
        ),
        SearchParam(
            "view",
            "token",
            f"{HL7_SP}/Media-view",
            "The view (photo-view: overview, mid-range, close-up): system|code or code.",
            "Media.view",
        ),
    ),
    "EpisodeOfCare": (
        SearchParam(
            "identifier",
            "token",
            f"{HL7_SP}/clinical-identifier",
            "The case reference: system|value, |value or value.",
            "EpisodeOfCare.identifier",
        ),
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "The survivor whose case it is: Patient/id or id.",
            "EpisodeOfCare.patient",
            ("Patient",),
        ),
    ),
    "CarePlan": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "Whose follow-up plan: Patient/id or id.",
            "CarePlan.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/CarePlan-subject",
            "Whose follow-up plan: Patient/id or id.",
            "CarePlan.subject",
            ("Patient",),
        ),
        SearchParam(
            "encounter",
            "reference",
            f"{HL7_SP}/clinical-encounter",
            "The exam at whose sign-off the plan was proposed: Encounter/id or id.",
            "CarePlan.encounter",
            ("Encounter",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/CarePlan-status",
            "active (agreed with her, being carried out), completed or revoked.",
            "CarePlan.status",
        ),
        SearchParam(
            "activity-code",
            "token",
            f"{HL7_SP}/CarePlan-activity-code",
            "Plans holding an item of this kind: followup-item code, e.g. hiv-test-6-weeks.",
            "CarePlan.activity.detail.code",
        ),
    ),
    "Appointment": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/Appointment-patient",
            "Whose appointment: Patient/id or id.",
            "Appointment.participant.actor",
            ("Patient",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Appointment-status",
            "booked, fulfilled (attended), noshow (missed) or cancelled.",
            "Appointment.status",
        ),
        SearchParam(
            "supporting-info",
            "reference",
            f"{HL7_SP}/Appointment-supporting-info",
            "The follow-up plan the appointment is for: CarePlan/id or id.",
            "Appointment.supportingInformation",
            ("CarePlan",),
        ),
    ),
    "Communication": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/Communication-patient",
            "Whom the contact attempt was for: Patient/id or id.",
            "Communication.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/Communication-subject",
            "Whom the contact attempt was for: Patient/id or id.",
            "Communication.subject",
            ("Patient",),
        ),
        SearchParam(
            "based-on",
            "reference",
            f"{HL7_SP}/Communication-based-on",
            "The follow-up plan: CarePlan/id or id.",
            "Communication.basedOn",
            ("CarePlan",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Communication-status",
            "completed (she was reached) or not-done.",
            "Communication.status",
        ),
        SearchParam(
            "medium",
            "token",
            f"{HL7_SP}/Communication-medium",
            "The channel: contact-channel code (call, text, voicemail, email).",
            "Communication.medium",
        ),
    ),
    "DocumentReference": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "Whose counselling notes: Patient/id or id.",
            "DocumentReference.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/DocumentReference-subject",
            "Whose counselling notes: Patient/id or id.",
            "DocumentReference.subject",
            ("Patient",),
        ),
        SearchParam(
            "type",
            "token",
            f"{HL7_SP}/clinical-type",
            "The kind of document: followup-document code (counselling-note).",
            "DocumentReference.type",
        ),
    ),
    "RiskAssessment": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "Whose safety assessment: Patient/id or id.",
            "RiskAssessment.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/RiskAssessment-subject",
            "Whose safety assessment: Patient/id or id.",
            "RiskAssessment.subject",
            ("Patient",),
        ),
    ),
    "QuestionnaireResponse": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/QuestionnaireResponse-patient",
            "Whose checklist answers: Patient/id or id.",
            "QuestionnaireResponse.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/QuestionnaireResponse-subject",
            "Whose checklist answers: Patient/id or id.",
            "QuestionnaireResponse.subject",
            ("Patient",),
        ),
    ),
    "Flag": (
        SearchParam(
            "patient",
            "reference",
            f"{HL7_SP}/clinical-patient",
            "Whose flag: Patient/id or id.",
            "Flag.subject",
            ("Patient",),
        ),
        SearchParam(
            "subject",
            "reference",
            f"{HL7_SP}/Flag-subject",
            "Whose flag: Patient/id or id.",
            "Flag.subject",
            ("Patient",),
        ),
        SearchParam(
            "status",
            "token",
            f"{HL7_SP}/Flag-status",
            "active (she is at high risk now) or inactive.",
            "Flag.status",
        ),
    ),
    "Organization": (
        SearchParam(
            "identifier",
            "token",
            f"{HL7_SP}/Organization-identifier",
            "The organisation code: system|value, |value or value.",
            "Organization.identifier",
        ),
    ),
}

# Parameters on AuditEvent, which is served from the audit trail, not the store.
AUDIT_EVENT_PARAMS = (
    SearchParam(
        "date",
        "date",
        f"{HL7_SP}/AuditEvent-date",
        "When the event was recorded; prefixes as _lastUpdated.",
    ),
    SearchParam("altid", "token", f"{HL7_SP}/AuditEvent-altid", "The username of the acting user."),
    SearchParam(
        "entity",
        "reference",
        f"{HL7_SP}/AuditEvent-entity",
        "A resource the event concerned: Type/id.",
    ),
    SearchParam(
        "outcome",
        "token",
        f"{HL7_SP}/AuditEvent-outcome",
        "0 success, 4 refused or invalid, 8 failed.",
    ),
    SearchParam(
        "subtype",
        "token",
        f"{HL7_SP}/AuditEvent-subtype",
        "The interaction: read, search-type, create, login, ...",
    ),
)

# Result parameters understood on every search.
CONTROL_PARAMS = frozenset({"_count", "_cursor", "_format"})


# Provenance is served from the store's versions: no _id or _lastUpdated.
PROVENANCE_PARAMS = (
    SearchParam(
        "target",
        "reference",
        f"{HL7_SP}/Provenance-target",
        "Required. The record whose versions' provenance you want: Type/id.",
    ),
    # As on _history (FHIR defines no SearchParameter for it, so none is named).
    SearchParam(
        "_since",
        "date",
        "",
        "Only the provenance of versions written at or after this instant (with a time zone).",
    ),
)


def params_for(resource_type: str) -> dict[str, SearchParam]:
    if resource_type == "Provenance":
        return {param.name: param for param in PROVENANCE_PARAMS}
    if resource_type == "AuditEvent":
        return {param.name: param for param in (RESOURCE_PARAMS[0], *AUDIT_EVENT_PARAMS)}
    return {param.name: param for param in RESOURCE_PARAMS + TYPE_PARAMS.get(resource_type, ())}
