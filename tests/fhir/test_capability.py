"""The CapabilityStatement tells the truth: what it declares works, and what it
does not declare is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from clinic import PROJECT_ROOT
from clinic.cli import unit_of_work
from clinic.exam.services import record_structured_step, sign_off
from clinic.followup import referrals, safety
from clinic.followup.safety_models import SafetyFlag
from tests.conftest import World
from tests.consent.helpers import record as record_consent
from tests.exam.helpers import call, complete_exam, read
from tests.followup.helpers import agreed_plan
from tests.followup.helpers import call as followup_call
from tests.followup.referral_helpers import add_service
from tests.followup.safety_helpers import answers
from tests.followup.safety_helpers import call as safety_call
from tests.followup.test_appointments import book as book_appointment
from tests.followup.test_contact import attempt as contact_attempt
from tests.followup.test_notes import write as write_note
from tests.helpers import api, collect_kit, create, observation, open_case, patient
from tests.media.helpers import record_photo_consent
from tests.media.helpers import take as take_photos
from tests.release.helpers import release_task

SAMPLE_VALUES = {
    "_id": lambda ids: ids["id"],
    "_lastUpdated": lambda ids: "ge2000-01-01",
    "identifier": lambda ids: {
        "Patient": "SA-CAP-0001",
        "Observation": "OBS-CAP-0001",
        "Organization": "NORTH",
        "Specimen": ids.get("label"),
        "EpisodeOfCare": ids.get("reference"),
    }[ids["kind"]],
    "parent": lambda ids: ids["kit"],
    "subject": lambda ids: f"Patient/{ids['patient']}",
    "patient": lambda ids: ids["patient"],
    "date": lambda ids: "ge2000",
    "altid": lambda ids: "examiner",
    "entity": lambda ids: f"Patient/{ids['patient']}",
    "outcome": lambda ids: "0",
    "encounter": lambda ids: ids["exam"],
    "context": lambda ids: f"Encounter/{ids['exam']}",
    "episode-of-care": lambda ids: ids["case"],
    "category": lambda ids: {
        "Observation": "https://forensic-care.org/fhir/CodeSystem/exam-section|injuries",
        "Consent": "https://forensic-care.org/fhir/CodeSystem/consent-form|statistics",
    }[ids["kind"]],
    "code": lambda ids: "injury",
    "status": lambda ids: {
        "Encounter": "finished",
        "Composition": "final",
        "Consent": "active",
        "CarePlan": "active",
        "Appointment": "booked",
        "Communication": "not-done",
        "ServiceRequest": "revoked",
        "Task": "rejected",
        "Flag": "active",
    }[ids["kind"]],
    "type": lambda ids: {"DocumentReference": "counselling-note", "HealthcareService": "refuge"}[
        ids["kind"]
    ],
    "active": lambda ids: "true",
    "focus": lambda ids: f"ServiceRequest/{ids['referral']}",
    "based-on": lambda ids: f"CarePlan/{ids['plan']}",
    "medium": lambda ids: "call",
    "supporting-info": lambda ids: f"CarePlan/{ids['plan']}",
    "activity-code": lambda ids: "visit-2-weeks",
    "subtype": lambda ids: "create",
    "target": lambda ids: f"Patient/{ids['patient']}",
    "site": lambda ids: "https://forensic-care.org/fhir/CodeSystem/body-region|forearm",
    "view": lambda ids: "close-up",
    "_since": lambda ids: "2000-01-01T00:00:00Z",
    "url": lambda ids: ids["definition"]["url"],
    "version": lambda ids: ids["definition"]["version"],
    "name": lambda ids: ids["definition"]["name"],
}
# The published definitions (clinic/fhir/conformance.py): one sample each; no
# SearchParameter of our own is published, so that type is served empty.
DEFINITIONS = {
    "StructureDefinition": "fc-case",
    "CodeSystem": "consent-form-police-release",
    "ValueSet": "clinic-role",
    "OperationDefinition": "Specimen-custody",
    "SearchParameter": None,
}
# An operation's sample call: who, and the answer that shows it is served (a
# request not yet approved is the force's own: 409 says why).
OPERATION_CALLS = {
    ("Specimen", "custody"): ("custodian", 200),
    ("Task", "release"): ("officer", 409),
}
TOKENS = {
    "Patient": "examiner",
    "Observation": "examiner",
    "Organization": "examiner",
    "AuditEvent": "auditor",
    "Specimen": "examiner",
    "EpisodeOfCare": "examiner",
    "Provenance": "examiner",
    "Encounter": "examiner",
    "MedicationAdministration": "examiner",
    "Composition": "examiner",
    "Consent": "examiner",
    "Media": "examiner",
    "Task": "officer",
    "CarePlan": "examiner",
    "Appointment": "examiner",
    "Communication": "examiner",
    "DocumentReference": "counsellor",
    "ServiceRequest": "counsellor",
    "HealthcareService": "counsellor",
    "RiskAssessment": "examiner",
    "QuestionnaireResponse": "examiner",
    "Flag": "examiner",
    "AllergyIntolerance": "examiner",
    "MedicationStatement": "examiner",
    "Condition": "examiner",
    # Definitions hold nothing about anyone: a police token reads them.
    **dict.fromkeys(DEFINITIONS, "officer"),
}


# Task is two things: police search their release requests, staff where referrals stand.
PARAM_TOKENS = {("Task", name): "counsellor" for name in ("focus", "patient", "status")}


@pytest.fixture
def capability(client: FlaskClient) -> dict[str, Any]:
    statement: dict[str, Any] = client.get("/fhir/metadata").get_json()
    return statement


def test_declared_types_interactions_and_search_parameters_all_work(
    app: Any, client: FlaskClient, world: World, capability: dict[str, Any]
) -> None:
    record = create(client, world["examiner"].token, patient("SA-CAP-0001"))
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    finding = create(
        client,
        world["examiner"].token,
        observation(record["id"]) | {"identifier": [{"value": "OBS-CAP-0001"}]},
    )
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        record_structured_step,
        exam_id=exam_id,
        step="baseline",
        answers={
            "baseline": {
                "allergies": "None known",
                "current-medicines": "Sertraline 50 mg",
                "medical-history": "Asthma",
            }
        },
    )
    (photo_id,) = take_photos(app, exam_id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    exam = read(app, exam_id)
    consent_id = record_consent(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    plan_id = agreed_plan(app, exam_id)
    appointment_id = book_appointment(app, plan_id, "visit-2-weeks")
    attempt_id = contact_attempt(app, plan_id, "call", "no-answer").id
    note_id = write_note(app, plan_id, "First session.")
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    referral = followup_call(
        app,
        "counsellor",
        referrals.make_referral,
        plan_id=plan_id,
        service_id=refuge,
        she_declined=True,
    )
    assessed = safety_call(
        app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(20)
    )
    with app.app_context(), unit_of_work() as uow:
        flag_id = uow.session.scalar(sa.select(SafetyFlag.id).where(SafetyFlag.plan_id == plan_id))
    examples = {
        "Patient": record,
        "Observation": finding,
        "EpisodeOfCare": {"id": case.id},
        "Encounter": {"id": exam_id},
        "MedicationAdministration": {"id": exam.entries["treatment:1"].logical_id},
        "Composition": {"id": exam.exam.report_id},
        "Consent": {"id": consent_id},
        "Task": release_task(case.reference),
        "Media": {"id": photo_id},
        "CarePlan": {"id": plan_id},
        "Appointment": {"id": appointment_id},
        "Communication": {"id": attempt_id},
        "DocumentReference": {"id": note_id},
        "ServiceRequest": {"id": referral.id},
        "HealthcareService": {"id": refuge},
        "RiskAssessment": {"id": assessed.id},
        "QuestionnaireResponse": {"id": assessed.answers_id},
        "Flag": {"id": flag_id},
        "AllergyIntolerance": {"id": exam.entries["baseline:allergies"].logical_id},
        "MedicationStatement": {"id": exam.entries["baseline:current-medicines"].logical_id},
        "Condition": {"id": exam.entries["baseline:medical-history"].logical_id},
    }
    filed_task = api(client, "POST", "/fhir/Task", world["officer"].token, release_task("SA-CAP"))
    rest = capability["rest"][0]
    pending_operations = dict(OPERATION_CALLS)
    declared_types = {resource["type"] for resource in rest["resource"]}
    assert declared_types == {
        "Patient",
        "EpisodeOfCare",
        "Observation",
        "Organization",
        "AuditEvent",
        "Specimen",
        "Provenance",
        "Encounter",
        "MedicationAdministration",
        "Composition",
        "Consent",
        "Media",
        "Task",
        "CarePlan",
        "Appointment",
        "Communication",
        "DocumentReference",
        "ServiceRequest",
        "HealthcareService",
        "RiskAssessment",
        "QuestionnaireResponse",
        "Flag",
        "AllergyIntolerance",
        "MedicationStatement",
        "Condition",
        *DEFINITIONS,
    }
    for resource in rest["resource"]:
        kind = resource["type"]
        token = world[TOKENS[kind]].token
        definition: dict[str, Any] = {}
        if kind in DEFINITIONS:
            if DEFINITIONS[kind] is None:
                found = api(client, "GET", f"/fhir/{kind}", token)
                assert found.status_code == 200, kind
                assert not found.get_json().get("entry"), kind
                assert api(client, "GET", f"/fhir/{kind}/x", token).status_code == 404
                continue
            sample_id = str(DEFINITIONS[kind])
            definition = json.loads(
                (PROJECT_ROOT / "fhir_profiles" / f"{kind}-{sample_id}.json").read_text()
            )
        elif kind == "Organization":
            sample_id = world.organizations["NORTH"]
        elif kind == "Specimen":
            sample_id = kit.items[0].id
        elif kind == "Provenance":
            sample_id = f"Patient-{record['id']}-1"
        elif kind == "Task":
            sample_id = filed_task.get_json()["id"]
        elif kind == "AuditEvent":
            sample_id = api(client, "GET", "/fhir/AuditEvent?_count=1", token).get_json()["entry"][
                0
            ]["resource"]["id"]
        else:
            sample_id = examples[kind]["id"]
        ids = {
            "id": sample_id,
            "patient": record["id"] if kind in ("Patient", "Observation") else case.patient_id,
            "exam": exam_id,
            "case": case.id,
            "reference": case.reference,
            "kind": kind,
            "label": kit.items[0].label,
            "kit": kit.kit.id,
            "plan": plan_id,
            "referral": referral.id,
            "definition": definition,
        }
        required = {
            "Provenance": f"?target=Patient/{record['id']}",
        }
        interactions = {i["code"] for i in resource["interaction"]}
        calls = {
            "read": ("GET", f"/fhir/{kind}/{sample_id}", None, 200),
            "vread": ("GET", f"/fhir/{kind}/{sample_id}/_history/1", None, 200),
            "history-instance": ("GET", f"/fhir/{kind}/{sample_id}/_history", None, 200),
            "history-type": ("GET", f"/fhir/{kind}/_history", None, 200),
            # Provenance documents target as required (a search over everyone's is refused).
            "search-type": ("GET", f"/fhir/{kind}{required.get(kind, '')}", None, 200),
            "create": ("POST", f"/fhir/{kind}", examples.get(kind, {}) | {"id": None}, 201),
            "update": ("PUT", f"/fhir/{kind}/{sample_id}", examples.get(kind), 200),
        }
        for code, (method, path, body, status) in calls.items():
            if body is not None:
                body = {k: v for k, v in body.items() if v is not None}
            response = api(client, method, path, token, body)
            if code in interactions:
                assert response.status_code == status, (kind, code, response.get_data(as_text=True))
            elif code in ("create", "update"):
                # A type served read-only refuses writes as documented: 405.
                assert response.status_code == 405, (kind, code, response.status_code)
            else:
                assert response.status_code in (404, 405), (kind, code, response.status_code)
            if code == "read" and code in interactions:
                # versionId is served exactly when the statement says versions are kept.
                has_version = "versionId" in response.get_json().get("meta", {})
                assert has_version == (resource["versioning"] != "no-version"), kind
        if "search-type" in interactions:
            # A parameter not declared is refused, never ignored.
            searcher = world[TOKENS[kind]].token
            path = f"/fhir/{kind}{required.get(kind, '?') + '&'}not-declared=x"
            assert api(client, "GET", path, searcher).status_code == 400, kind
        for operation in resource.get("operation", []):
            who, status = pending_operations.pop((kind, operation["name"]))
            response = api(
                client, "GET", f"/fhir/{kind}/{sample_id}/${operation['name']}", world[who].token
            )
            assert response.status_code == status, (kind, operation, response.get_data())
        for param in resource["searchParam"]:
            value = SAMPLE_VALUES[param["name"]](ids)
            searcher = world[PARAM_TOKENS.get((kind, param["name"]), TOKENS[kind])].token
            query = f"{param['name']}={value}"
            if kind in required and not required[kind].startswith(f"?{param['name']}="):
                query = f"{required[kind][1:]}&{query}"
            response = api(client, "GET", f"/fhir/{kind}?{query}", searcher)
            assert response.status_code == 200, (
                kind,
                param["name"],
                response.get_data(as_text=True),
            )
            assert response.get_json()["entry"], (kind, param["name"])
    # Every operation served is declared, on its resource; at system level, only
    # the logs' consistency proofs.
    assert not pending_operations, pending_operations
    assert [op["name"] for op in rest["operation"]] == ["log-consistency"]
    response = api(
        client, "GET", "/fhir/$log-consistency?log=audit&old=1&new=1", world["auditor"].token
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    for kind, name in (("Patient", "custody"), ("Specimen", "release"), ("Task", "custody")):
        response = api(client, "GET", f"/fhir/{kind}/x/${name}", world["examiner"].token)
        assert response.status_code == 404, (kind, name)


def test_operations_are_declared_as_their_definitions_say(capability: dict[str, Any]) -> None:
    definitions = {
        d["url"]: d
        for d in (
            json.loads(path.read_text())
            for path in (PROJECT_ROOT / "fhir_profiles").glob("OperationDefinition-*.json")
        )
    }
    declared = [
        (resource["type"], operation)
        for resource in capability["rest"][0]["resource"]
        for operation in resource.get("operation", [])
    ]
    system = capability["rest"][0]["operation"]
    assert {op["definition"] for _, op in declared} | {op["definition"] for op in system} == set(
        definitions
    )
    for operation in system:
        definition = definitions[operation["definition"]]
        assert definition["code"] == operation["name"]
        assert (definition["system"], definition["type"], definition["instance"]) == (
            True,
            False,
            False,
        )
        assert definition["affectsState"] is False
    for kind, operation in declared:
        definition = definitions[operation["definition"]]
        assert definition["code"] == operation["name"]
        assert definition["resource"] == [kind]
        assert definition["instance"] is True
        assert definition["system"] is False
        # Served with GET, which FHIR allows only for operations that change no state.
        assert definition["affectsState"] is False, definition["id"]


def test_profiles_in_the_statement_are_the_ones_enforced(app, capability: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    registry = app.extensions["clinic.profiles"]
    for resource in capability["rest"][0]["resource"]:
        if resource["type"] in DEFINITIONS:  # published, not written: the core's
            expected = f"http://hl7.org/fhir/StructureDefinition/{resource['type']}"
        else:
            expected = registry.default_profiles[resource["type"]]
        assert resource["profile"] == expected


def test_transaction_is_declared_and_batch_is_not(capability: dict[str, Any]) -> None:
    assert [i["code"] for i in capability["rest"][0]["interaction"]] == ["transaction"]
