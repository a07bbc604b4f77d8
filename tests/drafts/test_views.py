"""A step posted after the session timed out is kept for the examiner whose session
it was, and given back to her, once, in the same form after she signs in again.
Through the Flask test client, on a real database."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from io import BytesIO

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.roles import Role
from tests.conftest import PASSWORD, World
from tests.drafts.helpers import age_sessions, draft_rows, expire_sessions
from tests.exam.helpers import read, start
from tests.helpers import csrf_token, login, open_case, second_step, session_opened

NARRATIVE = "He held my wrists and I could not get up."


@pytest.fixture
def exam_path(app: Flask) -> str:
    return f"/exams/{start(app, open_case(app, 'examiner').id)}/history"


def restored_fields(page: str) -> list[list[str]] | None:
    match = re.search(r"data-fields='([^']*)'", page)
    return json.loads(unescape(match.group(1))) if match else None


def post_after_expiry(app: Flask, client: FlaskClient, path: str, **fields: str):  # type: ignore[no-untyped-def]
    """Open the page signed in, let the session time out, then press Save."""
    token = csrf_token(client, path)
    expire_sessions(app, "examiner")
    return client.post(path, data={"csrf_token": token, **fields})


def test_a_step_posted_after_the_timeout_comes_back_in_its_form_after_sign_in(
    app: Flask, client: FlaskClient, engine: sa.Engine, exam_path: str
) -> None:
    login(client, "examiner", PASSWORD)
    response = post_after_expiry(
        app, client, exam_path, narrative=NARRATIVE, **{"act_oral-penetration": "no"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={exam_path}"
    assert draft_rows(engine) == [("examiner", exam_path)]
    sign_in_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "What you typed is kept for you" in sign_in_page

    token = csrf_token(client, "/login")
    back = second_step(
        client,
        "examiner",
        client.post(
            response.headers["Location"],
            data={"username": "examiner", "password": PASSWORD, "csrf_token": token},
        ),
    )
    assert back.headers["Location"] == exam_path
    page = client.get(exam_path).get_data(as_text=True)
    assert restored_fields(page) == [["narrative", NARRATIVE], ["act_oral-penetration", "no"]]
    assert "It is not saved yet" in page
    # Restored once, then gone; and nothing was saved to her record by itself.
    assert draft_rows(engine) == []
    assert restored_fields(client.get(exam_path).get_data(as_text=True)) is None
    assert read(app, exam_path.split("/")[2]).text("history") == ""


def test_another_user_signing_in_on_the_same_tablet_never_sees_it(
    app: Flask, client: FlaskClient, engine: sa.Engine, world: World, exam_path: str
) -> None:
    from clinic.accounts.services import create_user
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        create_user(
            uow,
            actor=None,
            username="examiner.two",
            display_name="Second Examiner",
            role=Role.EXAMINER,
            organization_id=world.organizations["NORTH"],
            password=PASSWORD,
        )
    login(client, "examiner", PASSWORD)
    post_after_expiry(app, client, exam_path, narrative=NARRATIVE)

    # A colleague of the same site, who may open the same exam, on the same browser.
    assert session_opened(login(client, "examiner.two", PASSWORD))
    page = client.get(exam_path)
    assert page.status_code == 200
    assert NARRATIVE not in page.get_data(as_text=True)
    assert restored_fields(page.get_data(as_text=True)) is None
    assert draft_rows(engine) == [("examiner", exam_path)]  # still hers alone

    # Her own next sign-in gets it.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "examiner", PASSWORD)
    assert NARRATIVE in unescape(client.get(exam_path).get_data(as_text=True))


def test_a_forged_post_without_a_valid_csrf_token_keeps_nothing(
    app: Flask, client: FlaskClient, engine: sa.Engine, exam_path: str
) -> None:
    login(client, "examiner", PASSWORD)
    client.get(exam_path)
    expire_sessions(app, "examiner")
    assert client.post(exam_path, data={"narrative": NARRATIVE}).status_code == 400
    forged = {"narrative": NARRATIVE, "csrf_token": "forged"}
    assert client.post(exam_path, data=forged).status_code == 400
    assert draft_rows(engine) == []


def test_a_post_whose_session_is_unknown_or_was_signed_out_keeps_nothing(
    app: Flask, client: FlaskClient, engine: sa.Engine, exam_path: str
) -> None:
    # No session at all: a sign-in page's token, then a post to the exam.
    token = csrf_token(client, "/login")
    assert (
        client.post(exam_path, data={"csrf_token": token, "narrative": NARRATIVE}).status_code
        == 302
    )
    # A cookie naming a session the server never had.
    with client.session_transaction() as cookie:
        cookie["sid"] = "made-up"
    assert (
        client.post(exam_path, data={"csrf_token": token, "narrative": NARRATIVE}).status_code
        == 302
    )
    with client.session_transaction() as cookie:
        cookie["ended_sid"] = "made-up-too"
    assert (
        client.post(exam_path, data={"csrf_token": token, "narrative": NARRATIVE}).status_code
        == 302
    )
    # A session that was signed out (not timed out), even with its id still in the cookie.
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, exam_path)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE user_sessions SET ended_at = last_seen_at, end_reason = 'logout'"
        )
    assert (
        client.post(exam_path, data={"csrf_token": token, "narrative": NARRATIVE}).status_code
        == 302
    )
    assert draft_rows(engine) == []


def test_a_post_to_an_action_that_has_no_form_page_keeps_nothing(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app, "examiner")
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, f"/cases/{case.id}")
    expire_sessions(app, "examiner")
    response = client.post(f"/cases/{case.id}/exams", data={"csrf_token": token, "note": "x"})
    assert response.status_code == 302
    assert draft_rows(engine) == []


def test_passwords_and_files_are_never_kept(
    app: Flask, client: FlaskClient, engine: sa.Engine, exam_path: str
) -> None:
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, "/account/password")
    expire_sessions(app, "examiner")
    changed = {"current_password": PASSWORD, "new_password": "a brand new long secret"}
    assert (
        client.post("/account/password", data={"csrf_token": token, **changed}).status_code == 302
    )
    assert draft_rows(engine) == []  # nothing but passwords: nothing kept

    login(client, "examiner", PASSWORD)
    token = csrf_token(client, exam_path)
    expire_sessions(app, "examiner")
    response = client.post(
        exam_path,
        data={
            "csrf_token": token,
            "narrative": NARRATIVE,
            "password": PASSWORD,
            "photo": (BytesIO(b"\x89PNG private picture"), "wound.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with engine.connect() as connection:
        sealed = bytes(connection.exec_driver_sql("SELECT sealed FROM saved_drafts").scalar_one())
    assert NARRATIVE.encode() not in sealed  # encrypted at rest
    login(client, "examiner", PASSWORD)
    assert restored_fields(client.get(exam_path).get_data(as_text=True)) == [
        ["narrative", NARRATIVE]
    ]


def test_a_post_too_large_to_keep_is_refused_cleanly(
    app: Flask, client: FlaskClient, engine: sa.Engine, exam_path: str
) -> None:
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, exam_path)
    expire_sessions(app, "examiner")
    # Larger than any request the server accepts: 413, never a 500.
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(exam_path, data={"csrf_token": token, "narrative": huge})
    assert response.status_code == 413
    # Accepted as a request, but larger than a draft may be: not kept, and she is told.
    app.config["DRAFT_MAX_BYTES"] = 1000
    response = client.post(exam_path, data={"csrf_token": token, "narrative": "y" * 2000})
    assert response.status_code == 302
    assert "could not be kept" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert draft_rows(engine) == []


def test_the_session_status_counts_down_without_extending_and_stay_signed_in_extends(
    app: Flask, client: FlaskClient
) -> None:
    idle = int(app.config["SESSION_IDLE_TIMEOUT"].total_seconds())
    # Not signed in: nothing would be kept.
    assert client.get("/session").get_json() == {"seconds_left": 0, "kept_if_saved": False}
    login(client, "examiner", PASSWORD)
    assert idle - 5 <= client.get("/session").get_json()["seconds_left"] <= idle
    age_sessions(app, "examiner", timedelta(minutes=10))
    for _ in range(2):  # asking does not count as activity
        left = client.get("/session").get_json()["seconds_left"]
        assert idle - 600 - 5 <= left <= idle - 600
    assert client.post("/session/extend").status_code == 400  # no CSRF token
    token = csrf_token(client, "/account/password")
    age_sessions(app, "examiner", timedelta(minutes=10))
    extended = client.post("/session/extend", data={"csrf_token": token}).get_json()
    assert idle - 5 <= extended["seconds_left"] <= idle
    assert idle - 5 <= client.get("/session").get_json()["seconds_left"] <= idle

    expire_sessions(app, "examiner")
    timed_out = {"seconds_left": 0, "kept_if_saved": True}
    assert client.get("/session").get_json() == timed_out
    assert client.post("/session/extend", data={"csrf_token": token}).get_json() == timed_out
    assert client.get("/").status_code == 302  # extending an ended session does not revive it
    assert client.get("/session").get_json() == timed_out

    # Signed out in another tab: the page must not promise to keep anything.
    login(client, "examiner", PASSWORD)
    assert client.get("/session").get_json()["kept_if_saved"] is True
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/session").get_json() == {"seconds_left": 0, "kept_if_saved": False}


def test_a_kit_of_more_rows_than_the_form_starts_with_comes_back_whole(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    login(client, "examiner", PASSWORD)
    rows = {f"items-{n}-item_name": f"Swab {n + 1}" for n in range(9)}
    response = post_after_expiry(
        app, client, "/evidence/collect", kit_name="Kit", **rows, **{"items-8-kind": "swab"}
    )
    assert response.status_code == 302
    token = csrf_token(client, "/login")
    second_step(
        client,
        "examiner",
        client.post(
            response.headers["Location"],
            data={"username": "examiner", "password": PASSWORD, "csrf_token": token},
        ),
    )
    page = client.get("/evidence/collect").get_data(as_text=True)
    assert ["items-8-item_name", "Swab 9"] in (restored_fields(page) or [])
    # The form has a row for each one she typed, so none is dropped on the way back.
    assert 'name="items-8-item_name"' in page
    assert 'name="items-9-item_name"' not in page
