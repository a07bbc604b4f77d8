"""Safe contact, enforced: what she allowed is shown before any contact; an attempt
by a channel she did not allow is refused and writes nothing; attempts are FHIR
Communications with their outcome; nothing is sent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.policy import AccessDenied
from clinic.followup import services
from clinic.followup.resources import SafeContactPlan
from tests.conftest import PASSWORD, World
from tests.followup.helpers import agreed_plan, call, signed_exam
from tests.followup.test_appointments import book, caseload, outcome, time_passes
from tests.helpers import api, csrf_token, login, open_case


def attempt(app: Flask, plan_id: str, channel: str, result: str, username: str = "counsellor"):
    return call(
        app,
        username,
        services.record_contact_attempt,
        plan_id=plan_id,
        channel=channel,
        outcome=result,
    )


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(sql).scalar() or 0)


def test_a_channel_she_did_not_allow_is_refused_and_nothing_written(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    for channel in ("text", "voicemail", "email"):
        with pytest.raises(services.FollowUpRefused) as refused:
            attempt(app, plan_id, channel, "no-answer")
        assert refused.value.field == "channel"
        assert "She allows phone call only." in refused.value.message
    assert _count(engine, "SELECT count(*) FROM followup_contact_attempts") == 0
    assert (
        _count(engine, "SELECT count(*) FROM fhir_resources WHERE resource_type = 'Communication'")
        == 0
    )
    with pytest.raises(services.FollowUpRefused, match="Choose how"):
        attempt(app, plan_id, "pigeon", "reached")
    with pytest.raises(services.FollowUpRefused, match="Choose what came"):
        attempt(app, plan_id, "call", "maybe")


def test_no_channel_means_no_contact(app: Flask, world: World) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    first = proposal.items[0].item
    review = services.PlanReview(
        [services.ReviewedItem(first.code, True, None, first.responsible)], [], True
    )
    plan = call(app, "examiner", services.agree_plan, exam_id=exam_id, review=review)
    with pytest.raises(services.FollowUpRefused, match="has not agreed to be contacted at all"):
        attempt(app, plan.id, "call", "reached")
    bad = services.PlanReview(
        review.items, [], True, SafeContactPlan(("carrier-pigeon",), None, False)
    )
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    with pytest.raises(services.FollowUpRefused, match="not a way we contact"):
        call(app, "examiner", services.agree_plan, exam_id=exam_id, review=bad)


def test_attempts_are_recorded_and_reaching_her_clears_the_contact_flag(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id, pep=False))
    appointment_id = book(app, plan_id, "visit-2-weeks")
    time_passes(engine, appointment_id)
    outcome(app, appointment_id, "noshow")
    (entry,) = [e for e in caseload(app) if e.plan.id == plan_id]
    assert entry.needs_contact == "missed-appointment"
    attempt(app, plan_id, "call", "no-answer")
    (entry,) = [e for e in caseload(app) if e.plan.id == plan_id]
    assert entry.needs_contact == "missed-appointment"  # not reached yet
    attempt(app, plan_id, "call", "reached")
    (entry,) = [e for e in caseload(app) if e.plan.id == plan_id]
    assert entry.needs_contact is None
    assert entry.last_contact is not None

    found = api(
        client,
        "GET",
        f"/fhir/Communication?patient={case.patient_id}&medium=call",
        world["counsellor"].token,
    ).get_json()
    statuses = sorted(e["resource"]["status"] for e in found["entry"])
    assert statuses == ["completed", "not-done"]
    assert all("payload" not in e["resource"] for e in found["entry"])
    some_id = found["entry"][0]["resource"]["id"]
    for username in ("officer", "counsellor.south", "examiner.south"):
        response = api(client, "GET", f"/fhir/Communication/{some_id}", world[username].token)
        assert response.status_code == 404
    for username in ("custodian", "admin"):
        response = api(client, "GET", f"/fhir/Communication/{some_id}", world[username].token)
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("examiner", AccessDenied),
        ("counsellor.south", services.PlanNotFound),
        ("officer", AccessDenied),
        ("custodian", AccessDenied),
    ],
)
def test_only_her_sites_counsellors_record_contact(
    app: Flask, world: World, username: str, error: type[Exception]
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    with pytest.raises(error):
        attempt(app, plan_id, "call", "reached", username)


def test_the_contact_screen_shows_what_she_allowed_first(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    login(client, "counsellor", PASSWORD)
    page = client.get(f"/followup/plans/{plan_id}/contact").get_data(as_text=True)
    allowed = page.index("Before you contact her")
    assert allowed < page.index("Record a contact attempt")
    assert "phone call" in page[allowed:]
    assert "Weekday mornings" in page
    assert "Ask for her code word" in page
    token = csrf_token(client, f"/followup/plans/{plan_id}/contact")
    refused = client.post(
        f"/followup/plans/{plan_id}/contact",
        data={"channel": "text", "outcome": "no-answer", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert "She has not agreed to be contacted by text message" in refused.get_data(as_text=True)
    assert _count(engine, "SELECT count(*) FROM followup_contact_attempts") == 0
    recorded = client.post(
        f"/followup/plans/{plan_id}/contact",
        data={"channel": "call", "outcome": "reached", "note": "Fine.", "csrf_token": token},
    )
    assert recorded.status_code == 302
    assert "Reached her" in client.get(f"/followup/plans/{plan_id}").get_data(as_text=True)
    assert _count(engine, "SELECT count(*) FROM followup_contact_attempts") == 1


def test_the_plan_pages_title_is_words_only_not_her_contact_attempts(
    app: Flask, client: FlaskClient, world: World
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    attempt(app, plan_id, "call", "no-answer")
    login(client, "counsellor", PASSWORD)
    page = client.get(f"/followup/plans/{plan_id}").get_data(as_text=True)
    title = page[page.index("<title>") : page.index("</title>")]
    assert "Follow-up plan, case" in title
    assert "<" not in title.removeprefix("<title>")
    assert "Contact attempts" not in title
