"""Laboratory results leave for the police only as her release form says: a
toxicology result under "toxicology" (never with the report alone), and the other
tests (infections, pregnancy) never, whatever she releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.terms import data_classes_of
from clinic.cli import unit_of_work
from clinic.exam import services
from clinic.ledger.services import generate_key
from clinic.release.bundle import release_key_name
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.evidence.test_retention import seal_kit
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file


@pytest.mark.parametrize(
    ("report", "toxicology"), [(True, False), (False, True), (True, True), (False, False)]
)
def test_lab_results_leave_only_as_her_release_says(
    app: Flask, client: FlaskClient, world: World, report: bool, toxicology: bool
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.request_lab_tests,
        exam_id=exam_id,
        requested={"toxicology-urine": "Forensic tox", "hiv": "Virology"},
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(
        app,
        "examiner",
        services.add_lab_result,
        exam_id=exam_id,
        test="toxicology-urine",
        result="detected",
        details="GHB 40 mg/L",
    )
    call(
        app,
        "examiner",
        services.add_lab_result,
        exam_id=exam_id,
        test="hiv",
        result="positive",
        details="HIVDETAIL",
    )
    seal_kit(app, collect_kit(app, "examiner", case.id, ("swab",)))
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
    filed = file(
        client,
        world["officer"].token,
        case.reference,
        requested=("report", "swabs", "toxicology"),
    ).get_json()
    answers = all_items(app, "police-release/v1", agree=False) | {
        "report": report,
        "swabs": True,
        "toxicology": toxicology,
    }
    if report:
        answers["report-account"] = True  # even with all of her account
    release_to(app, case.id, "RIVERPOL", answers)
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    incoming = f"/releases/incoming/{filed['id']}"
    approved = staff.post(f"{incoming}/approve", data={"csrf_token": csrf_token(staff, incoming)})
    assert approved.status_code == 302
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    page = officer.get(f"/releases/{filed['id']}/exam-report").get_data(as_text=True)
    bundle = api(
        client, "GET", f"/fhir/Task/{filed['id']}/$release", world["officer"].token
    ).get_json()
    shipped = json.dumps(bundle)
    assert ("GHB" in shipped) is toxicology
    assert ("GHB" in page) is (toxicology and report)  # the printed report is the report's
    for text in (shipped, page):
        assert "HIVDETAIL" not in text
        assert "Virology" not in text
        assert '"code": "hiv"' not in text
    if not toxicology:
        assert "Forensic tox" not in shipped


def test_laboratory_records_are_classed_by_their_test() -> None:
    def lab(code: str) -> dict:  # type: ignore[type-arg]
        return {
            "encounter": {"reference": "Encounter/e"},
            "category": [
                {
                    "coding": [
                        {
                            "system": "https://forensic-care.org/fhir/CodeSystem/exam-section",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {"system": "https://forensic-care.org/fhir/CodeSystem/lab-test", "code": code}
                ]
            },
        }

    assert data_classes_of("Observation", lab("toxicology-blood")) == {"toxicology"}
    assert data_classes_of("Observation", lab("toxicology-urine")) == {"toxicology"}
    for code in ("hiv", "pregnancy", "syphilis", "hepatitis-b", "chlamydia-gonorrhoea-naat"):
        assert data_classes_of("Observation", lab(code)) == {"lab-results"}
