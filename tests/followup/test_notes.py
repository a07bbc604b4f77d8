"""Counselling notes: written and read by the counsellors of her care team only
(therapeutic records): never examiners, never police, never in a release;
versioned, an edit never overwrites a later one, every read audited."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Action, decide
from clinic.access.policy import RELEASE, AccessDenied
from clinic.accounts.models import Organization, User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.followup import services
from clinic.release.services import force_actor, releasable
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.followup.helpers import agreed_plan, call, signed_exam
from tests.helpers import api, csrf_token, login, open_case


def write(app: Flask, plan_id: str, text: str, username: str = "counsellor", **extra) -> str:
    return str(
        call(app, username, services.write_counselling_note, plan_id=plan_id, text=text, **extra)
    )


def read(app: Flask, plan_id: str, username: str = "counsellor") -> list[services.CounsellingNote]:
    return call(app, username, services.counselling_notes, plan_id=plan_id)  # type: ignore[no-any-return]


def test_notes_are_versioned_and_never_overwritten(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    note_id = write(app, plan_id, "Talked about sleep.")
    write(app, plan_id, "Talked about sleep and work.", note_id=note_id, expected_version=1)
    (note,) = read(app, plan_id)
    assert note.text == "Talked about sleep and work."
    assert note.version == 2
    with pytest.raises(services.FollowUpRefused, match="Someone changed this note"):
        write(app, plan_id, "Stale edit.", note_id=note_id, expected_version=1)
    for bad, message in (("   ", "Write the note"), ("x" * 20_001, "at most 20000")):
        with pytest.raises(services.FollowUpRefused, match=message):
            write(app, plan_id, bad)
    with engine.connect() as connection:
        versions = connection.exec_driver_sql(
            "SELECT count(*) FROM fhir_resource_versions WHERE resource_type = 'DocumentReference'"
        ).scalar()
        audited = connection.execute(
            sa.text("SELECT count(*) FROM audit_events WHERE reasons LIKE :what"),
            {"what": "%counselling notes opened%"},
        ).scalar()
    assert versions == 2
    assert audited >= 1


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("examiner", AccessDenied),  # therapeutic records: not the examiners'
        ("counsellor.south", services.PlanNotFound),
        ("officer", AccessDenied),
        ("custodian", AccessDenied),
        ("admin", AccessDenied),
        ("auditor", AccessDenied),
    ],
)
def test_only_her_care_teams_counsellors_read_or_write(
    app: Flask, world: World, username: str, error: type[Exception]
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    note_id = write(app, plan_id, "Session one.")
    with pytest.raises(error):
        read(app, plan_id, username)
    with pytest.raises(error):
        write(app, plan_id, "Not mine to write.", username)
    with pytest.raises(error):
        write(app, plan_id, "Not mine to change.", username, note_id=note_id)


def test_notes_never_reach_police_nor_the_api_of_others(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id))
    note_id = write(app, plan_id, "She is afraid of him finding out.")
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    with app.app_context(), unit_of_work() as uow:
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
        assert released
        assert "afraid of him" not in json.dumps([v.content for v in released])
        assert note_id not in json.dumps([v.content for v in released])
        officer = force_actor(force)
        assert not decide(officer, Action.EXPORT, "DocumentReference", operation=RELEASE).permitted
    token = world["counsellor"].token
    found = api(client, "GET", f"/fhir/DocumentReference?patient={case.patient_id}", token)
    assert [e["resource"]["id"] for e in found.get_json()["entry"]] == [note_id]
    for username, status in (
        ("officer", 404),
        ("officer.hill", 404),
        ("counsellor.south", 404),
        ("examiner", 403),
        ("custodian", 403),
        ("auditor", 403),
    ):
        for path in (
            f"/fhir/DocumentReference/{note_id}",
            f"/fhir/DocumentReference/{note_id}/_history",
            f"/fhir/DocumentReference?patient={case.patient_id}",
        ):
            response = api(client, "GET", path, world[username].token)
            body = response.get_data(as_text=True)
            assert "afraid of him" not in body, (username, path)
            if "?" in path:
                assert note_id not in body, (username, path)
            else:
                assert response.status_code == status, (username, path, response.status_code)
                # The same answer as for an id that does not exist (no oracle).
                guessed = api(
                    client, "GET", path.replace(note_id, "guessed-id"), world[username].token
                )
                assert body.replace(note_id, "guessed-id") == guessed.get_data(as_text=True)


def test_notes_screen(app: Flask, client: FlaskClient, world: World) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    login(client, "counsellor", PASSWORD)
    url = f"/followup/plans/{plan_id}/notes"
    token = csrf_token(client, url)
    refused = client.post(url, data={"text": "  ", "csrf_token": token})
    assert refused.status_code == 422
    saved = client.post(url, data={"text": "We planned the next call.", "csrf_token": token})
    assert saved.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "We planned the next call." in page
    examiner = app.test_client()
    login(examiner, "examiner", PASSWORD)
    assert examiner.get(url).status_code == 403


def test_the_exam_safety_carry_over_guesses_nothing(app: Flask, world: World) -> None:
    """An exam with an injury and "no" to strangulation in this incident, without
    its safety steps: only the recorded injury carries over (tests/followup/
    test_safety.py has the full table)."""
    from clinic.followup.safety import carried_over_from_exam
    from tests.exam.helpers import read as read_exam

    exam_id = signed_exam(app, open_case(app).id, pep=False)
    assert carried_over_from_exam(read_exam(app, exam_id)) == {"injured-this-time": "yes"}
