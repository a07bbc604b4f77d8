"""Findings of the follow-up review, each stated as the rule it breaks: contact
notes are the counsellor's, authorisation comes before validation, a note is
edited from the version it was based on, no input yields a 500, an overdue item
stays visible until attended, two people cannot agree the same plan twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.followup import services
from tests.conftest import PASSWORD, World
from tests.followup.helpers import agreed_plan, call, keep_all, signed_exam
from tests.followup.test_appointments import book, caseload, position_of
from tests.helpers import api, csrf_token, login, open_case

SECRET = "She says he reads her messages at night"


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(sql).scalar() or 0)


def _like(engine: sa.Engine, condition: str, fragment: str) -> int:
    """Audit records matching `condition`, whose :pattern contains `fragment`."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text(f"SELECT count(*) FROM audit_events WHERE {condition}"),
                {"pattern": f"%{fragment}%"},
            ).scalar()
            or 0
        )


def _written(engine: sa.Engine) -> tuple[int, ...]:
    """Everything follow-up writes: unchanged means nothing was written."""
    return tuple(
        _count(engine, f"SELECT count(*) FROM {table}")
        for table in (
            "fhir_resource_versions",
            "followup_plans",
            "followup_appointments",
            "followup_contact_attempts",
        )
    )


# -- 1. a contact attempt's note is the counsellor's --------------------------------


def test_examiners_never_read_the_note_of_a_contact_attempt(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id, pep=False))
    attempt = call(
        app,
        "counsellor",
        services.record_contact_attempt,
        plan_id=plan_id,
        channel="call",
        outcome="not-safe",
        note=SECRET,
    )
    counsellor = world["counsellor"].token
    mine = api(client, "GET", f"/fhir/Communication/{attempt.id}", counsellor).get_json()
    assert mine["note"] == [{"text": SECRET}]  # the counsellor still reads it
    examiner = world["examiner"].token
    for path in (
        f"/fhir/Communication/{attempt.id}",
        f"/fhir/Communication/{attempt.id}/_history/1",
        f"/fhir/Communication/{attempt.id}/_history",
        "/fhir/Communication/_history",
        f"/fhir/Communication?patient={case.patient_id}",
        f"/fhir/Communication?subject=Patient/{case.patient_id}",
        f"/fhir/Communication?patient={case.patient_id}&_include=Communication:subject",
    ):
        response = api(client, "GET", path, examiner)
        assert response.status_code in (200, 400), path
        body = response.get_data(as_text=True)
        assert "reads her messages" not in body, path
    # The examiner still sees that she was called and what came of it.
    seen = api(client, "GET", f"/fhir/Communication/{attempt.id}", examiner).get_json()
    assert seen["medium"][0]["coding"][0]["code"] == "call"
    assert "note" not in seen


# -- 2. authorise first, then validate -----------------------------------------------


def test_another_sites_appointment_or_a_guessed_id_is_not_known_whatever_the_input(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    appointment_id = book(app, plan_id, "visit-2-weeks")
    before = _written(engine)
    login(client, "counsellor.south", PASSWORD)
    token = csrf_token(client, "/followup/caseload")
    for outcome in ("bogus", "cancelled", ""):
        response = client.post(
            f"/followup/appointments/{appointment_id}",
            data={"outcome": outcome, "csrf_token": token},
        )
        assert response.status_code == 404, outcome
        assert plan_id not in response.get_data(as_text=True)
        assert plan_id not in response.headers.get("Location", "")
    for path in (
        f"/followup/plans/{plan_id}/items/0",
        f"/followup/plans/{plan_id}/items/0/appointments",
    ):
        response = client.post(path, data={"status": "bogus", "csrf_token": token})
        assert response.status_code == 404, path
    client.post("/logout", data={"csrf_token": token})
    login(client, "counsellor", PASSWORD)
    token = csrf_token(client, "/followup/caseload")
    for outcome in ("bogus", "cancelled", ""):
        response = client.post(
            "/followup/appointments/no-such-appointment",
            data={"outcome": outcome, "csrf_token": token},
        )
        assert response.status_code == 404, outcome
    # Her own counsellor with a bad outcome: told why, back on her plan.
    response = client.post(
        f"/followup/appointments/{appointment_id}", data={"outcome": "bogus", "csrf_token": token}
    )
    assert response.status_code == 303
    assert plan_id in response.headers["Location"]
    assert _written(engine) == before


# -- 3. a note is edited from the version it was based on ---------------------------


def test_editing_a_note_needs_the_version_it_was_based_on(app: Flask, world: World) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    note_id = call(
        app, "counsellor", services.write_counselling_note, plan_id=plan_id, text="Session one."
    )
    with pytest.raises(services.FollowUpRefused, match="version"):
        call(
            app,
            "counsellor",
            services.write_counselling_note,
            plan_id=plan_id,
            text="Overwritten blind.",
            note_id=note_id,
        )
    call(
        app,
        "counsellor",
        services.write_counselling_note,
        plan_id=plan_id,
        text="Session one, amended.",
        note_id=note_id,
        expected_version=1,
    )
    with pytest.raises(services.FollowUpRefused, match="Someone changed this note"):
        call(
            app,
            "counsellor",
            services.write_counselling_note,
            plan_id=plan_id,
            text="From a stale copy.",
            note_id=note_id,
            expected_version=1,
        )
    notes = call(app, "counsellor", services.counselling_notes, plan_id=plan_id)
    assert [(n.version, n.text) for n in notes] == [(2, "Session one, amended.")]


def test_the_notes_screen_refuses_an_edit_without_a_readable_version(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    note_id = call(
        app, "counsellor", services.write_counselling_note, plan_id=plan_id, text="Session one."
    )
    login(client, "counsellor", PASSWORD)
    url = f"/followup/plans/{plan_id}/notes?edit={note_id}"
    token = csrf_token(client, url)
    before = _written(engine)
    for version in ("", "abc", "-1", "9" * 400, "1.5", "²"):
        response = client.post(
            url, data={"text": "Changed", "version": version, "csrf_token": token}
        )
        assert response.status_code in (400, 422), version
        assert "version" in response.get_data(as_text=True).lower(), version
    assert _written(engine) == before


# -- 4. no input yields a 500 ----------------------------------------------------------

HUGE = "9" * 40
BAD_NUMBERS = (HUGE, "-1", "abc", "²", "1e9", "x" * 5000, "0x10", " 7")


def test_every_followup_parameter_refuses_bad_input_clearly_and_changes_nothing(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = signed_exam(app, case.id, pep=False)
    plan_id = agreed_plan(app, exam_id)
    appointment_id = book(app, plan_id, "visit-2-weeks")
    before = _written(engine)
    login(client, "counsellor", PASSWORD)
    token = csrf_token(client, f"/followup/plans/{plan_id}")
    for bad in BAD_NUMBERS:
        for path in (
            f"/followup/caseload?due_within={bad}",
            f"/followup/caseload?kind={bad}",
            f"/followup/caseload?needs_action={bad}",
            f"/followup/plans/{plan_id}?book={bad}",
            f"/followup/plans/{plan_id}/notes?edit={bad}",
            f"/followup/plans/{bad}",
            f"/followup/plans/{bad}/contact",
            f"/followup/plans/{bad}/notes",
            f"/followup/plans/{bad}/referrals",
            f"/followup/plans/{bad}/contact-wishes",
            f"/followup/referrals/{bad}/letter",
        ):
            response = client.get(path)
            assert response.status_code < 500, path
        for path, data in (
            (f"/followup/plans/{plan_id}/items/{HUGE}", {"status": "completed"}),
            (f"/followup/plans/{plan_id}/items/{HUGE}/appointments", {"minutes": bad}),
            (
                f"/followup/plans/{plan_id}/items/{HUGE}/appointments",
                {"starts_at": "2030-01-01T10:00", "minutes": "30"},
            ),
            (
                f"/followup/plans/{plan_id}/items/0/appointments",
                {"starts_at": bad, "minutes": bad},
            ),
            (f"/followup/plans/{plan_id}/items/0", {"status": bad}),
            (f"/followup/appointments/{appointment_id}", {"outcome": bad}),
            (f"/followup/plans/{plan_id}/contact", {"channel": bad, "outcome": bad, "note": bad}),
            (f"/followup/plans/{plan_id}/notes", {"text": "", "version": bad}),
            (f"/followup/plans/{plan_id}/referrals", {"service": bad, "reason": bad}),
            (f"/followup/referrals/{bad}/status", {"status": bad, "outcome": bad}),
            (
                f"/followup/plans/{plan_id}/contact-wishes",
                {"channels": bad, "safe_times": bad, "she_asked": bad},
            ),
            (f"/exams/{exam_id}/followup", {"items-0-code": bad, "items-0-due_on": bad}),
        ):
            response = client.post(path, data=data | {"csrf_token": token})
            assert response.status_code < 500, (path, data)
    # The ones the review found, each a clear 400 naming what is wrong.
    refused = client.get(f"/followup/caseload?due_within={HUGE}")
    assert refused.status_code == 400
    assert "days" in refused.get_data(as_text=True)
    refused = client.post(
        f"/followup/plans/{plan_id}/items/{HUGE}", data={"status": "completed", "csrf_token": token}
    )
    assert refused.status_code == 400
    assert "no such item" in refused.get_data(as_text=True)
    refused = client.post(
        f"/followup/plans/{plan_id}/items/{HUGE}/appointments",
        data={"starts_at": "2030-01-01T10:00", "minutes": "30", "csrf_token": token},
    )
    assert refused.status_code == 400
    assert _written(engine) == before


# -- 5. an overdue item stays visible until attended ---------------------------------


def _overdue(engine: sa.Engine, plan_id: str, code: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE followup_items SET due_on = :day WHERE plan_id = :p AND code = :c"),
            {"day": (utcnow() - timedelta(days=3)).date(), "p": plan_id, "c": code},
        )


def test_booking_or_marking_booked_does_not_hide_an_overdue_item(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    _overdue(engine, plan_id, "visit-2-weeks")
    (entry,) = caseload(app)
    assert entry.overdue == 1
    book(app, plan_id, "visit-2-weeks")
    (entry,) = caseload(app)
    assert entry.overdue == 1, "booked late is still overdue until she attends"
    assert entry.needs_action
    with pytest.raises(services.FollowUpRefused, match="already booked"):
        book(app, plan_id, "visit-2-weeks", days=9)
    position = position_of(app, plan_id, "visit-6-weeks")
    with pytest.raises(services.FollowUpRefused, match="booking an appointment"):
        call(
            app,
            "counsellor",
            services.set_item_status,
            plan_id=plan_id,
            position=position,
            status="scheduled",
        )


# -- 6. a due date is never before the exam ------------------------------------------


def test_pep_given_before_the_exam_does_not_block_agreeing_the_plan(
    app: Flask, world: World
) -> None:
    exam_id = signed_exam(app, open_case(app).id, given_at=utcnow() - timedelta(days=6))
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    assert all(p.item.due_on >= proposal.exam_day for p in proposal.items)
    call(app, "examiner", services.agree_plan, exam_id=exam_id, review=keep_all(proposal))


# -- 10. two people agreeing the same plan at once ------------------------------------


def test_two_people_agreeing_the_same_plan_at_once_get_a_clean_refusal(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            call(app, "examiner", services.agree_plan, exam_id=exam_id, review=keep_all(proposal))
        except Exception as error:  # noqa: BLE001 - the test reports what it was
            outcome["error"] = error
        else:
            outcome["error"] = None

    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        services.agree_plan(
            uow,
            app.extensions["clinic.profiles"],
            app.extensions["clinic.followup_schedules"],
            actor=actor_for(user),
            exam_id=exam_id,
            zone="UTC",
            review=keep_all(proposal),
        )
        other = threading.Thread(target=second)
        other.start()
        time.sleep(1.5)  # the second is now waiting on the first
    other.join(timeout=60)
    error = outcome["error"]
    assert isinstance(error, services.FollowUpRefused), repr(error)
    assert "already agreed by" in error.message
    assert _count(engine, "SELECT count(*) FROM followup_plans") == 1


# -- 8. every read of appointments and contact attempts is audited ----------------


def test_reading_appointments_and_contact_attempts_is_audited(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    appointment_id = book(app, plan_id, "visit-2-weeks")
    attempt = call(
        app,
        "counsellor",
        services.record_contact_attempt,
        plan_id=plan_id,
        channel="call",
        outcome="no-answer",
    )

    def reads_naming(reference: str) -> int:
        return _like(engine, "action IN ('R', 'E') AND entities LIKE :pattern", reference)

    before = (reads_naming(appointment_id), reads_naming(attempt.id))
    for username in ("counsellor", "examiner"):
        login(client, username, PASSWORD)
        assert client.get(f"/followup/plans/{plan_id}").status_code == 200
        token = csrf_token(client, f"/followup/plans/{plan_id}")
        client.post("/logout", data={"csrf_token": token})
    after = (reads_naming(appointment_id), reads_naming(attempt.id))
    assert after[0] >= before[0] + 2
    assert after[1] >= before[1] + 2


# -- 7. she may always narrow how she is contacted -----------------------------------


def test_she_narrows_her_contact_wishes_after_the_plan_is_agreed(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    review = keep_all(proposal)
    plan = call(
        app,
        "examiner",
        services.agree_plan,
        exam_id=exam_id,
        review=services.PlanReview(
            review.items,
            review.referrals,
            True,
            services.SafeContactPlan(("call", "text"), "Weekday mornings", False),
        ),
    )
    plan_id = str(plan.id)
    login(client, "counsellor", PASSWORD)
    url = f"/followup/plans/{plan_id}/contact-wishes"
    page = client.get(url)
    assert page.status_code == 200
    token = csrf_token(client, url)
    # Narrowing needs nothing but her word: texts stop, the code word is asked.
    narrowed = client.post(
        url,
        data={
            "channels": "call",
            "safe_times": "Weekday mornings",
            "asks_code_word": "y",
            "csrf_token": token,
        },
    )
    assert narrowed.status_code == 302
    with pytest.raises(services.FollowUpRefused, match="She has not agreed to be contacted by"):
        call(
            app,
            "counsellor",
            services.record_contact_attempt,
            plan_id=plan_id,
            channel="text",
            outcome="no-answer",
        )
    record = call(app, "counsellor", services.read_plan, plan_id=plan_id)
    assert record.version.version_id == 2  # a new version of her plan
    # Widening without her asking for it is refused and changes nothing.
    before = _written(engine)
    widened = client.post(
        url,
        data={"channels": ["call", "email"], "asks_code_word": "y", "csrf_token": token},
    )
    assert widened.status_code == 422
    assert "she asked" in widened.get_data(as_text=True)
    assert _written(engine) == before
    # She asked for it: recorded.
    widened = client.post(
        url,
        data={
            "channels": ["call", "email"],
            "asks_code_word": "y",
            "she_asked": "y",
            "csrf_token": token,
        },
    )
    assert widened.status_code == 302
    assert _like(engine, "reasons LIKE :pattern", "contact wishes") >= 2
    # Examiners read the plan but do not change how she is contacted.
    client.post("/logout", data={"csrf_token": token})
    login(client, "examiner", PASSWORD)
    assert client.get(url).status_code == 403
