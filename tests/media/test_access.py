"""Who reaches a photograph (promise 9): the examiners of her site as her photo
consent allows; intimate images only where she permits it, blurred until opened
with a reason, every opening audited; never counsellors, custodians or police,
whatever a Consent says, by any route (screens, API, guessed ids, history)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.media.models import Variant
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record, release_to
from tests.exam.helpers import complete_exam
from tests.helpers import api, csrf_token, login, open_case
from tests.media.helpers import camera_jpeg, read, record_photo_consent, take


@dataclass
class Photos:
    exam_id: str
    patient_id: str
    plain: str
    intimate: str


@pytest.fixture
def photos(app: Flask) -> Photos:
    """A case whose survivor agreed to everything, including sharing with the
    counselling team and release of non-intimate photos to Riverside Police."""
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    record(app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    exam_id = complete_exam(app, case.id)
    (plain,) = take(app, exam_id, [("a.jpg", camera_jpeg(seed=11))])
    (intimate,) = take(
        app, exam_id, [("b.jpg", camera_jpeg(seed=12))], intimate=True, region="other", site="vulva"
    )
    return Photos(exam_id, case.patient_id, plain, intimate)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def audit_reasons(engine: sa.Engine, entity_prefix: str) -> list[list[str]]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT entities, reasons FROM audit_events").all()
    return [
        json.loads(reasons)
        for entities, reasons in rows
        if any(e.startswith(entity_prefix) for e in json.loads(entities))
    ]


def test_an_intimate_image_shows_blurred_until_opened_with_a_reason(
    app: Flask, photos: Photos, engine: sa.Engine
) -> None:
    client = signed_in(app, "examiner")
    page = client.get(f"/exams/{photos.exam_id}/photos").get_data(as_text=True)
    assert "intimate image, blurred" in page
    assert f"/photos/{photos.intimate}/display" not in page
    assert f"/photos/{photos.intimate}/original" not in page
    thumbnail = client.get(f"/photos/{photos.intimate}/thumbnail").get_data()
    assert thumbnail == read(app, photos.intimate, Variant.BLURRED).data
    # Even asked for by name, an intimate image's thumbnail is its blurred stand-in.
    assert read(app, photos.intimate, Variant.THUMBNAIL).data == thumbnail
    # Never at an address of its own: only opened on purpose.
    assert client.get(f"/photos/{photos.intimate}/display").status_code == 403
    assert client.get(f"/photos/{photos.intimate}/original").status_code == 403

    token = csrf_token(client, f"/exams/{photos.exam_id}/photos")
    refused = client.post(f"/photos/{photos.intimate}/open", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "Say why you are opening it." in refused.get_data(as_text=True)
    opened = client.post(
        f"/photos/{photos.intimate}/open",
        data={"csrf_token": token, "reason": "Second opinion on the findings"},
    )
    assert opened.status_code == 200
    assert "data:image/jpeg;base64," in opened.get_data(as_text=True)
    assert "no-store" in opened.headers["Cache-Control"]
    reasons = audit_reasons(engine, f"Media/{photos.intimate}")
    assert any(
        "intimate image opened: Second opinion on the findings" in found for found in reasons
    )
    original = client.post(
        f"/photos/{photos.intimate}/original",
        data={"csrf_token": token, "reason": "Second opinion on the findings"},
    )
    assert original.status_code == 200
    assert original.headers["Content-Disposition"].startswith("attachment")
    assert sum("original downloaded" in found for found in audit_reasons(engine, "Media/")) == 1


def test_each_opening_is_audited_on_its_own(app: Flask, photos: Photos, engine: sa.Engine) -> None:
    client = signed_in(app, "examiner")
    token = csrf_token(client, f"/exams/{photos.exam_id}/photos")
    for reason in ("first look", "second look"):
        client.post(f"/photos/{photos.intimate}/open", data={"csrf_token": token, "reason": reason})
    opened = [
        found
        for found in audit_reasons(engine, f"Media/{photos.intimate}")
        if any(r.startswith("intimate image opened") for r in found)
    ]
    assert len(opened) == 2


def test_without_her_permit_to_view_them_examiners_do_not_see_intimate_images(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id, intimate_view_examiners=False)
    exam_id = complete_exam(app, case.id)
    (intimate,) = take(app, exam_id, intimate=True, region="other", site="perineum")
    examiner = signed_in(app, "examiner")
    page = examiner.get(f"/exams/{exam_id}/photos").get_data(as_text=True)
    assert intimate not in page
    assert examiner.get(f"/photos/{intimate}/thumbnail").status_code == 404
    token = world["examiner"].token
    assert api(client, "GET", f"/fhir/Media/{intimate}", token).status_code == 404
    found = api(client, "GET", f"/fhir/Media?encounter={exam_id}", token).get_json()
    assert found.get("entry", []) == []


@pytest.mark.parametrize("username", ["counsellor", "custodian", "officer", "admin", "auditor"])
def test_no_other_role_reaches_a_photo_whatever_her_consent_says(
    app: Flask, client: FlaskClient, world: World, photos: Photos, username: str
) -> None:
    """Her consents permit the counselling team everything and Riverside Police
    non-intimate photos: still, no photo through any route."""
    token = world[username].token
    concealed = username == "officer"
    refused = 404 if concealed else 403
    for photo_id in (photos.plain, photos.intimate):
        for path in (
            f"/fhir/Media/{photo_id}",
            f"/fhir/Media/{photo_id}/_history",
            f"/fhir/Media/{photo_id}/_history/1",
        ):
            assert api(client, "GET", path, token).status_code == refused, path
    for query in (
        f"patient={photos.patient_id}",
        f"encounter={photos.exam_id}",
        "site=forearm",
        f"_id={photos.plain}",
    ):
        response = api(client, "GET", f"/fhir/Media?{query}", token)
        assert response.status_code in (403, 404) or response.get_json().get("entry", []) == []
    history = api(client, "GET", "/fhir/Media/_history", token)
    # Police are answered as if nothing existed: an empty history, never a count.
    assert history.status_code == 403 or history.get_json().get("entry", []) == []
    assert "total" not in (history.get_json() or {})
    browser = signed_in(app, username)
    for photo_id in (photos.plain, photos.intimate):
        for variant in ("thumbnail", "display", "original"):
            assert browser.get(f"/photos/{photo_id}/{variant}").status_code == refused
        token_field = csrf_token(browser, "/account/password")
        response = browser.post(
            f"/photos/{photo_id}/open", data={"csrf_token": token_field, "reason": "x"}
        )
        assert response.status_code == refused
    assert browser.get(f"/exams/{photos.exam_id}/photos").status_code == refused


def test_another_sites_examiner_finds_nothing_and_guessed_ids_look_the_same(
    app: Flask, client: FlaskClient, world: World, photos: Photos
) -> None:
    token = world["examiner.south"].token
    guessed = "00000000-0000-4000-8000-000000000000"
    answers = {
        photo_id: api(client, "GET", f"/fhir/Media/{photo_id}", token)
        for photo_id in (photos.plain, photos.intimate, guessed)
    }
    assert {response.status_code for response in answers.values()} == {404}
    bodies = {json.dumps(response.get_json()["issue"][0]["code"]) for response in answers.values()}
    assert len(bodies) == 1
    found = api(client, "GET", f"/fhir/Media?patient={photos.patient_id}", token).get_json()
    assert found.get("entry", []) == []
    browser = signed_in(app, "examiner.south")
    for photo_id in (photos.plain, photos.intimate, guessed):
        assert browser.get(f"/photos/{photo_id}/thumbnail").status_code == 404
        assert browser.get(f"/photos/{photo_id}/original").status_code == 404


def test_examiners_search_media_by_patient_encounter_site_and_view(
    app: Flask, client: FlaskClient, world: World, photos: Photos
) -> None:
    token = world["examiner"].token
    for query, expected in (
        (f"patient={photos.patient_id}", {photos.plain, photos.intimate}),
        (f"encounter=Encounter/{photos.exam_id}", {photos.plain, photos.intimate}),
        ("site=https://forensic-care.org/fhir/CodeSystem/body-region|forearm", {photos.plain}),
        ("view=close-up", {photos.plain, photos.intimate}),
    ):
        bundle = api(client, "GET", f"/fhir/Media?{query}", token).get_json()
        assert {entry["resource"]["id"] for entry in bundle.get("entry", [])} == expected, query
    media = api(client, "GET", f"/fhir/Media/{photos.intimate}", token).get_json()
    labels = {(label["system"], label["code"]) for label in media["meta"]["security"]}
    assert ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "V") in labels
    assert "data" not in media["content"]
    assert api(client, "POST", "/fhir/Media", token, media | {"id": None}).status_code in (
        403,
        405,
    )


def refusals(engine: sa.Engine, entity_prefix: str) -> list[tuple[str, str, list[str]]]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT username, outcome, entities, reasons FROM audit_events"
        ).all()
    return [
        (username, outcome, json.loads(reasons))
        for username, outcome, entities, reasons in rows
        if outcome != "0" and any(e.startswith(entity_prefix) for e in json.loads(entities))
    ]


def test_refused_photo_requests_are_audited(app: Flask, photos: Photos, engine: sa.Engine) -> None:
    south = signed_in(app, "examiner.south")
    assert south.get(f"/photos/{photos.plain}/display").status_code == 404
    assert south.get("/photos/00000000-0000-4000-8000-000000000000/thumbnail").status_code == 404
    (refused,) = refusals(engine, f"Media/{photos.plain}")
    assert refused[:2] == ("examiner.south", "4")
    assert "Media belongs to another site" in refused[2]
    assert refusals(engine, "Media/00000000-0000-4000-8000-000000000000")
    examiner = signed_in(app, "examiner")
    assert examiner.get(f"/photos/{photos.intimate}/display").status_code == 403
    (refused,) = refusals(engine, f"Media/{photos.intimate}")
    assert refused[:2] == ("examiner", "4")
    assert "intimate image's display asked for without a reason" in refused[2]
