"""The exam's resources through the FHIR API: readable by examiners of the site,
and for everyone else exactly like ids that do not exist."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam.services import sign_off
from tests.conftest import World
from tests.exam.helpers import call, complete_exam, read
from tests.helpers import api, observation, open_case


def exam_resources(app: Flask) -> dict[str, Any]:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    record = read(app, exam_id)
    return {
        "case": case,
        "exam": exam_id,
        "refs": [
            ("Encounter", exam_id),
            ("Observation", record.entries["injury:1"].logical_id),
            ("Observation", record.entries["timing"].logical_id),
            ("MedicationAdministration", record.entries["treatment:1"].logical_id),
            ("Composition", str(record.exam.report_id)),
        ],
    }


def shape(response: Any, asked: str) -> tuple[int, str]:
    """Status and body, with the id the caller asked for (echoed back) blanked."""
    import re

    text = response.get_data(as_text=True).replace(asked, "<asked>")
    text = re.sub(r'"(id|lastUpdated)":"[^"]*"', r'"\1":"-"', text.replace(" ", ""))
    return response.status_code, text


def test_the_examiner_reads_and_searches_every_exam_resource(
    app: Flask, client: FlaskClient, world: World
) -> None:
    found = exam_resources(app)
    token = world["examiner"].token
    for resource_type, logical_id in found["refs"]:
        response = api(client, "GET", f"/fhir/{resource_type}/{logical_id}", token)
        assert response.status_code == 200, (resource_type, response.get_json())
    exam = found["exam"]
    searches = {
        f"/fhir/Observation?encounter={exam}": 10,  # timing, 4 history, injury, 8 windows - some
        f"/fhir/MedicationAdministration?context=Encounter/{exam}": 1,
        f"/fhir/Composition?encounter={exam}": 1,
        f"/fhir/Encounter?episode-of-care={found['case'].id}": 1,
    }
    for path, at_least in searches.items():
        bundle = api(client, "GET", path, token).get_json()
        assert len(bundle["entry"]) >= at_least, path


@pytest.mark.parametrize("username", ["examiner.south", "counsellor", "officer", "officer.hill"])
def test_others_get_exactly_what_an_unknown_id_gets(
    app: Flask, client: FlaskClient, world: World, username: str
) -> None:
    found = exam_resources(app)
    token = world[username].token
    exam = found["exam"]
    for resource_type, logical_id in found["refs"]:
        for suffix in ("", "/_history", "/_history/1"):
            hidden = api(client, "GET", f"/fhir/{resource_type}/{logical_id}{suffix}", token)
            unknown = api(client, "GET", f"/fhir/{resource_type}/no-such-id{suffix}", token)
            assert shape(hidden, logical_id) == shape(unknown, "no-such-id"), (
                username,
                resource_type,
                suffix,
            )
        hidden = api(client, "GET", f"/fhir/Provenance?target={resource_type}/{logical_id}", token)
        unknown = api(client, "GET", f"/fhir/Provenance?target={resource_type}/nope", token)
        assert shape(hidden, logical_id) == shape(unknown, "nope")
    patient_id = found["case"].patient_id
    for template, secret in (
        ("/fhir/Observation?encounter={}", exam),
        ("/fhir/Composition?encounter={}", exam),
        ("/fhir/MedicationAdministration?context={}", exam),
        ("/fhir/Encounter?patient={}", patient_id),
        ("/fhir/Observation?subject=Patient/{}&_include=Observation:encounter", patient_id),
    ):
        hidden = api(client, "GET", template.format(secret), token)
        unknown = api(client, "GET", template.format("no-such-id"), token)
        assert shape(hidden, secret) == shape(unknown, "no-such-id"), template
    for path in (
        "/fhir/Observation?code=injury",
        "/fhir/Encounter?status=finished",
        "/fhir/Composition?_summary=count",
        "/fhir/Encounter/_history",
        "/fhir/MedicationAdministration",
    ):
        response = api(client, "GET", path, token)
        assert exam not in response.get_data(as_text=True), path
        if response.status_code == 200:
            assert response.get_json().get("entry", []) == [], path
            assert response.get_json().get("total") in (None, 0), path


def test_the_api_cannot_write_into_an_exam(app: Flask, client: FlaskClient, world: World) -> None:
    """Exam findings are recorded, and amended after sign-off, only by the exam
    service; the API refuses to add to or change them."""
    found = exam_resources(app)
    token = world["examiner"].token
    injury_id = found["refs"][1][1]
    current = api(client, "GET", f"/fhir/Observation/{injury_id}", token).get_json()
    changed = current | {"valueCodeableConcept": {"text": "nothing"}}
    response = api(client, "PUT", f"/fhir/Observation/{injury_id}", token, changed)
    assert response.status_code == 422
    assert "recorded in the exam itself" in response.get_data(as_text=True)
    added = observation(found["case"].patient_id) | {
        "encounter": {"reference": f"Encounter/{found['exam']}"}
    }
    assert api(client, "POST", "/fhir/Observation", token, added).status_code == 422
    for resource_type, logical_id in found["refs"]:
        if resource_type == "Observation":
            continue
        body = api(client, "GET", f"/fhir/{resource_type}/{logical_id}", token).get_json()
        assert (
            api(client, "PUT", f"/fhir/{resource_type}/{logical_id}", token, body).status_code
            == 405
        )
    history = api(client, "GET", f"/fhir/Observation/{injury_id}/_history", token).get_json()
    assert len(history["entry"]) == 1
