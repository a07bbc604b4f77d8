"""Laboratory tests requested at the exam, their results added later (with who and
when, not as amendments), and the treatment additions (wound care, suturing,
hepatitis B vaccine, tetanus), through HTTP."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for, set_professional_registration
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam import services
from clinic.exam.resources import Treatment
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record
from tests.exam.helpers import call, complete_exam, read
from tests.helpers import csrf_token, login, open_case


def count_versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        found = connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions")
        return int(found.scalar() or 0)


def request_tests(client: FlaskClient, exam_id: str, data: dict[str, str]) -> tuple[int, str]:
    token = csrf_token(client, f"/exams/{exam_id}/laboratory")
    response = client.post(f"/exams/{exam_id}/laboratory", data=data | {"csrf_token": token})
    return response.status_code, html.unescape(response.get_data(as_text=True))


def add_result(
    client: FlaskClient, exam_id: str, test: str, result: str, details: str = ""
) -> tuple[int, str]:
    page = client.get(f"/exams/{exam_id}/laboratory").get_data(as_text=True)
    token = re.search(
        rf'name="result-{test}-csrf_token" type="hidden" value="([^"]+)"', page
    ) or re.search(rf'name="result-{test}-csrf_token" value="([^"]+)"', page)
    assert token, f"no result form for {test}"
    response = client.post(
        f"/exams/{exam_id}/laboratory/{test}/result",
        data={
            f"result-{test}-result": result,
            f"result-{test}-details": details,
            f"result-{test}-csrf_token": token.group(1),
        },
    )
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_tests_are_requested_then_results_added_after_sign_off_without_amending(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    status, page = request_tests(client, exam_id, {"lab_hiv_requested": "y"})
    assert status == 422
    assert "HIV: say where the sample goes (which laboratory)." in page
    assert 'id="lab_hiv_destination-error"' in page
    assert count_versions(engine) == before
    status, _ = request_tests(
        client,
        exam_id,
        {
            "lab_hiv_requested": "y",
            "lab_hiv_destination": "Regional virology laboratory",
            "lab_toxicology_urine_requested": "y",
            "lab_toxicology_urine_destination": "Forensic toxicology service",
        },
    )
    assert status == 302
    record = read(app, exam_id)
    assert record.lab_requests == {
        "hiv": "Regional virology laboratory",
        "toxicology-urine": "Forensic toxicology service",
    }
    registry = app.extensions["clinic.profiles"]
    for slot in ("lab:hiv", "lab:toxicology-urine"):
        assert record.entries[slot].content["status"] == "registered"
        validate_resource(record.entries[slot].content, registry)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    # Weeks later: the result is added, no amendment reason asked, none recorded.
    assert add_result(client, exam_id, "hiv", "moon")[0] == 422
    status, _ = add_result(client, exam_id, "hiv", "negative", "4th generation Ag/Ab")
    assert status == 302
    record = read(app, exam_id)
    assert record.amendments == []
    result = record.entries["lab-result:hiv:1"]
    validate_resource(result.content, registry)
    assert result.content["derivedFrom"] == [
        {"reference": record.entries["lab:hiv"].versioned_reference}
    ]
    # Who added it, as the report names its signer: name and role (not a login name).
    assert result.content["performer"] == [{"display": "Examiner, Forensic examiner"}]
    lines = next(s.lines for s in services.report_sections(record) if s.code == "laboratory")
    assert lines[0] == "HIV: requested, sent to Regional virology laboratory"
    assert lines[1].startswith("HIV result, added ")
    assert lines[1].endswith("by Examiner, Forensic examiner: Negative (4th generation Ag/Ab)")
    assert lines[2] == "Toxicology (urine): requested, sent to Forensic toxicology service"
    # The signed report gets a new version naming it; still "final", not amended.
    with engine.connect() as connection:
        reports = [
            json.loads(row)
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE resource_type = "
                    "'Composition' ORDER BY version_id"
                )
            ).scalars()
        ]
    assert len(reports) == 2
    assert reports[-1]["status"] == "final"
    entries = [e["reference"] for s in reports[-1]["section"] for e in s.get("entry", [])]
    assert result.versioned_reference in entries
    # A test not requested has no result form; a requested one with a result stays.
    token = csrf_token(client, f"/exams/{exam_id}/laboratory")
    for test in ("syphilis", "nonsense"):
        response = client.post(
            f"/exams/{exam_id}/laboratory/{test}/result",
            data={
                f"result-{test}-result": "negative",
                f"result-{test}-csrf_token": token,
            },
        )
        assert response.status_code == 404, test
    refused = call_refused(app, exam_id)
    assert refused == "HIV has a result: it stays requested."


def call_refused(app: Flask, exam_id: str) -> str:
    try:
        call(
            app,
            "examiner",
            services.request_lab_tests,
            exam_id=exam_id,
            requested={},
            reason="No longer wanted.",
        )
    except services.ExamRefused as refused:
        return refused.message
    return ""


def test_wound_care_and_suturing_are_treatments_given_or_declined_with_reason(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    now = utcnow()
    for treatment in (
        Treatment("wound-care", "Chlorhexidine 0.05% irrigation, dressing", None, True, None, now),
        Treatment("suturing", "Absorbable suture 4-0", None, False, "She declined.", now),
        Treatment("hepatitis-b", "Hepatitis B vaccine, dose 1", "1 mL IM", True, None, now),
    ):
        call(app, "examiner", services.add_treatment, exam_id=exam_id, treatment=treatment)
    record = read(app, exam_id)
    registry = app.extensions["clinic.profiles"]
    for _, _, version in record.treatments:
        validate_resource(version.content, registry)
    lines = next(s.lines for s in services.report_sections(record) if s.code == "treatment")
    assert any(line.startswith("Wound care: Chlorhexidine") for line in lines)
    assert any(
        line.startswith("Suturing: Absorbable suture 4-0 — declined (She declined.)")
        for line in lines
    )


def test_toxicology_is_not_requested_when_she_declined_that_sample(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """Her evidence-collection consent declines blood and urine: neither toxicology
    test can be requested (the message at the field, nothing written); the other
    tests still can."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    declined = all_items(app, "evidence-collection/v1") | {"blood": False, "urine": False}
    record(app, case.id, "evidence-collection/v1", declined)
    login(client, "examiner", PASSWORD)
    for code, sample in (("toxicology_blood", "blood"), ("toxicology_urine", "urine")):
        before = count_versions(engine)
        status, page = request_tests(
            client,
            exam_id,
            {
                f"lab_{code}_requested": "y",
                f"lab_{code}_destination": "Forensic tox",
                "lab_hiv_requested": "y",
                "lab_hiv_destination": "Virology",
            },
        )
        assert status == 422
        assert (
            f'id="lab_{code}_requested-error" lang="en">Toxicology ({sample}): she declined a {sample} '
            "sample in her evidence-collection consent" in page
        )
        assert count_versions(engine) == before
    assert read(app, exam_id).lab_requests == {}
    status, _ = request_tests(
        client, exam_id, {"lab_hiv_requested": "y", "lab_hiv_destination": "Virology"}
    )
    assert status == 302
    assert read(app, exam_id).lab_requests == {"hiv": "Virology"}


def test_a_result_names_who_added_it_with_their_professional_registration(
    app: Flask, world: World
) -> None:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        examiner = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        assert admin is not None
        assert examiner is not None
        set_professional_registration(
            uow, examiner, actor=actor_for(admin), registration="NMC 12A3456B"
        )
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.request_lab_tests, exam_id=exam_id, requested={"hiv": "Lab"})
    call(app, "examiner", services.add_lab_result, exam_id=exam_id, test="hiv", result="negative")
    content = read(app, exam_id).entries["lab-result:hiv:1"].content
    assert content["performer"] == [
        {
            "display": "Examiner, Forensic examiner",
            "identifier": {"type": {"text": "Professional registration"}, "value": "NMC 12A3456B"},
        }
    ]
    validate_resource(content, app.extensions["clinic.profiles"])


def test_no_result_is_added_for_a_sample_she_declined_after_the_test_was_requested(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """Toxicology (urine) was requested while she agreed; she then declines the urine
    sample: its result is refused with the reason, nothing is written; a test whose
    sample she still agrees to takes its result."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    record(app, case.id, "evidence-collection/v1", all_items(app, "evidence-collection/v1"))
    call(
        app,
        "examiner",
        services.request_lab_tests,
        exam_id=exam_id,
        requested={"toxicology-urine": "Forensic tox", "toxicology-blood": "Forensic tox"},
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    record(
        app,
        case.id,
        "evidence-collection/v1",
        all_items(app, "evidence-collection/v1") | {"urine": False},
    )
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    status, page = add_result(client, exam_id, "toxicology-urine", "detected", "GHB 40 mg/L")
    assert status == 422
    assert (
        "Toxicology (urine): she has declined a urine sample in her evidence-collection "
        "consent since the test was requested, so its result cannot be added to her record."
    ) in page
    assert count_versions(engine) == before
    assert not any(slot.startswith("lab-result:") for slot in read(app, exam_id).entries)
    with pytest.raises(services.ExamRefused) as refused:
        call(
            app,
            "examiner",
            services.add_lab_result,
            exam_id=exam_id,
            test="toxicology-urine",
            result="not-detected",
        )
    assert refused.value.field == "result"
    assert count_versions(engine) == before
    status, _ = add_result(client, exam_id, "toxicology-blood", "not-detected")
    assert status == 302
