"""The exam service: steps saved as filled, guidance never silent, sign-off makes
the exam read-only, amendments keep the original, and who may see any of it."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import AccessDenied
from clinic.core.clock import utcnow
from clinic.exam import services
from clinic.exam.resources import ASSAULT_ACT, Answer, Treatment
from clinic.exam.timing import AssaultTiming, TimingKind, WindowStatus
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD, World
from tests.exam.helpers import (
    INJURY,
    call,
    complete_exam,
    history,
    read,
    record_exam_consent,
    record_vitals,
    start,
)
from tests.helpers import csrf_token, login, open_case

HIDDEN = (AccessDenied, services.ExamNotFound)


def versions(engine: sa.Engine, resource_type: str, logical_id: str) -> list[dict]:  # type: ignore[type-arg]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT content FROM fhir_resource_versions WHERE resource_type = :t "
                "AND logical_id = :i ORDER BY version_id"
            ),
            {"t": resource_type, "i": logical_id},
        ).scalars()
        return [json.loads(row) for row in rows]


def test_steps_are_saved_as_filled_and_the_exam_resumes(app: Flask, world: World) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    assert start(app, case.id) == exam_id  # resuming, not a second exam
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES),
    )
    record = read(app, exam_id)
    assert record.text("history") == "He held me down and I couldn't breathe."
    assert record.answers("acts", ASSAULT_ACT)["strangulation"] is Answer.YES
    assert record.timing is None
    assert record.guidance == []
    assert not record.is_signed


def test_saving_an_unchanged_step_writes_nothing(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    call(app, "examiner", services.record_history, exam_id=exam_id, history=history())
    slot_id = read(app, exam_id).entries["history"].logical_id
    call(app, "examiner", services.record_history, exam_id=exam_id, history=history())
    assert len(versions(engine, "Observation", slot_id)) == 1


def test_guidance_must_be_decided_on_the_current_timing_before_sign_off(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id, hours_ago=20)
    record = read(app, exam_id)
    pep = next(g for g in record.guidance if g.window.code == "hiv-pep")
    assert pep.status is WindowStatus.WITHIN
    assert pep.is_current
    # The survivor remembers differently: 80 h ago. PEP guidance changes, and the
    # earlier confirmation no longer counts.
    now = utcnow()
    call(
        app,
        "examiner",
        services.record_timing,
        exam_id=exam_id,
        timing=AssaultTiming(TimingKind.EXACT, at=now - timedelta(hours=80)),
        exam_time=now,
    )
    record = read(app, exam_id)
    pep = next(g for g in record.guidance if g.window.code == "hiv-pep")
    assert pep.status is WindowStatus.OUTSIDE
    assert not pep.is_current
    with pytest.raises(services.ExamRefused, match="HIV post-exposure prophylaxis again"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    with pytest.raises(services.ExamRefused, match="Say why"):
        call(
            app,
            "examiner",
            services.decide_window,
            exam_id=exam_id,
            window_code="hiv-pep",
            overridden=True,
        )
    for item in read(app, exam_id).guidance:
        if not item.is_current:
            call(
                app,
                "examiner",
                services.decide_window,
                exam_id=exam_id,
                window_code=item.window.code,
                overridden=item.window.code == "hiv-pep",
                override_reason="Exposure may have continued into the next day; PEP started after discussion.",
            )
    exam = call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert exam.status == "signed"
    decision = next(g for g in read(app, exam_id).guidance if g.window.code == "hiv-pep").decision
    assert decision is not None
    assert decision.overridden
    assert "continued" in (decision.reason or "")


def test_an_unknown_time_still_needs_every_window_decided(app: Flask, world: World) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id)
    exam_id = start(app, case.id)
    call(
        app,
        "examiner",
        services.record_timing,
        exam_id=exam_id,
        timing=AssaultTiming.unknown(),
        exam_time=utcnow(),
    )
    every_act = {
        act: Answer.YES for act in ("oral_penetration", "vaginal_penetration", "anal_penetration")
    }
    every_act["drugs_alcohol_suspected"] = Answer.UNKNOWN
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(**every_act),
    )
    record = read(app, exam_id)
    assert record.elapsed is None
    assert {g.status for g in record.guidance} == {WindowStatus.UNCERTAIN}
    assert len(record.missing_for_sign_off()) == len(record.guidance)


def test_a_signed_exam_refuses_edits_without_a_reason(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    before = versions(engine, "Observation", read(app, exam_id).entries["injury:1"].logical_id)
    attempts = [
        (services.record_history, {"history": replace(history(), narrative="changed")}),
        (
            services.change_injury,
            {"slot": "injury:1", "injury": replace(INJURY, length_mm=Decimal(35))},
        ),
        (services.add_injury, {"injury": INJURY}),
        (services.record_anogenital, {"findings": "No injuries seen."}),
        (
            services.add_treatment,
            {"treatment": Treatment("tetanus", "Tetanus toxoid", None, True, None, utcnow())},
        ),
        (
            services.decide_window,
            {"window_code": "hiv-pep", "overridden": True, "override_reason": "x"},
        ),
    ]
    for operation, arguments in attempts:
        with pytest.raises(services.ExamRefused, match="signed off and read-only"):
            call(app, "examiner", operation, exam_id=exam_id, **arguments)
    with pytest.raises(services.ExamRefused, match="already signed off"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert (
        versions(engine, "Observation", read(app, exam_id).entries["injury:1"].logical_id) == before
    )


def test_an_amendment_keeps_the_original_and_says_what_why_who_when(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    signed = read(app, exam_id)
    report_id = signed.exam.report_id
    assert report_id
    call(
        app,
        "examiner",
        services.change_injury,
        exam_id=exam_id,
        slot="injury:1",
        injury=replace(INJURY, length_mm=Decimal(35)),
        reason="Measured again with the scale in the photograph: 35 mm, not 30.",
    )
    record = read(app, exam_id)
    injury_id = record.entries["injury:1"].logical_id
    history_of_injury = versions(engine, "Observation", injury_id)
    assert [v["component"][0]["valueQuantity"]["value"] for v in history_of_injury] == [30, 35]
    (amendment,) = record.amendments
    assert amendment.resource == f"Observation/{injury_id}"
    assert (amendment.from_version, amendment.to_version) == (1, 2)
    assert amendment.amended_by == "examiner"
    assert "35 mm" in amendment.reason
    reports = versions(engine, "Composition", report_id)
    assert [r["status"] for r in reports] == ["final", "amended"]
    entries = [e["reference"] for s in reports[1]["section"] for e in s.get("entry", [])]
    assert f"Observation/{injury_id}/_history/2" in entries
    first_entries = [e["reference"] for s in reports[0]["section"] for e in s.get("entry", [])]
    assert f"Observation/{injury_id}/_history/1" in first_entries
    assert "Measured again" in json.dumps(reports[1]["section"][-1])


def test_every_exam_resource_validates_against_its_profile(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    record_vitals(
        app,
        exam_id,
        findings="Alert, oriented.",
        heart_rate=96,
        respiratory_rate=16,
        temperature="36.8",
        oxygen_saturation=98,
        systolic=128,
        diastolic=82,
    )
    call(app, "examiner", services.record_anogenital, exam_id=exam_id, findings="No injuries seen.")
    call(
        app,
        "examiner",
        services.add_treatment,
        exam_id=exam_id,
        treatment=Treatment(
            "hiv-pep-starter", "PEP starter pack", None, False, "She declined.", utcnow()
        ),
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    registry = app.extensions["clinic.profiles"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT content FROM fhir_resource_versions WHERE resource_type IN "
                "('Encounter', 'Observation', 'MedicationAdministration', 'Composition')"
            )
        ).scalars()
        written = [json.loads(row) for row in rows]
    profiles = {p for resource in written for p in resource["meta"]["profile"]}
    assert {p.rsplit("/", 1)[1] for p in profiles} >= {
        "fc-exam-encounter",
        "fc-exam-finding",
        "fc-assault-timing",
        "fc-injury",
        "fc-exam-vital-sign",
        "fc-window-guidance",
        "fc-treatment",
        "fc-exam-report",
    }
    for resource in written:
        validate_resource(resource, registry)


def test_bad_input_is_refused_with_the_field_and_changes_nothing(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    now = utcnow()
    with engine.connect() as connection:
        before = connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar()
    bad = [
        (
            services.record_timing,
            {
                "timing": AssaultTiming(TimingKind.EXACT, at=now + timedelta(hours=1)),
                "exam_time": now,
            },
            "assault_at",
        ),
        (
            services.record_timing,
            {
                "timing": AssaultTiming(
                    TimingKind.RANGE,
                    earliest=now - timedelta(hours=2),
                    latest=now - timedelta(hours=3),
                ),
                "exam_time": now,
            },
            "assault_earliest",
        ),
        (
            services.record_timing,
            {"timing": AssaultTiming.unknown(), "exam_time": now + timedelta(hours=2)},
            "exam_time",
        ),
        (services.record_history, {"history": replace(history(), narrative=" ")}, "narrative"),
        (services.add_injury, {"injury": replace(INJURY, length_mm=Decimal(0))}, "length_mm"),
        (services.add_injury, {"injury": replace(INJURY, site="")}, "site"),
        (
            services.add_treatment,
            {"treatment": Treatment("hiv-pep-starter", "PEP", None, False, "", now)},
            "declined_reason",
        ),
        (
            services.record_general,
            {"general": services.GeneralExam("", services.Vitals(systolic=Decimal(120)))},
            "diastolic",
        ),
        (services.decide_window, {"window_code": "hiv-pep", "overridden": False}, "window"),
    ]
    for operation, arguments, field in bad:
        with pytest.raises(services.ExamRefused) as refused:
            call(app, "examiner", operation, exam_id=exam_id, **arguments)
        assert refused.value.field == field, (operation, refused.value.message)
    with engine.connect() as connection:
        after = connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar()
    assert after == before


@pytest.mark.parametrize(
    "username", ["examiner.south", "counsellor", "officer", "custodian", "admin", "auditor"]
)
def test_only_examiners_of_the_site_reach_an_exam_and_others_see_no_such_exam(
    app: Flask, world: World, username: str
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    for operation, arguments in [
        (services.read_exam, {}),
        (services.record_anogenital, {"findings": "x"}),
        (services.sign_off, {}),
    ]:
        with pytest.raises(HIDDEN) as refused:
            call(app, username, operation, exam_id=exam_id, **arguments)
        with pytest.raises(HIDDEN) as unknown:
            call(app, username, operation, exam_id="no-such-exam", **arguments)
        assert type(refused.value) is type(unknown.value)
        assert str(refused.value) == str(unknown.value)
    with pytest.raises(HIDDEN):
        call(app, username, services.start_exam, case_id=case.id)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE exam_amendments SET reason = 'rewritten'",
        "DELETE FROM exam_amendments",
        "UPDATE exam_entries SET resource_id = 'elsewhere'",
        "DELETE FROM exam_entries",
        "DELETE FROM exams",
    ],
)
def test_the_exam_index_and_its_amendments_cannot_be_rewritten(
    app: Flask, world: World, engine: sa.Engine, statement: str
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(
        app,
        "examiner",
        services.record_anogenital,
        exam_id=exam_id,
        findings="No injuries seen.",
        reason="Left out at sign-off by mistake.",
    )
    with pytest.raises(sa.exc.DatabaseError) as raised, engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert "not allowed" in str(raised.value)


@pytest.mark.parametrize("bad", ["sNaN", "NaN", "Infinity", "-Infinity", "snan"])
@pytest.mark.parametrize(
    "name",
    ["heart_rate", "respiratory_rate", "temperature", "oxygen_saturation", "systolic", "diastolic"],
)
def test_a_vital_sign_that_is_no_number_is_refused_next_to_its_field(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine, name: str, bad: str
) -> None:
    """Decimal parses "sNaN", "NaN" and "Infinity": each is refused with a message at
    the field (never a 500, and nothing written)."""
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, f"/exams/{exam_id}/general")
    with engine.connect() as connection:
        before = connection.execute(sa.text("SELECT count(*) FROM fhir_resource_versions")).scalar()
    response = client.post(
        f"/exams/{exam_id}/general", data={name: bad, "findings": "", "csrf_token": token}
    )
    assert response.status_code == 422
    text = html.unescape(response.get_data(as_text=True))
    assert (
        f'<p class="error" id="{name}-error" lang="en">Enter a number, not “NaN” or “infinity”.</p>'
        in text
    )
    with engine.connect() as connection:
        after = connection.execute(sa.text("SELECT count(*) FROM fhir_resource_versions")).scalar()
    assert after == before
