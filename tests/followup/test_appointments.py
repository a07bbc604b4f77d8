"""Appointments (booked, attended, missed, cancelled) and the counsellor's caseload:
a missed appointment puts her back on it for contact; bad bookings are refused and
write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.policy import AccessDenied
from clinic.core.clock import utcnow
from clinic.followup import services
from tests.conftest import PASSWORD, World
from tests.followup.helpers import agreed_plan, call, signed_exam
from tests.helpers import api, csrf_token, login, open_case


def position_of(app: Flask, plan_id: str, code: str) -> int:
    record = call(app, "counsellor", services.read_plan, plan_id=plan_id)
    return next(i for i, item in enumerate(record.items) if item.code == code)


def book(
    app: Flask, plan_id: str, code: str, *, days: float = 7, username: str = "counsellor"
) -> str:
    booked = call(
        app,
        username,
        services.book_appointment,
        plan_id=plan_id,
        position=position_of(app, plan_id, code),
        starts_at=utcnow() + timedelta(days=days),
        minutes=30,
    )
    return str(booked.id)


def time_passes(engine: sa.Engine, appointment_id: str) -> None:
    """The appointment's time comes: move it an hour into the past."""
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE followup_appointments SET starts_at = :at WHERE id = :id"),
            {"at": (utcnow() - timedelta(hours=1)).replace(tzinfo=None), "id": appointment_id},
        )


def outcome(app: Flask, appointment_id: str, what: str) -> None:
    call(
        app,
        "counsellor",
        services.record_appointment_outcome,
        appointment_id=appointment_id,
        outcome=what,
    )


def status_of(app: Flask, plan_id: str, code: str) -> str:
    record = call(app, "counsellor", services.read_plan, plan_id=plan_id)
    return next(item.status for item in record.items if item.code == code)


def caseload(app: Flask, username: str = "counsellor", **filters) -> list[services.CaseloadEntry]:
    with app.app_context():
        from clinic.accounts.models import User
        from clinic.accounts.services import actor_for
        from clinic.cli import unit_of_work

        with unit_of_work() as uow:
            user = uow.session.scalar(sa.select(User).where(User.username == username))
            _, entries = services.caseload(
                uow,
                actor=actor_for(user),
                zone="UTC",
                filters=services.CaseloadFilter(**filters),
            )
            uow.session.expunge_all()
            return entries


def test_booked_attended_and_missed(app: Flask, world: World, engine: sa.Engine) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id))
    two_weeks = book(app, plan_id, "visit-2-weeks")
    assert status_of(app, plan_id, "visit-2-weeks") == "scheduled"
    # Not yet happened: cannot be attended or missed, only cancelled.
    with pytest.raises(services.FollowUpRefused, match="has not happened yet"):
        outcome(app, two_weeks, "fulfilled")
    time_passes(engine, two_weeks)
    outcome(app, two_weeks, "fulfilled")
    assert status_of(app, plan_id, "visit-2-weeks") == "completed"
    with pytest.raises(services.FollowUpRefused, match="already recorded as attended"):
        outcome(app, two_weeks, "noshow")

    six_weeks = book(app, plan_id, "visit-6-weeks", days=40)
    time_passes(engine, six_weeks)
    outcome(app, six_weeks, "noshow")
    assert status_of(app, plan_id, "visit-6-weeks") == "not-started"
    (entry,) = [e for e in caseload(app) if e.plan.id == plan_id]
    assert entry.needs_contact == "missed-appointment"
    # Booking again takes her off the contact list.
    book(app, plan_id, "visit-6-weeks", days=3)
    (entry,) = [e for e in caseload(app) if e.plan.id == plan_id]
    assert entry.needs_contact is None

    cancelled = book(app, plan_id, "visit-3-months", days=80)
    outcome(app, cancelled, "cancelled")
    assert status_of(app, plan_id, "visit-3-months") == "not-started"


@pytest.mark.parametrize(
    ("starts", "minutes", "message", "field"),
    [
        (timedelta(days=-1), 30, "cannot be in the past", "starts_at"),
        (timedelta(seconds=-1), 30, "cannot be in the past", "starts_at"),
        (timedelta(days=900), 30, "two years ahead", "starts_at"),
        (timedelta(days=3), 0, "5 to 480 minutes", "minutes"),
        (timedelta(days=3), 100000, "5 to 480 minutes", "minutes"),
    ],
)
def test_bad_bookings_are_refused_and_write_nothing(
    app: Flask, world: World, engine: sa.Engine, starts, minutes, message, field
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    with pytest.raises(services.FollowUpRefused, match=message) as refused:
        call(
            app,
            "counsellor",
            services.book_appointment,
            plan_id=plan_id,
            position=0,
            starts_at=utcnow() + starts,
            minutes=minutes,
        )
    assert refused.value.field == field
    with engine.connect() as connection:
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM followup_appointments").scalar() == 0
        )
        assert (
            connection.exec_driver_sql(
                "SELECT count(*) FROM fhir_resources WHERE resource_type = 'Appointment'"
            ).scalar()
            == 0
        )


def test_a_done_item_and_an_unknown_item_cannot_be_booked(app: Flask, world: World) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    call(
        app, "counsellor", services.set_item_status, plan_id=plan_id, position=0, status="completed"
    )
    with pytest.raises(services.FollowUpRefused, match="nothing to book"):
        call(
            app,
            "counsellor",
            services.book_appointment,
            plan_id=plan_id,
            position=0,
            starts_at=utcnow() + timedelta(days=1),
            minutes=30,
        )
    with pytest.raises(services.FollowUpRefused, match="no such item"):
        call(
            app,
            "counsellor",
            services.book_appointment,
            plan_id=plan_id,
            position=99,
            starts_at=utcnow() + timedelta(days=1),
            minutes=30,
        )


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("examiner", AccessDenied),  # examiners read appointments; counsellors book them
        ("counsellor.south", services.PlanNotFound),
        ("officer", AccessDenied),
        ("custodian", AccessDenied),
    ],
)
def test_only_her_sites_counsellors_book(app: Flask, world: World, username, error) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    with pytest.raises(error):
        book(app, plan_id, "visit-2-weeks", username=username)
    appointment_id = book(app, plan_id, "visit-2-weeks")
    with pytest.raises(error):
        call(
            app,
            username,
            services.record_appointment_outcome,
            appointment_id=appointment_id,
            outcome="cancelled",
        )


def test_caseload_order_filters_and_site(app: Flask, world: World, engine: sa.Engine) -> None:
    on_track = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    overdue = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    missed = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    # An item of `overdue` fell due three days ago.
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE followup_items SET due_on = :day WHERE plan_id = :id AND position = 0"),
            {"day": (utcnow() - timedelta(days=3)).date(), "id": overdue},
        )
    appointment_id = book(app, missed, "visit-2-weeks")
    time_passes(engine, appointment_id)
    outcome(app, appointment_id, "noshow")
    south = agreed_plan_south(app)

    order = [entry.plan.id for entry in caseload(app)]
    assert order[:3] == [missed, overdue, on_track]
    assert south not in order
    assert [e.plan.id for e in caseload(app, only_needing_action=True)] == [missed, overdue]
    assert on_track not in [e.plan.id for e in caseload(app, due_within_days=1)]
    assert {e.plan.id for e in caseload(app, kind="vaccine")} == set()
    assert {e.plan.id for e in caseload(app, kind="test")} >= {on_track, overdue, missed}
    (entry,) = [e for e in caseload(app) if e.plan.id == overdue]
    assert entry.overdue == 1
    assert entry.next_item is not None
    # The South counsellor sees South's only.
    assert [e.plan.id for e in caseload(app, "counsellor.south")] == [south]
    for username in ("officer", "custodian", "admin", "auditor"):
        with pytest.raises(AccessDenied):
            caseload(app, username)


def agreed_plan_south(app: Flask) -> str:
    from tests.exam import helpers as exam_helpers
    from tests.followup.helpers import keep_all

    case = open_case(app, "examiner.south")
    from tests.consent.helpers import all_items, record

    record(app, case.id, "exam-treatment/v1", all_items(app, "exam-treatment/v1"), "examiner.south")
    exam_id = exam_helpers.start(app, case.id, "examiner.south")
    from clinic.exam import services as exam_services
    from clinic.exam.timing import WINDOWS, AssaultTiming, TimingKind

    now = utcnow()
    exam_helpers.call(
        app,
        "examiner.south",
        exam_services.record_timing,
        exam_id=exam_id,
        timing=AssaultTiming(TimingKind.EXACT, at=now - timedelta(hours=5)),
        exam_time=now,
    )
    exam_helpers.call(
        app,
        "examiner.south",
        exam_services.record_history,
        exam_id=exam_id,
        history=exam_helpers.history(),
    )
    for window in WINDOWS:
        exam_helpers.call(
            app,
            "examiner.south",
            exam_services.decide_window,
            exam_id=exam_id,
            window_code=window.code,
            overridden=False,
        )
    exam_helpers.call(app, "examiner.south", exam_services.sign_off, exam_id=exam_id)
    proposal = call(app, "examiner.south", services.propose_plan, exam_id=exam_id)
    plan = call(
        app, "examiner.south", services.agree_plan, exam_id=exam_id, review=keep_all(proposal)
    )
    return str(plan.id)


def test_appointments_through_the_screens_and_the_api(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id, pep=False))
    login(client, "counsellor", PASSWORD)
    page = client.get(f"/followup/plans/{plan_id}?book=0").get_data(as_text=True)
    assert 'id="book"' in page
    token = csrf_token(client, f"/followup/plans/{plan_id}")
    past = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")  # noqa: DTZ005
    refused = client.post(
        f"/followup/plans/{plan_id}/items/0/appointments",
        data={"starts_at": past, "minutes": "30", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert "cannot be in the past" in refused.get_data(as_text=True)
    later = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")  # UTC is the test zone
    booked = client.post(
        f"/followup/plans/{plan_id}/items/0/appointments",
        data={"starts_at": later, "minutes": "30", "csrf_token": token},
    )
    assert booked.status_code == 302
    caseload_page = client.get("/followup/caseload").get_data(as_text=True)
    assert case.reference in caseload_page
    filtered = client.get("/followup/caseload?needs_action=y").get_data(as_text=True)
    assert case.reference not in filtered

    found = api(
        client, "GET", f"/fhir/Appointment?patient={case.patient_id}", world["counsellor"].token
    ).get_json()
    (entry,) = found["entry"]
    assert entry["resource"]["status"] == "booked"
    assert entry["resource"]["supportingInformation"] == [{"reference": f"CarePlan/{plan_id}"}]
    for username in ("officer", "examiner.south"):
        response = api(
            client, "GET", f"/fhir/Appointment/{entry['resource']['id']}", world[username].token
        )
        assert response.status_code == 404
