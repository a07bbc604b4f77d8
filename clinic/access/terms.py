"""The words consent is made of (docs/design.md section 5), shared by the consent forms,
the Consent resources and the decision point.

Each consent item maps to a provision: an action, data classes (or codes), security
labels, a kind of recipient and a purpose of use. A request is described in the
same words (`data_classes_of` says which classes a stored record belongs to), so
that a provision and a request can be compared without interpretation.
"""

from __future__ import annotations

from typing import Any

from clinic.fhir.canonical import CODE_SYSTEM

CONSENT_ACTION_HL7 = "http://terminology.hl7.org/CodeSystem/consentaction"
CONSENT_ACTION_OURS = f"{CODE_SYSTEM}/consent-action"
DATA_CLASS_SYSTEM = f"{CODE_SYSTEM}/consent-data-class"
RECIPIENT_SYSTEM = f"{CODE_SYSTEM}/consent-recipient"
EXAM_PART_SYSTEM = f"{CODE_SYSTEM}/consent-exam-part"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# action -> (code system, display). HL7's consentaction where it has the word.
ACTIONS: dict[str, tuple[str, str]] = {
    "access": (CONSENT_ACTION_HL7, "Access"),
    "collect": (CONSENT_ACTION_HL7, "Collect"),
    "use": (CONSENT_ACTION_HL7, "Use"),
    "disclose": (CONSENT_ACTION_HL7, "Disclose"),
    "examine": (CONSENT_ACTION_OURS, "Examine"),
    "treat": (CONSENT_ACTION_OURS, "Treat"),
    "store": (CONSENT_ACTION_OURS, "Store"),
    "photograph": (CONSENT_ACTION_OURS, "Photograph"),
}

# What a provision can be about. Evidence classes follow the evidence types.
DATA_CLASSES: dict[str, str] = {
    "identity": "her name, date of birth and contact details",
    "exam-report": "the exam report and its findings",
    "assault-account": "her own account of what happened",
    "treatment": "the treatment given",
    "non-intimate-photos": "non-intimate photographs",
    "intimate-images": "intimate (anogenital) images",
    "evidence-swab": "swabs",
    "evidence-blood": "blood samples",
    "evidence-urine": "urine samples",
    "evidence-clothing": "clothing",
    "evidence-hair": "hair",
    "evidence-fingernail": "fingernail scrapings or cuttings",
    "evidence-debris": "debris",
    "evidence-other": "other evidence items",
    "toxicology": "toxicology samples and results",
    "lab-results": "laboratory tests other than toxicology (infections, pregnancy)",
    "health-history": "her health before the assault: medical, surgical and gynaecological "
    "history, medicines, allergies, disabilities, last consensual intercourse",
    "mental-health": "her mental state, thoughts of harm and immediate safety",
    "counselling-notes": "counselling notes",
    "deidentified": "figures with nothing that identifies her",
}

# Parts of the examination and treatment (consent to care, not to data).
EXAM_PARTS: dict[str, str] = {
    "general-exam": "general examination",
    "anogenital-exam": "anogenital examination",
    "speculum-exam": "speculum examination",
    "treatment": "treatment and medication",
}

RECIPIENTS: dict[str, str] = {
    "case-examiner": "the examiners of her case",
    "counselling-service": "the clinic's counselling and advocacy team",
    "gp": "her GP",
    "advocate": "an independent advocate",
    "social-services": "social services",
    "medical-expert": "a medical expert she names",
    "police": "a police force",
    "statistics": "the clinic's anonymous statistics",
    "anyone": "anyone at the organisation, or the person, she names",
}

# v3 PurposeOfUse codes a provision may name.
PURPOSES: dict[str, str] = {
    "TREAT": "treatment",
    "HLEGAL": "legal",
    "HOPERAT": "healthcare operations",
    "HRESCH": "healthcare research",
    "PUBHLTH": "public health",
}

# Security labels a provision may name: system|code as stored on resources.
LABELS: dict[str, str] = {
    "http://terminology.hl7.org/CodeSystem/v3-ActCode|SDV": "sexual violence information",
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R": "restricted",
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V": "very restricted",
}
VERY_RESTRICTED = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V"

_EXAM_SECTION = f"{CODE_SYSTEM}/exam-section"
# Exam sections that hold her own account (`assault-account`): the history in her
# words, the incident as she tells it, and the strangulation she reports (its
# visible signs, section strangulation-signs, are the examiner's findings).
HER_ACCOUNT_SECTIONS = frozenset({"history", "incident", "strangulation"})
# Laboratory tests (exam section `laboratory`) are classed by the test, request
# and result alike: toxicology under `toxicology`, as her evidence-collection and
# police-release forms word it ("samples and toxicology results"); every other test
# (infections, pregnancy) under `lab-results`, which no release form grants: her
# "exam report" is the examination and its findings, not her test results.
_LABORATORY_SECTION = "laboratory"
# Minimum necessary: exam sections about her health rather than the assault, each
# with the class its records carry beside `exam-report` (so her care team and the
# counselling team her information-sharing consent names still read them). The
# police never receive these classes, whatever a release form grants
# (NEVER_TO_POLICE): her medical history and mental state do not prove or disprove
# an assault, and the date of her last consensual intercourse, which the forensic
# laboratory needs to interpret DNA, goes to the laboratory with the samples, not
# to the police.
WITHHELD_SECTIONS: dict[str, str] = {
    "baseline": "health-history",
    "mental-state": "mental-health",
}
# The resources her clinical baseline's answers are also written as.
BASELINE_TYPES = frozenset({"AllergyIntolerance", "MedicationStatement", "Condition"})
# Classes no release to police ever holds (the decision point refuses them even
# where a form's provision would match).
MENTAL_HEALTH = "mental-health"
NEVER_TO_POLICE = frozenset({"health-history", MENTAL_HEALTH, "lab-results"})
_LAB_TEST = f"{CODE_SYSTEM}/lab-test"
TOXICOLOGY_TESTS = frozenset({"toxicology-blood", "toxicology-urine"})
_EVIDENCE_TYPE = f"{CODE_SYSTEM}/evidence-type"
_TOXICOLOGY_SAMPLES = {"blood", "urine"}


_EXAM_OBSERVATION = f"{CODE_SYSTEM}/exam-observation"

# The exam answers (Observations, "section/code") the safety carry-over reads, and
# nothing else of her exam: the carry-over table (clinic/followup/safety_checklist.py
# CARRY_OVER: mental state, incident, acts described), the assailants'
# relationship (is it a partner case) and whether injuries were recorded.
# tests/followup/test_safety.py checks the table reads nothing outside these.
SAFETY_CARRY_OVER_ANSWERS = frozenset(
    {
        "mental-state/mental-state-safety",
        "incident/incident-details",
        "incident/assailant",
        "history/acts-described",
        "injuries/injury",
    }
)


def exam_answer_of(resource_type: str, content: dict[str, Any]) -> str | None:
    """An exam Observation's section and code ("section/code"); None for anything
    else. For decisions that grant single exam answers (the safety carry-over)."""
    if resource_type != "Observation" or "encounter" not in content:
        return None
    sections = [
        coding.get("code")
        for category in content.get("category", [])
        for coding in category.get("coding", [])
        if coding.get("system") == _EXAM_SECTION
    ]
    codes = [
        coding.get("code")
        for coding in content.get("code", {}).get("coding", [])
        if coding.get("system") == _EXAM_OBSERVATION
    ]
    if len(sections) != 1 or len(codes) != 1:
        return None
    return f"{sections[0]}/{codes[0]}"


def data_classes_of(resource_type: str, content: dict[str, Any]) -> frozenset[str]:
    """The data classes a stored record belongs to, read from the record itself."""
    if resource_type == "Patient":
        return frozenset({"identity"})
    if resource_type in ("Encounter", "Composition"):
        return frozenset({"exam-report"})
    if resource_type == "MedicationAdministration":
        return frozenset({"exam-report", "treatment"})
    if resource_type == "Observation":
        if "encounter" not in content:
            return frozenset()
        sections = {
            coding.get("code")
            for category in content.get("category", [])
            for coding in category.get("coding", [])
            if coding.get("system") == _EXAM_SECTION
        }
        if _LABORATORY_SECTION in sections:
            tests = {
                coding.get("code")
                for coding in content.get("code", {}).get("coding", [])
                if coding.get("system") == _LAB_TEST
            }
            return frozenset({"toxicology"} if tests & TOXICOLOGY_TESTS else {"lab-results"})
        classes = {"exam-report"}
        classes.update(WITHHELD_SECTIONS[s] for s in sections if s in WITHHELD_SECTIONS)
        for category in content.get("category", []):
            for coding in category.get("coding", []):
                if (
                    coding.get("system") == _EXAM_SECTION
                    and coding.get("code") in HER_ACCOUNT_SECTIONS
                ):
                    classes.add("assault-account")
        return frozenset(classes)
    if resource_type in BASELINE_TYPES:
        # Her allergies, medicines and history read from the exam's clinical
        # baseline (clinic/exam/baseline.py): classed as the baseline Observation.
        return frozenset({"exam-report", WITHHELD_SECTIONS["baseline"]})
    if resource_type == "DocumentReference":
        return frozenset({"counselling-notes"})
    if resource_type == "Specimen":
        classes = set()
        for coding in content.get("type", {}).get("coding", []):
            if coding.get("system") == _EVIDENCE_TYPE and coding.get("code") != "kit":
                classes.add(f"evidence-{coding['code']}")
                if coding["code"] in _TOXICOLOGY_SAMPLES:
                    classes.add("toxicology")
        return frozenset(classes)
    if resource_type == "Media":
        very_restricted = any(
            f"{label.get('system')}|{label.get('code')}" == VERY_RESTRICTED
            for label in content.get("meta", {}).get("security", [])
        )
        return frozenset({"intimate-images" if very_restricted else "non-intimate-photos"})
    return frozenset()
