"""The API's explicit limits and the inputs that once answered 500: each is now
refused with a 400, 413 or 422 and an OperationOutcome, and changes nothing."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from clinic.fhir.limits import (
    MAX_ARRAY_LENGTH,
    MAX_IDENTIFIERS,
    MAX_JSON_DEPTH,
    MAX_SEARCH_PARAMETERS,
    MAX_VALUES_PER_PARAMETER,
)
from tests.conftest import World
from tests.helpers import api, create, patient

CASE = "https://forensic-care.org/fhir/sid/case-reference"


def _refused(response: TestResponse, status: int, fragment: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert fragment in " ".join(issue["diagnostics"] for issue in body["issue"])


def _versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar() or 0
        )


def _nested(depth: int) -> dict[str, object]:
    value: object = "x"
    for _ in range(depth):
        value = {"url": "https://example.org/x", "extension": [value]}
    return patient(extension=[value])


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 2000])
def test_a_body_nested_beyond_the_limit_is_400(
    client: FlaskClient, world: World, engine: sa.Engine, depth: int
) -> None:
    before = _versions(engine)
    if depth > 500:  # beyond the parser's own recursion: raw text
        body = '{"resourceType":"Patient","extension":' + "[" * depth + "]" * depth + "}"
        response = api(client, "POST", "/fhir/Patient", world["examiner"].token, body)
    else:
        response = api(client, "POST", "/fhir/Patient", world["examiner"].token, _nested(depth))
    _refused(response, 400, f"nested deeper than {MAX_JSON_DEPTH} levels")
    assert _versions(engine) == before


def test_a_body_just_within_the_depth_limit_is_parsed(client: FlaskClient, world: World) -> None:
    # Refused for what it says (an extension without a value), not for its depth.
    response = api(client, "POST", "/fhir/Patient", world["examiner"].token, _nested(20))
    assert response.status_code in (400, 422)
    assert "nested deeper" not in response.get_data(as_text=True)


def test_twenty_thousand_identifiers_are_refused_before_anything_is_indexed(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    before = _versions(engine)
    many = [{"system": CASE, "value": f"SA-{i:05d}"} for i in range(20_000)]
    body = patient()
    body["identifier"] = many
    response = api(client, "POST", "/fhir/Patient", world["examiner"].token, body)
    _refused(response, 422, f"at most {MAX_IDENTIFIERS} identifiers")
    assert response.get_json()["issue"][0]["expression"] == ["Patient.identifier"]
    assert _versions(engine) == before


def test_identifiers_at_the_limit_are_accepted(client: FlaskClient, world: World) -> None:
    body = patient()
    body["identifier"] = [{"system": CASE, "value": f"SA-{i:05d}"} for i in range(MAX_IDENTIFIERS)]
    assert api(client, "POST", "/fhir/Patient", world["examiner"].token, body).status_code == 201
    body["identifier"].append({"system": CASE, "value": "SA-one-more"})
    _refused(api(client, "POST", "/fhir/Patient", world["examiner"].token, body), 422, "at most")


def test_a_long_array_is_refused_even_inside_a_transaction(
    client: FlaskClient, world: World
) -> None:
    body = patient(name=[{"given": ["A"] * (MAX_ARRAY_LENGTH + 1)}])
    _refused(
        api(client, "POST", "/fhir/Patient", world["examiner"].token, body),
        422,
        f"at most {MAX_ARRAY_LENGTH} items",
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}}] * (MAX_ARRAY_LENGTH + 1),
    }
    _refused(
        api(client, "POST", "/fhir", world["examiner"].token, bundle),
        422,
        f"at most {MAX_ARRAY_LENGTH} items",
    )


def test_a_body_larger_than_max_content_length_is_413(client: FlaskClient, world: World) -> None:
    body = json.dumps(patient(text={"status": "generated", "div": "x" * 3_000_000}))
    _refused(api(client, "POST", "/fhir/Patient", world["examiner"].token, body), 413, "")


def test_a_version_number_beyond_any_integer_is_404(client: FlaskClient, world: World) -> None:
    pid = create(client, world["examiner"].token, patient())["id"]
    for version in ("99999999999999999999", "9" * 400, "-1", "1e3"):
        response = api(
            client, "GET", f"/fhir/Patient/{pid}/_history/{version}", world["examiner"].token
        )
        _refused(response, 404, "is not known")


@pytest.mark.parametrize("count", ["99999999999999999999", "9" * 400])
def test_a_count_beyond_any_integer_is_the_largest_page(
    client: FlaskClient, world: World, count: str
) -> None:
    response = api(client, "GET", f"/fhir/Patient?_count={count}", world["examiner"].token)
    assert response.status_code == 200
    assert "_count=100" in response.get_json()["link"][0]["url"]


@pytest.mark.parametrize("who", ["officer", "examiner", "custodian", "auditor"])
def test_a_task_whose_code_is_a_string(client: FlaskClient, world: World, who: str) -> None:
    response = api(
        client, "POST", "/fhir/Task", world[who].token, {"resourceType": "Task", "code": "x"}
    )
    if who == "officer":
        _refused(response, 400, "Task.code must be a CodeableConcept")
    else:
        # The role is checked before the body is read.
        _refused(response, 403, "not allowed")


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Task", "code": {"coding": "x"}},
        {"resourceType": "Task", "code": {"coding": ["x"]}},
        {"resourceType": "Task", "input": {"type": 1}},
        {"resourceType": "Task", "code": {"coding": [{"system": 1, "code": []}]}, "input": ["x"]},
    ],
)
def test_malformed_release_requests_are_400_or_422(
    client: FlaskClient, world: World, body: dict[str, object]
) -> None:
    response = api(client, "POST", "/fhir/Task", world["officer"].token, body)
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_staff_are_refused_a_task_before_a_body_that_is_not_even_json(
    client: FlaskClient, world: World
) -> None:
    response = api(client, "POST", "/fhir/Task", world["examiner"].token, b"{not json")
    _refused(response, 403, "not allowed")


@pytest.mark.parametrize(
    "value",
    [
        "sa2026-01-01T10:00:00+99:00",
        "2026-01-01T10:00:00-14:01",
        "2026-01-01T10:00:00+05:60",
    ],
)
def test_an_impossible_time_zone_offset_is_400(
    client: FlaskClient, world: World, value: str
) -> None:
    response = api(
        client,
        "GET",
        "/fhir/Patient?" + urlencode({"_lastUpdated": value}),
        world["examiner"].token,
    )
    _refused(response, 400, "is not a time zone offset")


def test_the_widest_real_offsets_are_accepted(client: FlaskClient, world: World) -> None:
    for value in ("ge2026-01-01T10:00:00+14:00", "le2026-01-01T10:00:00-12:00"):
        response = api(
            client,
            "GET",
            "/fhir/Patient?" + urlencode({"_lastUpdated": value}),
            world["examiner"].token,
        )
        assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["identifier", "_id", "subject"])
def test_too_many_values_in_one_parameter(client: FlaskClient, world: World, name: str) -> None:
    resource = "Observation" if name == "subject" else "Patient"
    values = ",".join(f"Patient/v{i}" for i in range(1200))
    url = f"/fhir/{resource}?" + urlencode({name: values})
    response = api(client, "GET", url, world["examiner"].token)
    _refused(response, 400, f"at most {MAX_VALUES_PER_PARAMETER} values")


def test_values_at_the_limit_are_searched(client: FlaskClient, world: World) -> None:
    values = ",".join(f"v{i}" for i in range(MAX_VALUES_PER_PARAMETER))
    url = "/fhir/Patient?" + urlencode({"identifier": values})
    response = api(client, "GET", url, world["examiner"].token)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_too_many_parameters_in_one_search(client: FlaskClient, world: World) -> None:
    query = "&".join(["identifier=x"] * (MAX_SEARCH_PARAMETERS + 1))
    response = api(client, "GET", f"/fhir/Patient?{query}", world["examiner"].token)
    _refused(response, 400, f"at most {MAX_SEARCH_PARAMETERS} parameters")
    form = api(
        client,
        "POST",
        "/fhir/Patient/_search",
        world["examiner"].token,
        query,
        Content_Type="application/x-www-form-urlencoded",
    )
    _refused(form, 400, f"at most {MAX_SEARCH_PARAMETERS} parameters")


@pytest.mark.parametrize("value", ["9999-12-31", "eb9999-12-31T23:59:59+14:00"])
def test_a_date_at_the_end_of_the_calendar_is_400(
    client: FlaskClient, world: World, value: str
) -> None:
    url = "/fhir/Patient?" + urlencode({"_lastUpdated": value})
    _refused(api(client, "GET", url, world["examiner"].token), 400, "beyond the dates")


def test_the_documented_limits_are_the_enforced_ones() -> None:
    from clinic import PROJECT_ROOT

    docs = (PROJECT_ROOT / "docs" / "fhir-api.md").read_text()
    section = docs[docs.index("## Limits") : docs.index("## Errors")]
    assert f"| {MAX_JSON_DEPTH} levels |" in section
    assert f"| {MAX_ARRAY_LENGTH:,} |" in section
    assert f"| {MAX_IDENTIFIERS} |" in section
    assert f"| {MAX_VALUES_PER_PARAMETER} |" in section
    assert f"| {MAX_SEARCH_PARAMETERS} |" in section
