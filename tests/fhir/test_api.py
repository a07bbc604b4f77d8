"""The /fhir API through real HTTP (the Flask test client): conventions, errors,
versioning, paging and transactions, including what an attacker would try."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.conftest import World
from tests.helpers import FHIR_JSON, api, create, observation, patient


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


def test_create_read_vread_update_history(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    response = api(client, "POST", "/fhir/Patient", token, patient())
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    created = response.get_json()
    pid = created["id"]
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Patient/{pid}/_history/1")
    assert created["meta"]["versionId"] == "1"
    labels = {(s["system"], s["code"]) for s in created["meta"]["security"]}
    assert ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "SDV") in labels
    assert ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R") in labels

    read = api(client, "GET", f"/fhir/Patient/{pid}", token)
    assert read.status_code == 200
    assert read.get_json() == created

    changed = dict(created, gender="other")
    updated = api(client, "PUT", f"/fhir/Patient/{pid}", token, changed, If_Match='W/"1"')
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert updated.get_json()["meta"]["versionId"] == "2"
    assert updated.headers["ETag"] == 'W/"2"'

    first = api(client, "GET", f"/fhir/Patient/{pid}/_history/1", token)
    assert first.status_code == 200
    assert first.get_json()["gender"] == "female"
    history = api(client, "GET", f"/fhir/Patient/{pid}/_history", token).get_json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]


def test_stale_if_match_is_refused_with_412_and_changes_nothing(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    token = world["examiner"].token
    created = create(client, token, patient())
    url = f"/fhir/Patient/{created['id']}"
    assert (
        api(client, "PUT", url, token, dict(created, gender="male"), If_Match='W/"1"').status_code
        == 200
    )
    before = _count(engine, "fhir_resource_versions")
    stale = api(client, "PUT", url, token, dict(created, gender="unknown"), If_Match='W/"1"')
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert _count(engine, "fhir_resource_versions") == before
    assert api(client, "GET", url, token).get_json()["gender"] == "male"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"{not json", FHIR_JSON, 400, "not valid JSON"),
        (
            b'{"resourceType": "Patient", "gender": "female", "gender": "male"}',
            FHIR_JSON,
            400,
            "appears twice",
        ),
        (b"[]", FHIR_JSON, 400, "not a JSON object"),
        (
            json.dumps(
                {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
            ).encode(),
            FHIR_JSON,
            400,
            "takes Patient",
        ),
        (
            json.dumps({"resourceType": "Patient", "birthDate": "2020-13-45"}).encode(),
            FHIR_JSON,
            400,
            "Patient.birthDate",
        ),
        (
            json.dumps({"resourceType": "Patient", "unknownElement": 1}).encode(),
            FHIR_JSON,
            400,
            "Patient.unknownElement",
        ),
        (
            json.dumps({"resourceType": "Patient", "gender": "banana"}).encode(),
            FHIR_JSON,
            422,
            "Patient.gender",
        ),
        (
            json.dumps({"resourceType": "Patient", "contact": [{"gender": "male"}]}).encode(),
            FHIR_JSON,
            422,
            "pat-1",
        ),
        (
            json.dumps(
                {"resourceType": "Patient", "contained": [{"resourceType": "Patient"}]}
            ).encode(),
            FHIR_JSON,
            422,
            "contained",
        ),
        (
            json.dumps(
                {
                    "resourceType": "Patient",
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
                    },
                }
            ).encode(),
            FHIR_JSON,
            422,
            "script",
        ),
        (
            json.dumps(
                {"resourceType": "Patient", "meta": {"profile": ["http://example.org/other"]}}
            ).encode(),
            FHIR_JSON,
            422,
            "not supported",
        ),
        (json.dumps(patient()).encode(), "text/plain", 415, "Content-Type"),
        (json.dumps(patient()).encode(), "application/xml", 415, "Content-Type"),
    ],
)
def test_bad_input_is_refused_with_a_specific_outcome_and_writes_nothing(
    client: FlaskClient,
    world: World,
    engine: sa.Engine,
    body: bytes,
    content_type: str,
    status: int,
    fragment: str,
) -> None:
    before = _count(engine, "fhir_resource_versions")
    response = api(
        client, "POST", "/fhir/Patient", world["examiner"].token, body, Content_Type=content_type
    )
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert fragment in json.dumps(outcome)
    assert _count(engine, "fhir_resource_versions") == before


def test_invariant_violation_names_the_element(client: FlaskClient, world: World) -> None:
    bad = patient(
        identifier=[{"value": "x", "period": {"start": "2021-01-01", "end": "2020-01-01"}}]
    )
    response = api(client, "POST", "/fhir/Patient", world["examiner"].token, bad)
    assert response.status_code == 422
    issues = response.get_json()["issue"]
    assert any(
        "per-1" in i["diagnostics"] and i["expression"] == ["Patient.identifier.period"]
        for i in issues
    )


def test_oversized_body_is_refused_with_413(app, client: FlaskClient, world: World) -> None:  # type: ignore[no-untyped-def]
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = patient(identifier=[{"value": "x" * (limit + 10)}])
    response = api(client, "POST", "/fhir/Patient", world["examiner"].token, big)
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
def test_delete_and_patch_are_not_supported(client: FlaskClient, world: World, method: str) -> None:
    created = create(client, world["examiner"].token, patient())
    response = api(client, method, f"/fhir/Patient/{created['id']}", world["examiner"].token)
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert (
        api(client, "GET", f"/fhir/Patient/{created['id']}", world["examiner"].token).status_code
        == 200
    )


def test_organizations_are_read_only_through_the_api(client: FlaskClient, world: World) -> None:
    org = {"resourceType": "Organization", "name": "Fake police"}
    response = api(client, "POST", "/fhir/Organization", world["admin"].token, org)
    assert response.status_code == 405


def test_unknown_resource_type_and_xml_are_refused(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    assert api(client, "GET", "/fhir/Consent/x", token).status_code == 404
    assert (
        api(client, "GET", "/fhir/Patient", token, Accept="application/fhir+xml").status_code == 406
    )
    assert api(client, "GET", "/fhir/Patient?_format=xml", token).status_code == 406


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Basic YWRtaW46YWRtaW4=", "Bearer fct_" + "A" * 43],
)
def test_the_api_needs_a_valid_bearer_token(client: FlaskClient, header: str | None) -> None:
    headers = {"Accept": FHIR_JSON}
    if header:
        headers["Authorization"] = header
    response = client.get("/fhir/Patient", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["issue"][0]["code"] == "login"


def test_metadata_is_public_and_json(client: FlaskClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.get_json()["resourceType"] == "CapabilityStatement"


def test_search_paging_follows_next_and_previous_links(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    created_ids = [create(client, token, patient(f"SA-PAGE-{i:04d}"))["id"] for i in range(7)]
    seen: list[str] = []
    url = "/fhir/Patient?_count=3"
    pages = []
    while url:
        bundle = api(client, "GET", url, token).get_json()
        assert bundle["type"] == "searchset"
        assert "total" not in bundle
        pages.append(bundle)
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = _local(links["next"]) if "next" in links else ""
    assert seen == created_ids
    assert [len(p["entry"]) for p in pages] == [3, 3, 1]
    last_links = {link["relation"]: link["url"] for link in pages[-1]["link"]}
    back = api(client, "GET", _local(last_links["previous"]), token).get_json()
    assert [e["resource"]["id"] for e in back["entry"]] == created_ids[3:6]


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_search_parameters(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    first = create(client, token, patient("SA-FIND-0001"))
    second = create(client, token, patient("SA-FIND-0002"))
    obs = create(client, token, observation(first["id"]))

    def ids(query: str) -> list[str]:
        response = api(client, "GET", query, token)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [e["resource"]["id"] for e in response.get_json()["entry"]]

    system = "https://forensic-care.org/fhir/sid/case-reference"
    assert ids("/fhir/Patient?identifier=SA-FIND-0002") == [second["id"]]
    assert ids(f"/fhir/Patient?identifier={system}|SA-FIND-0001") == [first["id"]]
    assert ids("/fhir/Patient?identifier=other|SA-FIND-0001") == []
    assert ids("/fhir/Patient?identifier=SA-FIND-0001,SA-FIND-0002") == [first["id"], second["id"]]
    assert ids(f"/fhir/Patient?_id={second['id']}") == [second["id"]]
    assert ids(f"/fhir/Observation?patient=Patient/{first['id']}") == [obs["id"]]
    assert ids(f"/fhir/Observation?subject={first['id']}") == [obs["id"]]
    assert ids(f"/fhir/Observation?patient={second['id']}") == []
    stamp = first["meta"]["lastUpdated"]
    assert first["id"] in ids(f"/fhir/Patient?_lastUpdated=ge{stamp}")
    assert ids(f"/fhir/Patient?_lastUpdated=lt{stamp}") == []
    assert ids("/fhir/Patient?_lastUpdated=gt2999-01-01") == []
    assert set(ids("/fhir/Patient?_lastUpdated=ge2000&_lastUpdated=lt2999")) >= {
        first["id"],
        second["id"],
    }


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("_include=Observation:subject", 400),
        ("_revinclude=Observation:subject", 400),
        ("_summary=count", 400),
        ("_elements=id", 400),
        ("_total=accurate", 400),
        ("name=Jane", 400),
        ("identifier:missing=true", 400),
        ("subject.name=Jane", 400),
        ("_lastUpdated=ne2020", 400),
        ("_lastUpdated=2020-01-01T10:00", 400),
        ("_lastUpdated=yesterday", 400),
        ("_count=abc", 400),
        ("_cursor=forged", 400),
        ("_cursor=a.bm90LWpzb24", 400),
    ],
)
def test_unsupported_search_features_are_refused_not_ignored(
    client: FlaskClient, world: World, query: str, status: int
) -> None:
    response = api(client, "GET", f"/fhir/Patient?{query}", world["examiner"].token)
    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_post_search_matches_get_search(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    created = create(client, token, patient("SA-POST-0001"))
    response = client.post(
        "/fhir/Patient/_search",
        data={"identifier": "SA-POST-0001"},
        headers={"Authorization": f"Bearer {token}", "Accept": FHIR_JSON},
    )
    assert response.status_code == 200
    assert [e["resource"]["id"] for e in response.get_json()["entry"]] == [created["id"]]


def test_type_history_pages_newest_first(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    created = create(client, token, patient())
    api(client, "PUT", f"/fhir/Patient/{created['id']}", token, dict(created, gender="other"))
    bundle = api(client, "GET", "/fhir/Patient/_history?_count=1", token).get_json()
    assert len(bundle["entry"]) == 1
    assert bundle["entry"][0]["resource"]["meta"]["versionId"] == "2"
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    older = api(client, "GET", _local(links["next"]), token).get_json()
    assert older["entry"][0]["resource"]["meta"]["versionId"] == "1"


def _transaction(*entries: dict) -> dict:  # type: ignore[type-arg]
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_creates_with_placeholder_references(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    bundle = _transaction(
        {
            "fullUrl": "urn:uuid:2b1d6b7e-0000-4000-8000-000000000001",
            "resource": patient("SA-TX-0001"),
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "resource": observation("placeholder")
            | {"subject": {"reference": "urn:uuid:2b1d6b7e-0000-4000-8000-000000000001"}},
            "request": {"method": "POST", "url": "Observation"},
        },
    )
    response = api(client, "POST", "/fhir", token, bundle)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["type"] == "transaction-response"
    patient_id = result["entry"][0]["resource"]["id"]
    assert result["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created", "201 Created"]


def test_transaction_with_one_bad_entry_writes_nothing(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    token = world["examiner"].token
    before = {
        t: _count(engine, t)
        for t in ("fhir_resources", "fhir_resource_versions", "fhir_index_tokens")
    }
    bundle = _transaction(
        {"resource": patient("SA-TX-GOOD"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient("SA-TX-GOOD-2"), "request": {"method": "POST", "url": "Patient"}},
        {
            "resource": {"resourceType": "Patient", "gender": "banana"},
            "request": {"method": "POST", "url": "Patient"},
        },
    )
    response = api(client, "POST", "/fhir", token, bundle)
    assert response.status_code == 422
    issue = response.get_json()["issue"][0]
    assert "entry 2" in issue["diagnostics"]
    assert issue["expression"][0].startswith("Bundle.entry[2]")
    assert {t: _count(engine, t) for t in before} == before
    assert (
        api(client, "GET", "/fhir/Patient?identifier=SA-TX-GOOD", token).get_json()["entry"] == []
    )


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "batch", "entry": []},
        {"resourceType": "Bundle", "type": "transaction", "entry": []},
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {"resourceType": "Patient"},
                    "request": {"method": "DELETE", "url": "Patient/x"},
                }
            ],
        },
        {"resourceType": "Patient"},
    ],
)
def test_malformed_transactions_are_refused(
    client: FlaskClient, world: World, bundle: dict
) -> None:  # type: ignore[type-arg]
    response = api(client, "POST", "/fhir", world["examiner"].token, bundle)
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_a_reference_must_resolve_to_a_record_of_the_same_site(
    client: FlaskClient, world: World
) -> None:
    south_patient = create(client, world["examiner.south"].token, patient("SA-SOUTH-1"))
    for target in (south_patient["id"], "does-not-exist"):
        response = api(
            client, "POST", "/fhir/Observation", world["examiner"].token, observation(target)
        )
        assert response.status_code == 422
        assert response.get_json()["issue"][0]["diagnostics"].endswith(
            "does not resolve to a record you can use"
        )


def test_labels_only_grow(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    very_restricted = {
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "code": "V",
    }
    created = create(client, token, patient(meta={"security": [very_restricted]}))
    stripped = dict(created, meta={"security": []})
    updated = api(client, "PUT", f"/fhir/Patient/{created['id']}", token, stripped).get_json()
    codes = {s["code"] for s in updated["meta"]["security"]}
    assert {"SDV", "R", "V"} <= codes


def test_put_with_mismatched_id_or_type_is_refused(client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    created = create(client, token, patient())
    other = dict(created, id="another-id")
    assert api(client, "PUT", f"/fhir/Patient/{created['id']}", token, other).status_code == 400
    assert (
        api(client, "PUT", f"/fhir/Observation/{created['id']}", token, created).status_code == 400
    )
    assert (
        api(
            client, "PUT", "/fhir/Patient/never-created", token, dict(created, id="never-created")
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("status", "expected"), [("corrected", 201), ("entered-in-error", 201), ("banana", 422)]
)
def test_observation_status_uses_the_complete_value_set(
    client: FlaskClient, world: World, status: str, expected: int
) -> None:
    record = create(client, world["examiner"].token, patient())
    response = api(
        client,
        "POST",
        "/fhir/Observation",
        world["examiner"].token,
        observation(record["id"]) | {"status": status},
    )
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("who", "query"),
    [
        ("custodian", "Specimen?identifier=A%00B"),
        ("examiner", "Specimen?identifier=|%00"),
        ("examiner", "Patient?identifier=%00"),
        ("examiner", "Observation?code=%1b"),
    ],
)
def test_a_search_value_with_a_control_character_is_refused_on_every_database(
    client: FlaskClient, world: World, who: str, query: str
) -> None:
    """A NUL byte is refused by PostgreSQL in text: it is refused here first, with
    a clear message, on SQLite and PostgreSQL alike, never a 500."""
    response = api(client, "GET", f"/fhir/{query}", world[who].token)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert "control character" in issue["diagnostics"]
