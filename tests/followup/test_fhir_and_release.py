"""Her follow-up plan through the FHIR API (read, search, history: the care team of
her site only) and never to police, whatever she released (promise 1)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Action, decide
from clinic.access.policy import RELEASE
from clinic.accounts.models import Organization
from clinic.cli import unit_of_work
from clinic.fhir.validation import validate_resource
from clinic.release.services import force_actor, releasable
from tests.conftest import World
from tests.consent.helpers import all_items, release_to
from tests.followup.helpers import agreed_plan, signed_exam
from tests.helpers import api, open_case


def _plan(app: Flask) -> tuple[str, str]:
    case = open_case(app)
    return agreed_plan(app, signed_exam(app, case.id)), case.patient_id


def test_care_team_reads_and_searches_the_plan(
    app: Flask, client: FlaskClient, world: World
) -> None:
    plan_id, patient_id = _plan(app)
    for username in ("examiner", "counsellor"):
        token = world[username].token
        read = api(client, "GET", f"/fhir/CarePlan/{plan_id}", token)
        assert read.status_code == 200, username
        validate_resource(read.get_json(), app.extensions["clinic.profiles"])
        for query in (
            f"patient={patient_id}",
            f"subject=Patient/{patient_id}",
            "status=active",
            "activity-code=hiv-test-6-weeks",
        ):
            found = api(client, "GET", f"/fhir/CarePlan?{query}", token).get_json()
            assert [e["resource"]["id"] for e in found.get("entry", [])] == [plan_id], query
        assert (
            api(client, "GET", "/fhir/CarePlan?status=completed", token).get_json().get("entry", [])
            == []
        )
        history = api(client, "GET", f"/fhir/CarePlan/{plan_id}/_history", token)
        assert history.status_code == 200


def test_other_sites_and_other_roles_find_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    plan_id, patient_id = _plan(app)
    for username in ("examiner.south", "counsellor.south", "officer", "officer.hill"):
        token = world[username].token
        assert api(client, "GET", f"/fhir/CarePlan/{plan_id}", token).status_code == 404
        assert api(client, "GET", f"/fhir/CarePlan/{plan_id}/_history/1", token).status_code == 404
        found = api(client, "GET", f"/fhir/CarePlan?patient={patient_id}", token)
        assert plan_id not in found.get_data(as_text=True), username
    for username in ("custodian", "admin", "auditor"):
        response = api(client, "GET", f"/fhir/CarePlan/{plan_id}", world[username].token)
        assert response.status_code == 403
        assert plan_id not in response.get_data(as_text=True)


def test_the_plan_is_not_written_through_the_api(
    app: Flask, client: FlaskClient, world: World
) -> None:
    plan_id, _ = _plan(app)
    current = api(client, "GET", f"/fhir/CarePlan/{plan_id}", world["counsellor"].token).get_json()
    for method, path in (("PUT", f"/fhir/CarePlan/{plan_id}"), ("POST", "/fhir/CarePlan")):
        response = api(client, method, path, world["counsellor"].token, current)
        assert response.status_code in (403, 405), (method, response.status_code)


def test_the_plan_never_reaches_police_whatever_she_released(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id))
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    with app.app_context(), unit_of_work() as uow:
        from clinic.accounts.models import User
        from clinic.accounts.services import actor_for

        examiner = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        force = uow.session.get(Organization, world.organizations["RIVERPOL"])
        assert force is not None
        released = releasable(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(examiner),
            case_id=case.id,
            force_id=force.id,
        )
        assert released  # her consent releases her exam report...
        assert all(version.resource_type != "CarePlan" for version in released)  # ...not this
        assert plan_id not in json.dumps([version.content for version in released])
        officer = force_actor(force)
        assert not decide(officer, Action.EXPORT, "CarePlan", operation=RELEASE).permitted
        assert not decide(officer, Action.READ, "CarePlan").permitted
    response = api(client, "GET", f"/fhir/CarePlan/{plan_id}", world["officer"].token)
    assert response.status_code == 404


def test_capability_statement_tells_the_truth(app: Flask, client: FlaskClient) -> None:
    statement = client.get("/fhir/metadata").get_json()
    (care_plan,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "CarePlan"]
    assert care_plan["profile"].endswith("/fc-care-plan")
    assert {i["code"] for i in care_plan["interaction"]} == {
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
    }
    assert {p["name"] for p in care_plan["searchParam"]} >= {
        "patient",
        "subject",
        "encounter",
        "status",
        "activity-code",
    }
