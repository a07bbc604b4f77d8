"""Our profiles: the examples conform, the loader refuses what it cannot check,
and every resource the system writes validates against fhir_profiles/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.fhir.outcome import FhirError
from clinic.fhir.profiles import PROFILES_DIR, ProfileError, ProfileRegistry
from clinic.fhir.validation import validate_resource
from tests.conftest import World
from tests.helpers import api, create, observation, patient

EXAMPLES = sorted((PROFILES_DIR / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_conforms_to_its_profile(registry: ProfileRegistry, path: Path) -> None:
    example = json.loads(path.read_text())
    released = example["meta"]["profile"][0] in registry.released_profiles.values()
    validate_resource(example, registry, released=released)
    (claimed,) = example["meta"]["profile"]
    assert registry.profiles[claimed].resource_type == example["resourceType"]


def test_every_profile_has_an_example(registry: ProfileRegistry) -> None:
    claimed = {json.loads(p.read_text())["meta"]["profile"][0] for p in EXAMPLES}
    # A base profile that only ever appears specialised is shown by its specialisations.
    shown = claimed | {base for url in claimed for base in registry.lineage(url)}
    assert shown == set(registry.profiles)
    assert claimed <= set(registry.profiles)


def test_a_specialised_profile_is_checked_with_every_profile_it_derives_from(
    registry: ProfileRegistry,
) -> None:
    injury = json.loads((PROFILES_DIR / "examples/Observation-example-injury.json").read_text())
    assert registry.lineage(injury["meta"]["profile"][0])[-2:] == [
        "https://forensic-care.org/fhir/StructureDefinition/fc-exam-finding",
        "https://forensic-care.org/fhir/StructureDefinition/fc-injury",
    ]
    broken = json.loads(json.dumps(injury))
    broken.pop("encounter")  # fc-exam-finding
    broken["component"][0]["valueQuantity"]["code"] = "cm"  # fc-injury
    broken["subject"] = {"reference": "Group/1"}  # fc-observation
    broken["valueCodeableConcept"]["coding"][0]["code"] = "scratch"  # required binding
    with pytest.raises(FhirError) as refused:
        validate_resource(broken, registry)
    found = json.dumps([i.diagnostics for i in refused.value.issues])
    for fragment in ("Observation.encounter must occur", "fc-inj-1", "fc-obs-1", "injury-type"):
        assert fragment in found
    unknown = json.loads(json.dumps(injury))
    unknown["meta"]["profile"] = ["https://forensic-care.org/fhir/StructureDefinition/fc-case"]
    with pytest.raises(FhirError, match="not supported here"):
        validate_resource(unknown, registry)


@pytest.mark.parametrize(
    ("example", "mutate", "fragment"),
    [
        ("Observation-example-timing", lambda d: d.pop("valuePeriod"), "fc-time-1"),
        (
            "Observation-example-timing",
            lambda d: d["valuePeriod"].pop("end"),
            "fc-time-2",
        ),
        (
            "Observation-example-guidance",
            lambda d: d["component"][0]["valueCodeableConcept"]["coding"][0].update(
                code="overridden"
            ),
            "fc-guide-2",
        ),
        ("Observation-example-guidance", lambda d: d.pop("component"), "fc-guide-1"),
        ("Observation-example-vital-sign", lambda d: d.pop("component"), "fc-vs-2"),
        ("Observation-example-vital-sign", lambda d: d["category"].pop(0), "fc-vs-1"),
        ("Observation-example-acts", lambda d: d.pop("category"), "fc-find-1"),
        (
            "MedicationAdministration-example-treatment",
            lambda d: d.update(status="not-done"),
            "fc-tx-4",
        ),
        (
            "MedicationAdministration-example-treatment",
            lambda d: d.update(context={"reference": "EpisodeOfCare/x"}),
            "fc-tx-2",
        ),
        ("Composition-example-report", lambda d: d.update(status="preliminary"), "fc-rep-3"),
        ("Composition-example-report", lambda d: d.update(confidentiality="N"), "fixed value"),
        ("Encounter-example-exam", lambda d: d.pop("episodeOfCare"), "Encounter.episodeOfCare"),
        ("Encounter-example-exam", lambda d: d["period"].pop("end"), "fc-enc-3"),
        # Consent: opt-in, the provision structure, the form's hash, who and how.
        ("Consent-example-information-sharing", lambda d: d.pop("policyRule"), "ppc-1"),
        (
            "Consent-example-information-sharing",
            lambda d: d["policyRule"]["coding"][0].update(code="OPTOUT"),
            "fc-consent-1",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["provision"].update(type="permit"),
            "fc-consent-2",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["provision"]["provision"][0].pop("extension"),
            "fc-consent-2",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["provision"]["provision"][1].update(
                type="deny", provision=[{"type": "permit"}]
            ),
            "fc-consent-3",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["sourceAttachment"].pop("extension"),
            "fc-consent-4",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["extension"].__setitem__(
                slice(None),
                [e for e in d["extension"] if not e["url"].endswith("free-choice")],
            ),
            "fc-consent-5",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["extension"][0]["extension"].pop(),
            "fc-consent-6",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d["extension"].__setitem__(
                slice(None),
                [e for e in d["extension"] if not e["url"].endswith("signature")],
            ),
            "fc-consent-7",
        ),
        ("Consent-example-information-sharing", lambda d: d.update(language="de"), "fc-consent-8"),
        (
            "Consent-example-information-sharing",
            lambda d: d.update(patient={"reference": "Group/1"}),
            "fc-consent-9",
        ),
        (
            "Consent-example-information-sharing",
            lambda d: d.pop("organization"),
            "Consent.organization",
        ),
    ],
)
def test_exam_profile_rules_are_enforced(
    registry: ProfileRegistry, example: str, mutate, fragment: str
) -> None:  # type: ignore[no-untyped-def]
    resource = json.loads((PROFILES_DIR / f"examples/{example}.json").read_text())
    mutate(resource)
    with pytest.raises(FhirError) as refused:
        validate_resource(resource, registry)
    assert fragment in json.dumps([i.diagnostics for i in refused.value.issues])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("subject"), "Observation.subject must occur 1..*"),
        (
            lambda d: d.update(subject={"display": "somebody"}),
            "Observation.subject.reference must occur 1..*",
        ),
        (lambda d: d.update(subject={"reference": "Group/1"}), "fc-obs-1"),
        (lambda d: d["meta"].update(security=[]), "fc-sec-1"),
    ],
)
def test_profile_rules_are_enforced(registry: ProfileRegistry, mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    example = json.loads((PROFILES_DIR / "examples/Observation-example.json").read_text())
    mutate(example)
    with pytest.raises(FhirError) as refused:
        validate_resource(example, registry)
    assert refused.value.status == 422
    assert fragment in json.dumps([i.diagnostics for i in refused.value.issues])


def test_organization_kind_binding_is_required(registry: ProfileRegistry) -> None:
    example = json.loads((PROFILES_DIR / "examples/Organization-example-site.json").read_text())
    example["type"][0]["coding"][0]["code"] = "bank"
    with pytest.raises(FhirError) as refused:
        validate_resource(example, registry)
    assert refused.value.issues[0].code == "code-invalid"
    assert refused.value.issues[0].expression == ("Organization.type",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["differential"]["element"].append(
                {"id": "Patient.name", "path": "Patient.name", "slicing": {"rules": "open"}}
            ),
            "unsupported",
        ),
        (
            lambda d: d["differential"]["element"].append(
                {
                    "id": "Patient.gender",
                    "path": "Patient.gender",
                    "binding": {
                        "strength": "required",
                        "valueSet": "http://example.org/ValueSet/none",
                    },
                }
            ),
            "unknown ValueSet",
        ),
        (lambda d: d.update(status="not-a-status"), "not a valid StructureDefinition"),
    ],
)
def test_the_loader_refuses_definitions_it_cannot_check(
    tmp_path: Path, change, message: str
) -> None:  # type: ignore[no-untyped-def]
    for path in PROFILES_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / "StructureDefinition-fc-patient.json"
    definition = json.loads(target.read_text())
    change(definition)
    target.write_text(json.dumps(definition))
    with pytest.raises(ProfileError) as refused:
        ProfileRegistry(tmp_path)
    assert "StructureDefinition-fc-patient.json" in str(refused.value)
    assert message in str(refused.value)


def test_everything_the_system_wrote_validates(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """Walk every stored version and every audit event after real activity."""
    from clinic.audit.fhir import audit_event_resource
    from clinic.audit.models import AuditEntry
    from clinic.core.db import db

    token = world["examiner"].token
    record = create(client, token, patient("SA-WRITE-0001"))
    create(client, token, observation(record["id"]))
    api(client, "PUT", f"/fhir/Patient/{record['id']}", token, dict(record, gender="other"))
    api(client, "GET", "/fhir/Patient?identifier=SA-WRITE-0001", token)
    api(client, "GET", "/fhir/Patient/unknown", world["officer"].token)
    registry = app.extensions["clinic.profiles"]
    with engine.connect() as connection:
        contents = [
            json.loads(row[0])
            for row in connection.exec_driver_sql("SELECT content FROM fhir_resource_versions")
        ]
    assert {c["resourceType"] for c in contents} == {"Organization", "Patient", "Observation"}
    for content in contents:
        validate_resource(content, registry)
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry)).all()
        assert len(entries) > 10
        for entry in entries:
            validate_resource(audit_event_resource(entry), registry)


def test_capability_statement_is_valid_fhir(client: FlaskClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    CapabilityStatement.model_validate(client.get("/fhir/metadata").get_json())


def test_the_released_profiles_are_current() -> None:
    """scripts/write_released_profiles.py: each released profile (and example) is
    its held profile with required literal references relaxed, as written now."""
    from scripts.write_released_profiles import definitions, text

    for path, document in definitions().items():
        assert path.read_text() == text(document), f"{path.name}: run the script"


def test_a_released_profile_is_never_accepted_on_a_write(registry: ProfileRegistry) -> None:
    released = json.loads((PROFILES_DIR / "examples/Observation-example-released.json").read_text())
    with pytest.raises(FhirError) as refused:
        validate_resource(released, registry)
    found = json.dumps([i.diagnostics for i in refused.value.issues])
    assert "fc-released-observation is not supported here" in found
    assert "Observation.subject.reference must occur" in found
