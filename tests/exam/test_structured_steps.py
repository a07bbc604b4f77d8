"""The structured steps of the national post-rape care form fields (clinical
baseline, the incident and its assailants, strangulation, mental state and
immediate safety, clothing), through HTTP: saved as submitted, resumable,
coded, validated against their profile, printed in screen order, released only
as her consent permits."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.terms import data_classes_of
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam import services
from clinic.exam.lists import STRUCTURED_STEPS, answer_field
from clinic.exam.models import ExamStatus
from clinic.exam.resources import Answer
from clinic.fhir.validation import validate_resource
from clinic.ledger.services import generate_key
from clinic.release.bundle import release_key_name
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.exam.helpers import call, complete_exam, decide_every_window, history, read, start
from tests.helpers import api, csrf_token, login, open_case
from tests.release.helpers import file

BASELINE = {
    "baseline__lmp": "2026-11-20",
    "baseline__contraception": ["condom", "combined-pill"],
    "baseline__known_pregnancy": "no",
    "baseline__pregnancy_test": "negative",
    "baseline__last_consensual_intercourse": "2026-11-28",
    "baseline__allergies": "Penicillin (rash)",
    "baseline__hepatitis_b_vaccination": "complete",
    "baseline__tetanus_vaccination": "unknown",
}
INCIDENT = {
    "incident__place_kind": "vehicle",
    "incident__place_area": "Ring road, near the retail park",
    "incident__assailant_count": "2",
    "incident__weapons": "yes",
    "incident__weapons_threats_details": "A knife held to her side",
    "incident__police_report": "no",
    "assailant_1__relationship": "stranger",
    "assailant_1__sex": "male",
    "assailant_1__approximate_age": "30",
    "assailant_2__relationship": "acquaintance",
    "assailant_marks__scratched": "yes",
    "assailant_marks__marks_where": "His left cheek",
}
STRANGULATION = {
    "strangulation__strangulation_method": ["hands"],
    "strangulation__loss_of_consciousness": "unknown",
    "strangulation__voice_change": "yes",
    "strangulation_signs__petechiae": "yes",
    "strangulation_signs__signs_details": "Petechiae on both eyelids",
}
MENTAL_STATE = {
    "mental_state__mood": ["anxious", "low"],
    "mental_state__self_harm_thoughts": "no",
    "mental_state__harm_others_thoughts": "no",
    "mental_state__safe_place_tonight": "no",
    "mental_state__assailant_risk": "yes",
    "mental_state__safety_actions": "Refuge place arranged for tonight",
}
CLOTHING = {
    "clothing__worn_at_time": "yes",
    "clothing__clothing_state": ["torn", "stained"],
    "clothing__clothing_collected": "yes",
    "clothing__packaging": "paper-bag",
}


def post(client: FlaskClient, exam_id: str, step: str, data: dict[str, Any]) -> Any:
    token = csrf_token(client, f"/exams/{exam_id}/steps/{step}")
    return client.post(f"/exams/{exam_id}/steps/{step}", data=data | {"csrf_token": token})


def count_versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        found = connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions")
        return int(found.scalar() or 0)


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error"[^>]*>([^<]+)</p>', page)
    assert found, f"no error next to {field_id}"
    return html.unescape(found.group(1))


def fill_every_step(app: Flask, client: FlaskClient, exam_id: str) -> None:
    for step, data in (
        ("baseline", BASELINE),
        ("incident", INCIDENT),
        ("strangulation", STRANGULATION),
        ("mental-state", MENTAL_STATE),
        ("clothing", CLOTHING),
    ):
        response = post(client, exam_id, step, data)
        assert response.status_code == 302, (step, response.get_data(as_text=True))


def test_each_step_is_saved_coded_validated_resumable_and_printed_in_screen_order(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES, vaginal_penetration=Answer.YES),
    )
    login(client, "examiner", PASSWORD)
    # "Save and continue" leads through the steps in the examiners' order.
    response = post(client, exam_id, "baseline", BASELINE)
    assert response.headers["Location"].endswith(f"/exams/{exam_id}/history")
    response = post(client, exam_id, "incident", INCIDENT)
    assert response.headers["Location"].endswith(f"/exams/{exam_id}/steps/strangulation")
    fill_every_step(app, client, exam_id)
    record = read(app, exam_id)
    registry = app.extensions["clinic.profiles"]
    slots = {
        "baseline",
        "incident",
        "assailant:1",
        "assailant:2",
        "assailant-marks",
        "strangulation",
        "strangulation-signs",
        "mental-state",
        "clothing",
    }
    assert slots <= set(record.entries)
    assert "assailant:3" not in record.entries  # a blank row writes nothing
    for slot in slots:
        content = record.entries[slot].content
        assert content["meta"]["profile"][0].endswith("fc-exam-answers")
        validate_resource(content, registry)
    baseline = record.entries["baseline"].content
    assert {
        "code": {
            "coding": [
                {
                    "system": "https://forensic-care.org/fhir/CodeSystem/exam-question",
                    "code": "lmp",
                    "display": "First day of the last menstrual period",
                }
            ]
        },
        "valueDateTime": "2026-11-20",
    } in baseline["component"]
    # Resumable: each page shows what was saved.
    page = client.get(f"/exams/{exam_id}/steps/incident").get_data(as_text=True)
    assert "Ring road, near the retail park" in page
    assert re.search(r'<option selected value="vehicle">|<option value="vehicle" selected', page)
    # The printed report: every section, in the order of the screens.
    sections = services.report_sections(record)
    codes = [s.code for s in sections]
    assert codes[:9] == [
        "consent",
        "timing",
        "baseline",
        "history",
        "incident",
        "strangulation",
        "general",
        "mental-state",
        "clothing",
    ]
    words = {s.code: s.lines for s in sections}
    assert "First day of the last menstrual period: 20 November 2026" in words["baseline"]
    assert "Contraception in use: Combined pill, Condom" in words["baseline"]
    assert (
        "Assailant 1: Relationship to her: Stranger; Sex: Male; Approximate age (years): 30 years"
        in words["incident"]
    )
    assert words["strangulation"][-1].startswith("Advice given: After strangulation")
    assert "A safe place to go tonight: No" in words["mental-state"]
    report = client.get(f"/exams/{exam_id}/report").get_data(as_text=True)
    assert report.index("Clinical baseline") < report.index("The incident")
    assert report.index("Mental state and immediate safety") < report.index("Clothing")
    # Saving the same answers again writes nothing.
    before = read(app, exam_id).entries["baseline"].version_id
    assert post(client, exam_id, "baseline", BASELINE).status_code == 302
    assert read(app, exam_id).entries["baseline"].version_id == before


@pytest.mark.parametrize(
    ("step", "data", "field", "message"),
    [
        (
            "baseline",
            {"baseline__lmp": (utcnow() + timedelta(days=3)).date().isoformat()},
            "baseline__lmp",
            "“First day of the last menstrual period” cannot be after the exam",
        ),
        (
            "baseline",
            {"baseline__last_consensual_intercourse": "2099-01-01"},
            "baseline__last_consensual_intercourse",
            "“Last consensual intercourse (date)” cannot be after the exam",
        ),
        (
            "baseline",
            {"baseline__lmp": "2026-02-31"},
            "baseline__lmp",
            "Not a valid date value.",
        ),
        (
            "incident",
            {"incident__assailant_count": "0"},
            "incident__assailant_count",
            "Enter a whole number from 1 to 50.",
        ),
        (
            "incident",
            {"assailant_1__approximate_age": "200"},
            "assailant_1__approximate_age",
            "Enter a whole number from 5 to 100.",
        ),
        (
            "incident",
            {
                "incident__assailant_count": "1",
                "assailant_1__sex": "male",
                "assailant_2__sex": "male",
            },
            "assailant_2__relationship",
            "2 assailants are described but the number of assailants is 1",
        ),
        (
            "incident",
            {"incident__place_kind": "moon"},
            "incident__place_kind",
            "Not a valid choice.",
        ),
        (
            "mental-state",
            {"mental_state__self_harm_thoughts": "no"},
            "mental_state__harm_others_thoughts",
            "Answer “Thoughts of harming others”: yes, no or not known.",
        ),
        (
            "strangulation",
            {"strangulation__voice_change": "yes"},
            "strangulation__strangulation_method",
            "The history says no to “Strangulation or non-fatal suffocation”",
        ),
        (
            "clothing",
            {"clothing__clothing_description": "x" * 4001},
            "clothing__clothing_description",
            "Field cannot be longer than 4000 characters.",
        ),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_written(
    app: Flask,
    client: FlaskClient,
    world: World,
    engine: sa.Engine,
    step: str,
    data: dict[str, Any],
    field: str,
    message: str,
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)  # the history answers "no" to strangulation
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    response = post(client, exam_id, step, data)
    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), field).startswith(message)
    assert count_versions(engine) == before


def test_every_question_has_a_field_and_every_code_its_display(app: Flask) -> None:
    """The lists drive the forms: each question is on its screen, once."""
    from clinic.exam.forms import STRUCTURED_FORMS

    with app.test_request_context():
        for code, step in STRUCTURED_STEPS.items():
            form = STRUCTURED_FORMS[code](formdata=None)
            for sheet in step.sheets:
                for slot in sheet.slots():
                    for question in sheet.questions:
                        assert form[answer_field(slot, question.code)].label.text == (
                            question.label
                        )


def test_her_account_of_the_incident_is_released_only_as_her_consent_permits(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """She lets the force have the report but not her own account: the incident and
    the strangulation she reports stay hers; the signs seen and clothing go with the
    report; her clinical baseline and mental state never go to police
    (tests/release/test_minimum_necessary.py)."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES),
    )
    login(client, "examiner", PASSWORD)
    fill_every_step(app, client, exam_id)
    from tests.exam.helpers import decide_every_window

    decide_every_window(app, exam_id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    record = read(app, exam_id)
    for slot, account in (
        ("incident", True),
        ("assailant:1", True),
        ("assailant-marks", True),
        ("strangulation", True),
        ("strangulation-signs", False),
        ("baseline", False),
        ("mental-state", False),
        ("clothing", False),
    ):
        classes = data_classes_of("Observation", record.entries[slot].content)
        assert ("assault-account" in classes) is account, slot
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
    filed = file(client, world["officer"].token, case.reference, requested=("report",)).get_json()
    release_to(
        app,
        case.id,
        "RIVERPOL",
        all_items(app, "police-release/v1", agree=False)
        | {"report": True, "report-account": False},
    )
    page = f"/releases/incoming/{filed['id']}"
    approved = client.post(f"{page}/approve", data={"csrf_token": csrf_token(client, page)})
    assert approved.status_code == 302, approved.get_data(as_text=True)
    bundle = api(
        client, "GET", f"/fhir/Task/{filed['id']}/$release", world["officer"].token
    ).get_json()
    text = json.dumps(bundle)
    for withheld in ("Ring road", "His left cheek", "A knife held", "Stranger"):
        assert withheld not in text, withheld
    for withheld in ("Penicillin (rash)", "Refuge place arranged"):
        assert withheld not in text, withheld
    assert "Petechiae on both eyelids" in text
    released_ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert record.entries["incident"].logical_id not in released_ids
    assert record.entries["baseline"].logical_id not in released_ids
    assert record.entries["clothing"].logical_id in released_ids


def test_a_step_of_another_site_or_an_unknown_step_is_not_found(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner.south", PASSWORD)
    assert client.get(f"/exams/{exam_id}/steps/baseline").status_code == 404
    own = app.test_client()
    login(own, "examiner", PASSWORD)
    assert own.get(f"/exams/{exam_id}/steps/nonsense").status_code == 404
    assert own.get(f"/exams/{exam_id}/steps/baseline").status_code == 200


def test_sign_off_is_refused_when_the_history_now_says_no_strangulation_but_answers_stand(
    app: Flask, world: World
) -> None:
    """The history said yes, the strangulation step was filled, then the history was
    changed to no: the report would contradict itself, so sign-off says what to
    correct; clearing the step (or the history saying yes again) lets it through."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES),
    )
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="strangulation",
        answers={
            "strangulation": {
                "strangulation-duration": "about a minute",
                "loss-of-consciousness": Answer.YES,
            }
        },
    )
    call(app, "examiner", services.record_history, exam_id=exam_id, history=history())
    decide_every_window(app, exam_id)
    with pytest.raises(services.ExamRefused) as refused:
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert (
        "The history says no to “Strangulation or non-fatal suffocation” but the Non-fatal "
        "strangulation step holds answers" in refused.value.message
    )
    assert refused.value.field == "sign"
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="strangulation",
        answers={},
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert read(app, exam_id).exam.status == ExamStatus.SIGNED


def test_sign_off_is_refused_while_history_and_incident_contradict_each_other(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """Restraint and drugs or alcohol are asked in the history and on the incident
    step: yes on one and no on the other is refused at sign-off (and shown on the
    exam's page before), naming both; "not known" contradicts nothing."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(drugs_alcohol_suspected=Answer.YES),  # restraints: no
    )
    incident = {"restraint": Answer.YES, "substances-suspected": Answer.NO}
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="incident",
        answers={"incident": incident},
    )
    decide_every_window(app, exam_id)
    before = count_versions(engine)
    with pytest.raises(services.ExamRefused) as refused:
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert refused.value.field == "sign"
    restraint = (
        "The history says no to “Restraints (held down, tied)” but the incident step says "
        "yes to “Restrained”: correct the one that is wrong (ask her again if needed)."
    )
    substances = (
        "The history says yes to “Drugs or alcohol suspected” but the incident step says "
        "no to “Drugs or alcohol suspected”: correct the one that is wrong (ask her again "
        "if needed)."
    )
    assert restraint in refused.value.message
    assert substances in refused.value.message
    assert count_versions(engine) == before
    assert read(app, exam_id).exam.status != ExamStatus.SIGNED
    login(client, "examiner", PASSWORD)
    overview = html.unescape(client.get(f"/exams/{exam_id}").get_data(as_text=True))
    assert restraint in overview
    # She is not sure whether she was restrained; drugs: the incident step corrected.
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="incident",
        answers={"incident": {"restraint": Answer.UNKNOWN, "substances-suspected": Answer.YES}},
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert read(app, exam_id).exam.status == ExamStatus.SIGNED
