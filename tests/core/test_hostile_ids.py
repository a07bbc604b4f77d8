"""Ids, versions and counts an attacker types: a NUL character anywhere in a request
(PostgreSQL cannot compare or store one) and numbers that `str.isdigit()` lets
through ("²", a hundred digits). Each gets a clear 4xx on every route, never a 500,
and changes nothing."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, World
from tests.helpers import api, create, csrf_token, login, patient

VARIABLE = re.compile(r"<(?:[^:>]+:)?[^>]+>")


def _count_rows(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (
            connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar_one(),
            connection.exec_driver_sql("SELECT count(*) FROM cases").scalar_one(),
        )


def test_a_nul_character_is_refused_on_every_route_before_anything_looks_it_up(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    browser = app.test_client()
    assert login(browser, "examiner", PASSWORD).status_code == 302
    token = csrf_token(browser, "/account/password")
    before = _count_rows(engine)
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = VARIABLE.sub("%00", rule.rule) if rule.arguments else rule.rule + "?q=%00"
        for method in sorted((rule.methods or set()) & {"GET", "POST", "PUT"}):
            if path.startswith("/fhir"):
                response = api(app.test_client(), method, path, world["examiner"].token)
            else:
                response = browser.open(
                    path, method=method, data={"csrf_token": token, "note": "a\x00b"}
                )
            if response.status_code != 400:
                failures.append(f"{method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert _count_rows(engine) == before


def test_a_nul_character_in_a_form_value_is_refused_and_nothing_is_written(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    assert login(client, "examiner", PASSWORD).status_code == 302
    before = _count_rows(engine)
    response = client.post(
        "/cases/new",
        data={"csrf_token": csrf_token(client, "/cases/new"), "reference": "SA-\x00-1"},
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert _count_rows(engine) == before


def test_versions_and_counts_that_are_not_short_ascii_numbers(
    client: FlaskClient, world: World
) -> None:
    token = world["examiner"].token
    record = create(client, token, patient("SA-NUM-0001"))
    for version in ("99999999999999999999999", "%C2%B2", "1%C2%B2", "-1", "abc"):
        response = api(client, "GET", f"/fhir/Patient/{record['id']}/_history/{version}", token)
        assert response.status_code == 404, (version, response.status_code)
    for provenance in (
        f"Patient-{record['id']}-99999999999999999999",
        f"Patient-{record['id']}-%C2%B2",
    ):
        response = api(client, "GET", f"/fhir/Provenance/{provenance}", token)
        assert response.status_code == 404, (provenance, response.status_code)
    huge = api(client, "GET", "/fhir/Patient?_count=99999999999999999999999999", token)
    assert huge.status_code == 200
    assert api(client, "GET", "/fhir/Patient?_count=%C2%B2", token).status_code == 400
    stale = client.put(
        f"/fhir/Patient/{record['id']}",
        json=record,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/fhir+json",
            "If-Match": 'W/"²"',
        },
    )
    assert stale.status_code == 400
    assert "is not a version ETag" in stale.get_data(as_text=True)
    auditor = world["auditor"].token
    for audit_id in ("99999999999999999999999", "%C2%B2"):
        assert api(client, "GET", f"/fhir/AuditEvent/{audit_id}", auditor).status_code == 404
        assert api(client, "GET", f"/fhir/AuditEvent?_id={audit_id}", auditor).status_code == 200


def test_a_fhir_body_with_control_characters_or_nested_too_deep_is_refused(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    token = world["examiner"].token
    before = _count_rows(engine)
    for text in ("a\u0000b", "bell\u0007", "vertical\u000btab"):
        body = patient("SA-CTL-0001") | {"name": [{"text": text}]}
        response = api(client, "POST", "/fhir/Patient", token, body)
        assert response.status_code == 422, (text, response.status_code)
        issue = response.get_json()["issue"][0]
        assert issue["expression"] == ["Patient.name[0].text"]
        assert "control characters" in issue["diagnostics"]
    deep = '{"resourceType": "Patient", "extension": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api(client, "POST", "/fhir/Patient", token, deep)
    assert response.status_code == 400
    assert _count_rows(engine) == before
    fine = patient("SA-CTL-0002") | {"name": [{"text": "tab\tand\r\nnew line"}]}
    assert api(client, "POST", "/fhir/Patient", token, fine).status_code == 201
