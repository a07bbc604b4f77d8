"""The follow-up plan: proposed from the signed exam by the site's schedule,
reviewed by the examiner, agreed with her; refusals write nothing; who may see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.access.policy import AccessDenied
from clinic.core.clock import utcnow
from clinic.followup import services
from clinic.followup.schedule import local_day
from tests.conftest import World
from tests.exam.helpers import complete_exam
from tests.followup.helpers import agreed_plan, call, keep_all, signed_exam
from tests.helpers import open_case


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


def test_the_plan_follows_what_was_given_and_when(app: Flask, world: World) -> None:
    case = open_case(app)
    started = utcnow()
    # PEP given five minutes before: on the day before the exam just after midnight.
    pep_given = started - timedelta(minutes=5)
    exam_id = signed_exam(app, case.id, given_at=pep_given)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    due = {p.item.code: p.item.due_on for p in proposal.items}
    exam_day = proposal.exam_day
    assert exam_day in (local_day(started, "UTC"), local_day(utcnow(), "UTC"))
    # Visits from the exam; tests from the assault (20 h before complete_exam began);
    # PEP and pregnancy checks from when each treatment was given (the emergency
    # contraception at the exam).
    assert due["visit-2-weeks"] == exam_day + timedelta(days=14)
    assert due["visit-6-weeks"] == exam_day + timedelta(days=42)
    assault_days = {local_day(at - timedelta(hours=20), "UTC") for at in (started, utcnow())}
    assert due["hiv-test-6-weeks"] - timedelta(days=42) in assault_days
    pep_day = local_day(pep_given, "UTC")
    assert due["pep-adherence-check"] == pep_day + timedelta(days=3)
    assert due["pep-completion"] == pep_day + timedelta(days=28)
    assert due["pregnancy-test"] == exam_day + timedelta(days=21)
    # Hepatitis B cover was not given: no vaccine doses.
    assert not any(code.startswith("hepatitis-b-vaccine") for code in due)
    assert all(p.source for p in proposal.items)
    assert [p.item.due_on for p in proposal.items] == sorted(p.item.due_on for p in proposal.items)


def test_no_pep_no_pep_checks(app: Flask, world: World) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    codes = {p.item.code for p in proposal.items}
    assert "pregnancy-test" in codes
    assert not codes & {"pep-adherence-check", "pep-completion"}


def test_an_unsigned_exam_proposes_nothing(app: Flask, world: World) -> None:
    exam_id = complete_exam(app, open_case(app).id)
    with pytest.raises(services.FollowUpRefused, match="sign the exam off first"):
        call(app, "examiner", services.propose_plan, exam_id=exam_id)


def test_agreed_plan_is_a_care_plan_with_every_item(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = signed_exam(app, case.id)
    plan_id = agreed_plan(app, exam_id)
    record = call(app, "counsellor", services.read_plan, plan_id=plan_id)
    content = record.version.content
    assert content["resourceType"] == "CarePlan"
    assert content["status"] == "active"
    assert content["subject"] == {"reference": f"Patient/{case.patient_id}"}
    assert content["encounter"] == {"reference": f"Encounter/{exam_id}"}
    codes = [item.code for item in record.items]
    assert "referral" in codes
    assert "hiv-test-3-months" in codes
    referral = next(item for item in record.items if item.code == "referral")
    assert referral.service_kind == "refuge"
    assert referral.responsible == "counselling-team"
    assert _count(engine, "followup_items") == len(record.items)
    # One plan per exam.
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    with pytest.raises(services.FollowUpRefused, match="already agreed by"):
        call(app, "examiner", services.agree_plan, exam_id=exam_id, review=keep_all(proposal))


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        (lambda r: r | {"agreed_with_her": False}, "she agrees to it", "agreed_with_her"),
        (
            lambda r: (
                r | {"items": [services.ReviewedItem("visit-2-weeks", True, None, "clinic")] * 2}
            ),
            "listed twice",
            "items",
        ),
        (
            lambda r: r | {"items": [services.ReviewedItem("made-up-test", True, None, "clinic")]},
            "not an item the schedule proposes",
            "items",
        ),
        (
            lambda r: (
                r
                | {
                    "items": [
                        services.ReviewedItem(
                            "visit-2-weeks", True, utcnow().date() - timedelta(days=3), "clinic"
                        )
                    ]
                }
            ),
            "cannot fall due before the day of the exam",
            "items-visit-2-weeks",
        ),
        (lambda r: r | {"referrals": ["fortune-teller"]}, "not a kind of service", "referrals"),
        (
            lambda r: r | {"items": [services.ReviewedItem("visit-2-weeks", True, None, "boss")]},
            "Choose who carries",
            "items-visit-2-weeks",
        ),
        (lambda r: r | {"items": [], "referrals": []}, "Keep at least one item", "items"),
    ],
)
def test_bad_review_is_refused_and_writes_nothing(
    app: Flask, world: World, engine: sa.Engine, change, message, field
) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    review = keep_all(proposal)
    fields = {"items": review.items, "referrals": review.referrals, "agreed_with_her": True}
    bad = services.PlanReview(**change(fields))
    before = _count(engine, "fhir_resources")
    with pytest.raises(services.FollowUpRefused, match=message) as refused:
        call(app, "examiner", services.agree_plan, exam_id=exam_id, review=bad)
    assert refused.value.field == field
    assert _count(engine, "followup_plans") == 0
    assert _count(engine, "fhir_resources") == before


def test_counsellor_marks_items_and_the_plan_completes(app: Flask, world: World) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    first = proposal.items[0].item
    review = services.PlanReview(
        [services.ReviewedItem(first.code, True, None, first.responsible)], [], True
    )
    plan = call(app, "examiner", services.agree_plan, exam_id=exam_id, review=review)
    item = call(
        app, "counsellor", services.set_item_status, plan_id=plan.id, position=0, status="completed"
    )
    assert item.status == "completed"
    record = call(app, "counsellor", services.read_plan, plan_id=plan.id)
    assert record.plan.status == "completed"
    assert record.version.content["status"] == "completed"
    assert record.version.version_id == 2
    with pytest.raises(services.FollowUpRefused, match="Choose what became"):
        call(app, "counsellor", services.set_item_status, plan_id=plan.id, position=0, status="x")
    with pytest.raises(services.FollowUpRefused, match="no such item"):
        call(
            app,
            "counsellor",
            services.set_item_status,
            plan_id=plan.id,
            position=9,
            status="completed",
        )


@pytest.mark.parametrize(
    ("username", "outcome"),
    [
        ("examiner", "read"),
        ("counsellor", "read"),
        ("examiner.south", "hidden"),
        ("counsellor.south", "hidden"),
        ("officer", "denied"),
        ("custodian", "denied"),
        ("admin", "denied"),
        ("auditor", "denied"),
    ],
)
def test_who_reads_her_plan(app: Flask, world: World, username: str, outcome: str) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    if outcome == "read":
        assert call(app, username, services.read_plan, plan_id=plan_id).plan.id == plan_id
    elif outcome == "hidden":
        with pytest.raises(services.PlanNotFound):
            call(app, username, services.read_plan, plan_id=plan_id)
    else:
        with pytest.raises(AccessDenied):
            call(app, username, services.read_plan, plan_id=plan_id)


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("examiner", AccessDenied),  # examiners read the plan; counsellors carry it
        ("counsellor.south", services.PlanNotFound),
        ("officer", AccessDenied),
    ],
)
def test_only_her_sites_counsellors_carry_the_plan(
    app: Flask, world: World, username: str, error: type[Exception]
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))
    with pytest.raises(error):
        call(
            app, username, services.set_item_status, plan_id=plan_id, position=0, status="completed"
        )


def test_only_examiners_of_her_site_propose(app: Flask, world: World) -> None:
    exam_id = signed_exam(app, open_case(app).id, pep=False)
    # Counsellors carry plans but cannot read the exam: no proposal for them.
    for username in ("examiner.south", "counsellor"):
        with pytest.raises(services.PlanNotFound):
            call(app, username, services.propose_plan, exam_id=exam_id)
    for username in ("officer", "custodian"):
        with pytest.raises(AccessDenied):
            call(app, username, services.propose_plan, exam_id=exam_id)
    with pytest.raises(services.PlanNotFound):
        call(app, "examiner", services.propose_plan, exam_id="no-such-exam")
