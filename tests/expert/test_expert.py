"""The medical expert she names (docs/design.md section 4): one case, a period, the
photographs her consent lets the expert see, nothing else; opened only by an
examiner of her case and only for the person her consent names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Action, decide
from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.expert import services
from clinic.media.models import Variant
from tests.conftest import PASSWORD
from tests.consent.helpers import withdraw
from tests.exam.helpers import complete_exam
from tests.expert.helpers import appoint, set_access_until, token_of
from tests.helpers import api, csrf_token, login, open_case, session_opened
from tests.media.helpers import EXPERT, camera_jpeg, read, record_photo_consent, take

GUESSED = "00000000-0000-4000-8000-000000000000"


@dataclass
class Case:
    case_id: str
    patient_id: str
    exam_id: str
    consent_id: str
    plain: str
    intimate: str


def _case(app: Flask, seed: int) -> Case:
    case = open_case(app, "examiner")
    consent_id = record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    (plain,) = take(app, exam_id, [("a.jpg", camera_jpeg(seed=seed))])
    (intimate,) = take(
        app,
        exam_id,
        [("b.jpg", camera_jpeg(seed=seed + 1))],
        intimate=True,
        region="other",
        site="vulva",
    )
    return Case(case.id, case.patient_id, exam_id, consent_id, plain, intimate)


@pytest.fixture
def case_a(app: Flask) -> Case:
    return _case(app, 41)


@pytest.fixture
def case_b(app: Flask) -> Case:
    return _case(app, 51)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert session_opened(login(client, username, PASSWORD))
    return client


def open_photo(client: FlaskClient, photo_id: str, reason: str) -> int:
    token = csrf_token(client, "/account/password")
    return client.post(
        f"/photos/{photo_id}/open", data={"csrf_token": token, "reason": reason}
    ).status_code


def users(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM users").scalar() or 0)


def test_the_expert_sees_her_intimate_images_blurred_and_opens_them_with_a_reason(
    app: Flask, case_a: Case, engine: sa.Engine
) -> None:
    appoint(app, case_a.case_id)
    client = signed_in(app, "dr.lovelace")
    page = client.get("/expert/photos").get_data(as_text=True)
    # Numbered as in her exam: the intimate image was its second photograph.
    assert "Photograph 2</strong> · intimate image (blurred)" in page
    assert f"/photos/{case_a.intimate}/thumbnail" in page
    # Her v1 photo consent lets the expert see intimate images only: not the others.
    assert case_a.plain not in page
    assert client.get(f"/photos/{case_a.plain}/thumbnail").status_code == 404
    assert client.get(f"/photos/{case_a.plain}/display").status_code == 404
    blurred = client.get(f"/photos/{case_a.intimate}/thumbnail")
    assert blurred.status_code == 200
    assert blurred.get_data() == read(app, case_a.intimate, Variant.BLURRED).data
    assert client.get(f"/photos/{case_a.intimate}/display").status_code == 403
    assert open_photo(client, case_a.intimate, "") == 422
    token = csrf_token(client, "/account/password")
    opened = client.post(
        f"/photos/{case_a.intimate}/open",
        data={"csrf_token": token, "reason": "Opinion for the court on healing"},
    )
    assert opened.status_code == 200
    assert "data:image/jpeg;base64," in opened.get_data(as_text=True)
    assert "Download the original" not in opened.get_data(as_text=True)
    # Viewing is not taking away: no original, even with a reason.
    original = client.post(
        f"/photos/{case_a.intimate}/original", data={"csrf_token": token, "reason": "x"}
    )
    assert original.status_code == 403
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT reasons FROM audit_events WHERE entities LIKE :entity"),
            {"entity": f"%{case_a.intimate}%"},
        ).all()
    assert any(
        "intimate image opened: Opinion for the court on healing" in json.loads(r) for (r,) in rows
    )


def test_the_expert_reaches_nothing_else_by_any_screen(app: Flask, case_a: Case) -> None:
    appoint(app, case_a.case_id)
    client = signed_in(app, "dr.lovelace")
    for path in (
        "/cases/",
        f"/cases/{case_a.case_id}",
        f"/cases/{case_a.case_id}/expert",
        f"/exams/{case_a.exam_id}/photos",
        f"/exams/{case_a.exam_id}",
        "/evidence/",
        "/audit/",
        "/admin/users",
        "/admin/organizations",
    ):
        assert client.get(path).status_code in (403, 404), path
    home = client.get("/").get_data(as_text=True)
    assert "/expert/photos" in home
    assert "/cases/" not in home


def test_an_expert_of_case_a_gets_nothing_of_case_b(
    app: Flask, client: FlaskClient, case_a: Case, case_b: Case
) -> None:
    appoint(app, case_a.case_id)
    browser = signed_in(app, "dr.lovelace")
    page = browser.get("/expert/photos").get_data(as_text=True)
    assert case_b.intimate not in page
    assert case_b.plain not in page
    for photo_id in (case_b.intimate, case_b.plain, GUESSED):
        for variant in ("thumbnail", "display"):
            assert browser.get(f"/photos/{photo_id}/{variant}").status_code == 404
        assert open_photo(browser, photo_id, "curious") == 404

    token = token_of(app, "dr.lovelace")
    # Her own case's intimate image: the Media (no pixels) only, through the API too.
    assert api(client, "GET", f"/fhir/Media/{case_a.intimate}", token).status_code == 200
    refused = {
        path: api(client, "GET", path, token).status_code
        for path in (
            f"/fhir/Media/{case_b.intimate}",
            f"/fhir/Media/{case_b.intimate}/_history",
            f"/fhir/Media/{case_b.intimate}/_history/1",
            f"/fhir/Media/{GUESSED}",
            f"/fhir/Media/{case_a.plain}",
        )
    }
    assert set(refused.values()) == {404}, refused
    for query in (
        f"patient={case_b.patient_id}",
        f"encounter={case_b.exam_id}",
        f"_id={case_b.intimate}",
        f"_id={case_a.plain}",
    ):
        bundle = api(client, "GET", f"/fhir/Media?{query}", token).get_json()
        assert bundle.get("entry", []) == [], query
    mine = api(client, "GET", f"/fhir/Media?patient={case_a.patient_id}", token).get_json()
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in mine.get("entry", [])}
    assert found == {("Media", case_a.intimate)}
    # _include would bring her Patient and exam along: not offered for Media at all.
    included = api(
        client, "GET", f"/fhir/Media?patient={case_a.patient_id}&_include=Media:patient", token
    )
    assert included.status_code == 400
    assert "entry" not in included.get_json()
    history = api(client, "GET", "/fhir/Media/_history", token).get_json()
    ids = {e["resource"]["id"] for e in history.get("entry", []) if "resource" in e}
    assert ids <= {case_a.intimate}
    for path in (
        f"/fhir/Patient/{case_a.patient_id}",
        f"/fhir/Encounter/{case_a.exam_id}",
        f"/fhir/EpisodeOfCare/{case_a.case_id}",
        f"/fhir/Consent/{case_a.consent_id}",
        "/fhir/Patient",
        "/fhir/Consent",
        "/fhir/Specimen",
        "/fhir/AuditEvent",
    ):
        assert api(client, "GET", path, token).status_code in (403, 404), path


def test_after_the_last_day_the_expert_neither_signs_in_nor_reads(
    app: Flask, client: FlaskClient, case_a: Case
) -> None:
    appoint(app, case_a.case_id)
    browser = signed_in(app, "dr.lovelace")
    token = token_of(app, "dr.lovelace")
    assert browser.get(f"/photos/{case_a.intimate}/thumbnail").status_code == 200
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "dr.lovelace"))
        actor = actor_for(user)
        assert actor.access_until is not None
        media = consent_book(uow)
        from clinic.fhir.store import ResourceStore

        facts = (
            ResourceStore(uow.session, app.extensions["clinic.profiles"])
            .current("Media", case_a.intimate)
            .facts()
        )
        # The decision point itself refuses after the end, whatever the session says.
        assert decide(actor, Action.READ, "Media", facts, consents=media).permitted
        later = actor.access_until + timedelta(seconds=1)
        assert not decide(actor, Action.READ, "Media", facts, consents=media, at=later).permitted
        assert not decide(actor, Action.SEARCH, "Media", at=later).permitted
    set_access_until(app, "dr.lovelace", utcnow() - timedelta(seconds=1))
    assert browser.get(f"/photos/{case_a.intimate}/thumbnail").status_code == 302
    assert api(client, "GET", f"/fhir/Media/{case_a.intimate}", token).status_code == 401
    again = app.test_client()
    refused = login(again, "dr.lovelace", PASSWORD)
    assert refused.status_code == 401
    assert "not active" in refused.get_data(as_text=True)


def test_withdrawing_her_consent_item_stops_the_expert_at_once(app: Flask, case_a: Case) -> None:
    appoint(app, case_a.case_id)
    browser = signed_in(app, "dr.lovelace")
    assert browser.get(f"/photos/{case_a.intimate}/thumbnail").status_code == 200
    withdraw(app, case_a.case_id, case_a.consent_id, ("intimate-view-expert",))
    assert browser.get(f"/photos/{case_a.intimate}/thumbnail").status_code == 404
    assert open_photo(browser, case_a.intimate, "opinion") == 404
    assert case_a.intimate not in browser.get("/expert/photos").get_data(as_text=True)


def test_an_account_whose_name_her_consent_no_longer_carries_sees_nothing(
    app: Flask, case_a: Case
) -> None:
    """She withdraws and names someone else: the first expert's account, though
    still within its period, matches no one her consent names."""
    appoint(app, case_a.case_id)
    withdraw(app, case_a.case_id, case_a.consent_id)
    from tests.consent.helpers import all_items, record

    answers = all_items(app, "photo-documentation/v1")
    record(
        app,
        case_a.case_id,
        "photo-documentation/v1",
        answers,
        person_names={"intimate-view-expert": "Dr Mary Somerville"},
    )
    browser = signed_in(app, "dr.lovelace")
    assert browser.get(f"/photos/{case_a.intimate}/thumbnail").status_code == 404


def test_only_the_person_her_consent_names_gets_an_account(
    app: Flask, case_a: Case, engine: sa.Engine
) -> None:
    before = users(engine)
    with pytest.raises(services.ExpertRefused, match="not the person her photo consent names"):
        appoint(app, case_a.case_id, name="Dr Mary Somerville")
    with pytest.raises(services.ExpertRefused, match="not the person"):
        appoint(app, case_a.case_id, name="Lovelace")
    assert users(engine) == before
    # The same words, whatever the letter case and spacing.
    appoint(app, case_a.case_id, name="  dr ada   LOVELACE ")
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "dr.lovelace"))
        assert user.expert_consent_name == EXPERT
        assert user.role == "expert"
        assert user.expert_case_id == case_a.case_id


def test_no_account_without_her_permit_for_the_expert(app: Flask, engine: sa.Engine) -> None:
    case = open_case(app, "examiner")
    before = users(engine)
    with pytest.raises(services.ExpertRefused, match="names no medical expert"):
        appoint(app, case.id)
    record_photo_consent(app, case.id, intimate_view_expert=False)
    with pytest.raises(services.ExpertRefused, match="names no medical expert"):
        appoint(app, case.id)
    assert users(engine) == before


@pytest.mark.parametrize(
    ("days", "message"),
    [(-1, "today or later"), (91, "at most 90 days")],
)
def test_the_period_is_checked(
    app: Flask, case_a: Case, engine: sa.Engine, days: int, message: str
) -> None:
    before = users(engine)
    with pytest.raises(services.ExpertRefused, match=message):
        appoint(app, case_a.case_id, ends_on=utcnow().date() + timedelta(days=days))
    assert users(engine) == before


def test_only_an_examiner_of_her_site_opens_the_account(
    app: Flask, case_a: Case, engine: sa.Engine
) -> None:
    before = users(engine)
    with pytest.raises(services.CaseNotFound):
        appoint(app, case_a.case_id, by="examiner.south")
    for username, status in (
        ("examiner.south", 404),
        ("counsellor", 403),
        ("admin", 403),
        ("officer", 404),  # police: refusals look like absence
    ):
        browser = signed_in(app, username)
        token = csrf_token(browser, "/account/password")
        form = {
            "csrf_token": token,
            "display_name": EXPERT,
            "username": f"x.{username}",
            "password": PASSWORD,
            "ends_on": (utcnow().date() + timedelta(days=3)).isoformat(),
        }
        response = browser.post(f"/cases/{case_a.case_id}/expert", data=form)
        assert response.status_code == status, username
    assert users(engine) == before
    # Nor does an administrator make one from the users screen.
    admin = signed_in(app, "admin")
    page = admin.get("/admin/users/new").get_data(as_text=True)
    assert 'value="expert"' not in page


def test_the_examiner_opens_it_from_the_case_with_errors_next_to_the_fields(
    app: Flask, case_a: Case, engine: sa.Engine
) -> None:
    browser = signed_in(app, "examiner")
    assert f"/cases/{case_a.case_id}/expert" in browser.get(f"/cases/{case_a.case_id}").get_data(
        as_text=True
    )
    page = browser.get(f"/cases/{case_a.case_id}/expert").get_data(as_text=True)
    assert EXPERT in page
    token = csrf_token(browser, f"/cases/{case_a.case_id}/expert")
    form = {
        "csrf_token": token,
        "display_name": "Dr Someone",
        "username": "dr.someone",
        "password": PASSWORD,
        "ends_on": (utcnow().date() + timedelta(days=3)).isoformat(),
    }
    before = users(engine)
    refused = browser.post(f"/cases/{case_a.case_id}/expert", data=form)
    assert refused.status_code == 422
    assert 'id="display_name-error"' in refused.get_data(as_text=True)
    too_long = browser.post(
        f"/cases/{case_a.case_id}/expert",
        data=form | {"display_name": EXPERT, "ends_on": "2999-01-01"},
    )
    assert too_long.status_code == 422
    assert 'id="ends_on-error"' in too_long.get_data(as_text=True)
    assert users(engine) == before
    done = browser.post(f"/cases/{case_a.case_id}/expert", data=form | {"display_name": EXPERT})
    assert done.status_code == 302
    assert users(engine) == before + 1
    assert "dr.someone" in browser.get(f"/cases/{case_a.case_id}/expert").get_data(as_text=True)
    # The examiner chose the expert's password: the expert replaces it first.
    expert = signed_in(app, "dr.someone")
    assert expert.get("/expert/photos").headers["Location"] == "/account/password"
