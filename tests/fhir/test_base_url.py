"""Absolute URLs (Location, Bundle links, fullUrl) never follow a Host header an
attacker chose: a production app needs FHIR_BASE_URL or TRUSTED_HOSTS to start,
answers 400 to any other host, and a configured base URL wins over every header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from clinic import PROJECT_ROOT, create_app
from clinic.core.db import db
from tests.conftest import World
from tests.helpers import api, patient

EXAMPLES = PROJECT_ROOT / "fhir_profiles" / "examples"
HOSTILE = ("evil.example", "evil.example:443", "clinic.example.org.evil.example", "")


def _production(app_config: dict[str, Any], **settings: Any) -> dict[str, Any]:
    # Production as shipped: passkeys required for police and administrators.
    relaxed = {key: value for key, value in app_config.items() if key != "PASSKEY_REQUIRED_ROLES"}
    return {**relaxed, "TESTING": False, **settings}


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Any]:
    built: list[Flask] = []

    def make(**settings: Any) -> Flask:
        application = create_app(_production(app_config, **settings))
        built.append(application)
        return application

    yield make
    for application in built:
        db.dispose(application)


def _versions(application: Flask) -> int:
    with db.engine(application).connect() as connection:
        return int(
            connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar() or 0
        )


def test_production_without_a_base_url_or_trusted_hosts_does_not_start(
    app_config: dict[str, Any],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        create_app(_production(app_config))
    assert "FHIR_BASE_URL" in str(stopped.value)
    assert "TRUSTED_HOSTS" in str(stopped.value)


def test_the_command_line_starts_without_them(app_config: dict[str, Any]) -> None:
    application = create_app(_production(app_config, FOR_CLI=True))
    db.dispose(application)


def test_development_may_use_the_request_host(app_config: dict[str, Any]) -> None:
    application = create_app(_production(app_config, CLINIC_ENV="development"))
    db.dispose(application)


def test_trusted_hosts_refuse_any_other_host(make_app: Any, world: World) -> None:
    application = make_app(TRUSTED_HOSTS=["clinic.example.org"])
    client = application.test_client()
    token = world["examiner"].token
    before = _versions(application)
    for host in HOSTILE:
        response = api(client, "POST", "/fhir/Patient", token, patient(), Host=host)
        assert response.status_code == 400, (host, response.get_data(as_text=True))
        assert response.get_json()["resourceType"] == "OperationOutcome"
        search = api(client, "GET", "/fhir/Patient", token, Host=host)
        assert search.status_code == 400
        assert "//evil" not in search.get_data(as_text=True)
        assert "Location" not in response.headers
    assert _versions(application) == before

    good = api(client, "POST", "/fhir/Patient", token, patient(), Host="clinic.example.org")
    assert good.status_code == 201, good.get_data(as_text=True)
    assert good.headers["Location"].startswith("http://clinic.example.org/fhir/Patient/")


def test_a_configured_base_url_wins_over_every_header(
    client: Any, app: Flask, world: World
) -> None:
    app.config["FHIR_BASE_URL"] = "https://clinic.example.org/fhir"
    token = world["examiner"].token
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    created = api(client, "POST", "/fhir/Patient", token, patient(), **hostile)
    assert created.status_code == 201
    assert created.headers["Location"].startswith("https://clinic.example.org/fhir/Patient/")
    bundles = [
        api(client, "GET", "/fhir/Patient?_count=1", token, **hostile),
        api(client, "GET", f"/fhir/Patient/{created.get_json()['id']}/_history", token, **hostile),
        api(client, "GET", "/fhir/metadata", None, **hostile),
    ]
    for response in bundles:
        assert response.status_code == 200
        assert "evil" not in response.get_data(as_text=True)
    searched = bundles[0].get_json()
    assert all(
        e["fullUrl"].startswith("https://clinic.example.org/fhir/") for e in searched["entry"]
    )
    assert all(
        link["url"].startswith("https://clinic.example.org/fhir/") for link in searched["link"]
    )


def test_without_configuration_tests_follow_the_host(client: Any, world: World) -> None:
    # The behaviour the production check exists to prevent: shown here so that the
    # check above can fail.
    created = api(
        client, "POST", "/fhir/Patient", world["examiner"].token, patient(), Host="evil.example"
    )
    assert created.headers["Location"].startswith("http://evil.example/fhir/")


def test_release_request_location_uses_the_configured_base(
    client: Any, app: Flask, world: World
) -> None:
    app.config["FHIR_BASE_URL"] = "https://clinic.example.org/fhir"
    task = json.loads((EXAMPLES / "Task-example-release-request.json").read_text())
    response = api(client, "POST", "/fhir/Task", world["officer"].token, task, Host="evil.example")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Location"].startswith("https://clinic.example.org/fhir/Task/")
