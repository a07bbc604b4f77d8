"""A released exam report carries the body maps only as far as her release
consent covers the injuries: the maps are drawn from the released bundle alone."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from clinic.bodymap.marks import MarkRequest
from clinic.bodymap.render import MARK
from clinic.cli import unit_of_work
from clinic.exam import services
from clinic.ledger.services import generate_key
from clinic.release.bundle import release_key_name
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.evidence.test_retention import seal_kit
from tests.exam.helpers import (
    INJURY,
    call,
    complete_exam,
    decide_every_window,
    read,
    record_exam_consent,
)
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file


def released_report_page(
    app: Flask, client: FlaskClient, world: World, *, report: bool
) -> tuple[str, dict]:  # type: ignore[type-arg]
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.change_injury,
        exam_id=exam_id,
        slot="injury:1",
        injury=INJURY,
        mark=MarkRequest("adult-female", "front", Decimal("141.5"), Decimal("180")),
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    return release_the_report(app, client, world, case.id, case.reference, report=report)


def release_the_report(
    app: Flask, client: FlaskClient, world: World, case_id: str, reference: str, *, report: bool
) -> tuple[str, dict]:  # type: ignore[type-arg]
    """Her release of the report (without her own account) and swabs, approved; the
    officer's printed report and the FHIR bundle."""
    seal_kit(app, collect_kit(app, "examiner", case_id, ("swab",)))
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
    filed = file(
        client, world["officer"].token, reference, requested=("report", "swabs")
    ).get_json()
    answers = all_items(app, "police-release/v1", agree=False) | {"report": report, "swabs": True}
    if report:
        answers["report-account"] = False  # asked only when she releases the report
    release_to(app, case_id, "RIVERPOL", answers)
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = f"/releases/incoming/{filed['id']}"
    approved = staff.post(
        f"/releases/incoming/{filed['id']}/approve", data={"csrf_token": csrf_token(staff, page)}
    )
    assert approved.status_code == 302
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    response = officer.get(f"/releases/{filed['id']}/exam-report")
    assert response.status_code == 200
    bundle = api(
        client, "GET", f"/fhir/Task/{filed['id']}/$release", world["officer"].token
    ).get_json()
    return response.get_data(as_text=True), bundle


def test_the_released_report_shows_the_map_of_released_injuries(
    app: Flask, client: FlaskClient, world: World
) -> None:
    page, bundle = released_report_page(app, client, world, report=True)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in images] == [
        "Body map, Adult female, front: injuries 1 marked; the legend follows."
    ]
    image = Image.open(io.BytesIO(base64.b64decode(images[0][0]))).convert("RGB")
    assert image.getpixel((283, 360 - 10)) == MARK  # above the number, inside the disc
    assert "1: Bruise" in page
    # The bundle carries the mark for the force's own systems.
    marks = [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if entry["resource"]["resourceType"] == "Observation" and "extension" in entry["resource"]
    ]
    assert len(marks) == 1


@pytest.mark.parametrize("report", [False])
def test_no_map_leaves_when_she_did_not_release_the_report(
    app: Flask, client: FlaskClient, world: World, report: bool
) -> None:
    page, bundle = released_report_page(app, client, world, report=report)
    assert 'id="no-report"' in page
    assert "Body map" not in page
    assert "data:image/png" not in page
    assert not any(
        entry["resource"]["resourceType"] == "Observation" for entry in bundle.get("entry", [])
    )


def map_alts(page: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', page)


def test_a_retracted_injury_is_neither_drawn_nor_shipped(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Injury 2, marked then retracted (recorded twice): the clinic's printed report
    leaves it off its map, and so does the released one; the bundle does not carry
    its content."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.add_injury,
        exam_id=exam_id,
        injury=replace(INJURY, description="SECONDCOPY"),
        mark=MarkRequest("adult-female", "front", Decimal("141.5"), Decimal("180")),
    )
    call(app, "examiner", services.retract_injury, exam_id=exam_id, slot="injury:2", why="Twice")
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    clinic_maps = services.report_maps(read(app, exam_id))
    page, bundle = release_the_report(app, client, world, case.id, case.reference, report=True)
    assert not clinic_maps
    assert map_alts(page) == []
    assert "SECONDCOPY" not in page
    assert "SECONDCOPY" not in json.dumps(bundle)
    assert not any(
        entry["resource"].get("status") == "entered-in-error" for entry in bundle["entry"]
    )
    assert "Injuries" in page  # the report itself is released, injury 1 in it


def test_an_injury_removed_after_her_decline_never_reaches_the_police(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """An anogenital injury recorded, then removed because she declined the
    anogenital examination: no map, no words, no content in the bundle."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.add_injury,
        exam_id=exam_id,
        injury=replace(
            INJURY, region="posterior-fourchette", site="6 o'clock", description="DECLINEDTEAR"
        ),
        mark=MarkRequest("anogenital-female", "external"),
    )
    record_exam_consent(app, case.id, anogenital_exam=False)
    call(app, "examiner", services.remove_declined_findings, exam_id=exam_id)
    decide_every_window(app, exam_id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    page, bundle = release_the_report(app, client, world, case.id, case.reference, report=True)
    assert map_alts(page) == []
    assert "DECLINEDTEAR" not in page
    assert "DECLINEDTEAR" not in json.dumps(bundle)
