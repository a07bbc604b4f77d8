"""The definitions the clinic publishes, served by the API (clinic/fhir/conformance.py):
read by id and searched by _id, url, version and name, for every signed-in role,
read-only, with 404 OperationOutcomes for what is not published."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from clinic.fhir.profiles import PROFILES_DIR
from tests.conftest import World
from tests.helpers import api

SAMPLES = {
    "StructureDefinition": "fc-patient",
    "CodeSystem": "consent-form-information-sharing",
    "ValueSet": "consent-recipient",
    "OperationDefinition": "Task-release",
}
# role -> status of a read; definitions hold nothing about anyone.
READERS = {
    "examiner": 200,
    "counsellor": 200,
    "custodian": 200,
    "officer": 200,
    "admin": 200,
    "auditor": 200,
    "examiner.south": 200,
    "officer.hill": 200,
    "expert": 200,  # within the account's period (the decision point refuses it after)
}


def _file(kind: str, logical_id: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(
        (PROFILES_DIR / f"{kind}-{logical_id}.json").read_text()
    )
    return document


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_role_reads_a_definition_as_published(
    client: FlaskClient, world: World, kind: str
) -> None:
    for role, status in READERS.items():
        response = api(client, "GET", f"/fhir/{kind}/{SAMPLES[kind]}", world[role].token)
        assert response.status_code == status, (role, response.get_data(as_text=True))
        assert response.get_json() == _file(kind, SAMPLES[kind])
    assert api(client, "GET", f"/fhir/{kind}/{SAMPLES[kind]}", None).status_code == 401


@pytest.mark.parametrize(
    ("path", "status", "diagnostics"),
    [
        (
            "/fhir/StructureDefinition/fc-nothing",
            404,
            "StructureDefinition/fc-nothing is not known",
        ),
        ("/fhir/CodeSystem/consent%20recipient", 404, "is not known"),
        ("/fhir/ValueSet/" + "x" * 5000, 404, "is not known"),
        ("/fhir/SearchParameter/anything", 404, "SearchParameter/anything is not known"),
        ("/fhir/OperationDefinition/Task-release%00", 400, "control character"),
    ],
)
def test_what_is_not_published_is_a_404_outcome(
    client: FlaskClient, world: World, path: str, status: int, diagnostics: str
) -> None:
    response = api(client, "GET", path, world["officer"].token)
    assert response.status_code == status
    if diagnostics is not None:
        body = response.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert diagnostics in body["issue"][0]["diagnostics"]


def test_search_by_url_version_name_and_id(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    patient = _file("StructureDefinition", "fc-patient")

    def ids(query: str) -> list[str]:
        response = api(client, "GET", f"/fhir/StructureDefinition?{query}", token)
        assert response.status_code == 200, response.get_data(as_text=True)
        bundle = response.get_json()
        assert bundle["type"] == "searchset"
        assert "total" not in bundle
        return [entry["resource"]["id"] for entry in bundle.get("entry", [])]

    assert ids(f"url={patient['url']}") == ["fc-patient"]
    assert ids(f"url={patient['url']}&version={patient['version']}") == ["fc-patient"]
    assert ids(f"url={patient['url']}&version=9.9.9") == []
    assert ids(f"name={patient['name'][:5].lower()}") == sorted(
        path.name.removeprefix("StructureDefinition-").removesuffix(".json")
        for path in PROFILES_DIR.glob("StructureDefinition-*.json")
        if json.loads(path.read_text())["name"].lower().startswith(patient["name"][:5].lower())
    )
    assert ids("_id=fc-patient,fc-case") == ["fc-case", "fc-patient"]
    assert len(ids("")) == len(list(PROFILES_DIR.glob("StructureDefinition-*.json")))
    found = api(client, "GET", "/fhir/SearchParameter", token).get_json()
    assert found.get("entry", []) == []  # none published: the specification's are used


@pytest.mark.parametrize(
    ("query", "diagnostics"),
    [
        ("status=active", "search parameter status is not supported here"),
        ("url=a&url=b", "url is given more than once"),
        ("name=", "name needs a value"),
        ("_count=5", "search parameter _count is not supported here"),
    ],
)
def test_a_search_it_cannot_answer_is_a_400(
    client: FlaskClient, world: World, query: str, diagnostics: str
) -> None:
    response = api(client, "GET", f"/fhir/CodeSystem?{query}", world["officer"].token)
    assert response.status_code == 400
    assert diagnostics in response.get_json()["issue"][0]["diagnostics"]


def test_definitions_are_never_written_through_the_api(client: FlaskClient, world: World) -> None:
    token = world["admin"].token
    document = _file("ValueSet", "consent-recipient")
    assert api(client, "POST", "/fhir/ValueSet", token, document).status_code == 405
    assert (
        api(client, "PUT", "/fhir/ValueSet/consent-recipient", token, document).status_code == 405
    )
    assert api(client, "GET", "/fhir/ValueSet/consent-recipient", token).get_json() == document
