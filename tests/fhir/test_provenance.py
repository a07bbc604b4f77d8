"""Provenance: who wrote each version, served under the rules of the version itself."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient

from clinic.fhir.validation import validate_resource
from tests.conftest import World
from tests.helpers import api, create, observation, patient


def test_each_version_has_its_author_and_validates(
    app: Flask, client: FlaskClient, world: World
) -> None:
    token = world["examiner"].token
    record = create(client, token, patient("SA-PROV-0001"))
    updated = api(
        client, "PUT", f"/fhir/Patient/{record['id']}", token, record | {"gender": "other"}
    )
    assert updated.status_code == 200
    found = api(client, "GET", f"/fhir/Provenance?target=Patient/{record['id']}", token)
    assert found.status_code == 200
    entries = [entry["resource"] for entry in found.get_json()["entry"]]
    assert [e["target"][0]["reference"] for e in entries] == [
        f"Patient/{record['id']}/_history/2",
        f"Patient/{record['id']}/_history/1",
    ]
    assert [e["activity"]["coding"][0]["code"] for e in entries] == ["UPDATE", "CREATE"]
    assert {e["agent"][0]["who"]["identifier"]["value"] for e in entries} == {"examiner"}
    assert {"code": "SDV"}.items() <= entries[0]["meta"]["security"][0].items()
    with app.app_context():
        for entry in entries:
            validate_resource(entry, app.extensions["clinic.profiles"])  # raises if invalid
    one = api(client, "GET", f"/fhir/Provenance/{entries[1]['id']}", token)
    assert one.get_json() == entries[1]

    first = api(client, "GET", f"/fhir/Provenance?target=Patient/{record['id']}&_count=1", token)
    page = first.get_json()
    assert len(page["entry"]) == 1
    after = next(link["url"] for link in page["link"] if link["relation"] == "next")
    second = api(client, "GET", after.split("/fhir", 1)[1].join(["/fhir", ""]), token).get_json()
    assert [e["resource"]["id"] for e in second["entry"]] == [entries[1]["id"]]


def test_provenance_of_a_record_you_may_not_see_looks_like_none_at_all(
    client: FlaskClient, world: World
) -> None:
    token = world["examiner"].token
    record = create(client, token, patient("SA-PROV-0002"))
    finding = create(client, token, observation(record["id"]))
    for intruder, target in (
        ("examiner.south", f"Patient/{record['id']}"),
        ("officer", f"Patient/{record['id']}"),
        ("counsellor.south", f"Patient/{record['id']}"),
    ):
        hidden = api(
            client, "GET", f"/fhir/Provenance/Patient-{record['id']}-1", world[intruder].token
        )
        absent = api(
            client, "GET", f"/fhir/Provenance/Patient-{uuid.uuid4()}-1", world[intruder].token
        )
        assert hidden.status_code == absent.status_code == 404, intruder
        assert hidden.get_json()["issue"][0]["code"] == absent.get_json()["issue"][0]["code"]
        searched = api(client, "GET", f"/fhir/Provenance?target={target}", world[intruder].token)
        assert searched.status_code == 200, intruder
        assert not searched.get_json().get("entry"), intruder
    # Counsellors of the site see survivors, not forensic findings: nor who wrote them.
    refused = api(
        client,
        "GET",
        f"/fhir/Provenance/Observation-{finding['id']}-1",
        world["counsellor"].token,
    )
    assert refused.status_code in (403, 404)
    assert "Observation" not in str(refused.get_json().get("text", ""))


def test_provenance_search_needs_one_target(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    for query in (
        "",
        "?target=Nothing/1",
        "?target=Patient/1&target=Patient/2",
        "?target=Patient/1&identifier=x",
    ):
        response = api(client, "GET", f"/fhir/Provenance{query}", token)
        assert response.status_code == 400, query
        assert response.get_json()["resourceType"] == "OperationOutcome"
