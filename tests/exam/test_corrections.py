"""Corrections: an injury recorded twice is retracted (kept in the history, shown
retracted in the report), and the review page before sign-off shows the content
to be signed."""

from __future__ import annotations

import html
import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam import services
from clinic.fhir.validation import validate_resource
from tests.bodymap.test_marks import injury_form
from tests.conftest import PASSWORD, World
from tests.exam.helpers import INJURY, call, complete_exam, read
from tests.helpers import csrf_token, login, open_case


def retract(client: FlaskClient, exam_id: str, number: int, why: str) -> tuple[int, str]:
    token = csrf_token(client, f"/exams/{exam_id}/injuries/{number}")
    response = client.post(
        f"/exams/{exam_id}/injuries/{number}/retract", data={"why": why, "csrf_token": token}
    )
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_an_injury_recorded_twice_is_retracted_kept_and_shown_retracted(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)  # injury 1
    call(app, "examiner", services.add_injury, exam_id=exam_id, injury=INJURY)  # twice
    login(client, "examiner", PASSWORD)
    status, page = retract(client, exam_id, 2, "  ")
    assert status == 422
    assert "Say why this injury is retracted." in page
    status, _ = retract(client, exam_id, 2, "Recorded twice: same as injury 1.")
    assert status == 302
    record = read(app, exam_id)
    assert [slot for slot, _, _ in record.injuries] == ["injury:1"]
    injury, retraction = record.retracted["injury:2"]
    registry = app.extensions["clinic.profiles"]
    validate_resource(retraction.content, registry)
    # Kept in the history: the injury's versions are all there, the last one retracted.
    with engine.connect() as connection:
        statuses = [
            json.loads(row)["status"]
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE resource_type = "
                    "'Observation' AND logical_id = :id ORDER BY version_id"
                ),
                {"id": injury.logical_id},
            ).scalars()
        ]
    assert statuses == ["final", "entered-in-error"]
    lines = next(s.lines for s in services.report_sections(record) if s.code == "injuries")
    assert lines[0].startswith("Injury 1: Bruise")
    assert lines[1].startswith("Injury 2: RETRACTED — Bruise, left forearm, inner side")
    assert "why: Recorded twice: same as injury 1.; by examiner on" in lines[1]
    # Twice is refused; and an unknown injury is not found.
    status, page = retract(client, exam_id, 2, "again")
    assert status in (404, 422)
    token = csrf_token(client, f"/exams/{exam_id}/injuries/1")
    missing = client.post(
        f"/exams/{exam_id}/injuries/9/retract", data={"why": "x", "csrf_token": token}
    )
    assert missing.status_code == 404
    # The review page shows what will be signed, retraction included.
    review = html.unescape(client.get(f"/exams/{exam_id}").get_data(as_text=True))
    assert "What you will sign" in review
    assert "Injury 2: RETRACTED" in review
    assert "In her words: “He held me down and I couldn't breathe.”" in review
    # Signed off, the report carries the retraction among its entries.
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    with engine.connect() as connection:
        reports = [
            json.loads(row)
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE resource_type = 'Composition'"
                )
            ).scalars()
        ]
    entries = [e["reference"] for s in reports[-1]["section"] for e in s.get("entry", [])]
    assert retraction.versioned_reference in entries


def test_a_retraction_after_sign_off_is_an_amendment_with_its_reason(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.add_injury, exam_id=exam_id, injury=INJURY)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(
        app,
        "examiner",
        services.retract_injury,
        exam_id=exam_id,
        slot="injury:2",
        why="Recorded twice.",
    )
    record = read(app, exam_id)
    assert "injury:2" in record.retracted
    assert [a.reason for a in record.amendments] == ["Recorded twice.", "Recorded twice."]
    with pytest.raises(services.ExamNotFound):
        call(
            app,
            "examiner",
            services.retract_injury,
            exam_id=exam_id,
            slot="treatment:1",
            why="Not an injury.",
        )


def test_a_retracted_injury_cannot_be_changed_through_its_edit_url(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """GET of a retracted injury is 404, and so is a POST to it: it is not brought
    back silently while its retraction still stands."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.add_injury, exam_id=exam_id, injury=INJURY)
    call(
        app,
        "examiner",
        services.retract_injury,
        exam_id=exam_id,
        slot="injury:2",
        why="Recorded twice",
    )
    login(client, "examiner", PASSWORD)
    assert client.get(f"/exams/{exam_id}/injuries/2").status_code == 404
    token = csrf_token(client, f"/exams/{exam_id}/injuries")
    with engine.connect() as connection:
        before = connection.execute(sa.text("SELECT count(*) FROM fhir_resource_versions")).scalar()
    response = client.post(
        f"/exams/{exam_id}/injuries/2",
        data=injury_form(description="edited after retraction") | {"csrf_token": token},
    )
    assert response.status_code == 404
    with engine.connect() as connection:
        after = connection.execute(sa.text("SELECT count(*) FROM fhir_resource_versions")).scalar()
    assert after == before
    record = read(app, exam_id)
    assert [slot for slot, _, _ in record.injuries] == ["injury:1"]
    assert list(record.retracted) == ["injury:2"]
    with pytest.raises(services.ExamNotFound):
        call(
            app,
            "examiner",
            services.change_injury,
            exam_id=exam_id,
            slot="injury:2",
            injury=INJURY,
        )
