"""Adversarial: another site's examiner, a counsellor and a police officer trying
every way in to records they may not see."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tests.conftest import World
from tests.helpers import api, create, observation, patient


def _normalised(response, secret_id: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True).replace(secret_id, "ID")
    return response.status_code, response.headers.get("Content-Type", ""), body


@pytest.mark.parametrize("intruder", ["examiner.south", "officer", "officer.hill"])
@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Patient/{id}",
        "/fhir/Patient/{id}/_history",
        "/fhir/Patient/{id}/_history/1",
        "/fhir/Patient/{id}/_history/2",
    ],
)
def test_hidden_and_unknown_records_get_the_same_answer(
    client: FlaskClient, world: World, intruder: str, path: str
) -> None:
    real = create(client, world["examiner"].token, patient("SA-HIDDEN-0001"))["id"]
    guessed = str(uuid.uuid4())
    hidden = api(client, "GET", path.format(id=real), world[intruder].token)
    unknown = api(client, "GET", path.format(id=guessed), world[intruder].token)
    assert hidden.status_code == 404
    assert _normalised(hidden, real) == _normalised(unknown, guessed)
    assert "ETag" not in hidden.headers


@pytest.mark.parametrize("intruder", ["examiner.south", "officer"])
def test_update_of_a_hidden_record_looks_like_an_unknown_one_and_changes_nothing(
    client: FlaskClient, world: World, intruder: str
) -> None:
    record = create(client, world["examiner"].token, patient("SA-HIDDEN-0002"))
    guessed = str(uuid.uuid4())
    hidden = api(
        client,
        "PUT",
        f"/fhir/Patient/{record['id']}",
        world[intruder].token,
        dict(record, gender="male"),
    )
    unknown = api(
        client,
        "PUT",
        f"/fhir/Patient/{guessed}",
        world[intruder].token,
        dict(record, id=guessed, gender="male"),
    )
    assert hidden.status_code == unknown.status_code == 404
    assert _normalised(hidden, record["id"]) == _normalised(unknown, guessed)
    assert (
        api(client, "GET", f"/fhir/Patient/{record['id']}", world["examiner"].token).get_json()[
            "gender"
        ]
        == "female"
    )


@pytest.mark.parametrize(
    "intruder", ["examiner.south", "counsellor.south", "officer", "officer.hill"]
)
def test_searches_and_histories_never_show_or_count_hidden_records(
    client: FlaskClient, world: World, intruder: str
) -> None:
    record = create(client, world["examiner"].token, patient("SA-HIDDEN-0003"))
    create(client, world["examiner"].token, observation(record["id"]))
    queries = [
        "/fhir/Patient",
        "/fhir/Patient?identifier=SA-HIDDEN-0003",
        f"/fhir/Patient?_id={record['id']}",
        "/fhir/Patient/_history",
        "/fhir/Patient?_count=1",
        "/fhir/Patient?_lastUpdated=ge2000",
    ]
    if not intruder.startswith("counsellor"):
        queries += [
            f"/fhir/Observation?patient={record['id']}",
            f"/fhir/Observation?subject=Patient/{record['id']}",
            "/fhir/Observation/_history",
        ]
    for query in queries:
        response = api(client, "GET", query, world[intruder].token)
        assert response.status_code == 200, query
        bundle = response.get_json()
        text = json.dumps(bundle)
        assert record["id"] not in text.replace(f"_id={record['id']}", "").replace(
            f"patient={record['id']}", ""
        ).replace(f"Patient%2F{record['id']}", ""), query
        assert bundle.get("entry", []) == [], query
        assert "total" not in bundle
        assert [link["relation"] for link in bundle["link"]] == ["self"], query


def test_counsellors_see_nothing_of_a_survivor_without_her_consent(
    client: FlaskClient, world: World
) -> None:
    """Her identity and findings reach counselling only by her information-sharing
    consent (tests/consent); without one, a counsellor of her site is answered as
    for records that do not exist."""
    record = create(client, world["examiner"].token, patient("SA-COUNSEL-0001"))
    finding = create(client, world["examiner"].token, observation(record["id"]))
    counsellor = world["counsellor"].token
    assert api(client, "GET", f"/fhir/Patient/{record['id']}", counsellor).status_code == 404
    assert api(client, "GET", f"/fhir/Observation/{finding['id']}", counsellor).status_code == 404
    found = api(client, "GET", f"/fhir/Observation?patient={record['id']}", counsellor)
    assert found.status_code == 200
    assert found.get_json().get("entry", []) == []
    assert "total" not in found.get_json()


def test_paging_cursors_cannot_be_used_to_reach_another_sites_records(
    client: FlaskClient, world: World
) -> None:
    for index in range(3):
        create(client, world["examiner"].token, patient(f"SA-CURSOR-{index}"))
    north_bundle = api(client, "GET", "/fhir/Patient?_count=1", world["examiner"].token).get_json()
    next_link = next(link["url"] for link in north_bundle["link"] if link["relation"] == "next")
    parts = urlsplit(next_link)
    stolen = api(
        client, "GET", f"{parts.path}?{parts.query}", world["examiner.south"].token
    ).get_json()
    assert stolen["entry"] == []


def test_police_cannot_create_or_transact(client: FlaskClient, world: World) -> None:
    officer = world["officer"].token
    assert api(client, "POST", "/fhir/Patient", officer, patient()).status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient(), "request": {"method": "POST", "url": "Patient"}}],
    }
    assert api(client, "POST", "/fhir", officer, bundle).status_code == 403


def test_error_bodies_do_not_echo_record_content(client: FlaskClient, world: World) -> None:
    record = create(
        client, world["examiner"].token, patient("SA-SECRET-CASE", name=[{"family": "Secretname"}])
    )
    response = api(
        client,
        "PUT",
        f"/fhir/Patient/{record['id']}",
        world["officer"].token,
        {"resourceType": "Patient", "id": record["id"]},
    )
    assert "Secretname" not in response.get_data(as_text=True)
    assert "SA-SECRET-CASE" not in response.get_data(as_text=True)
