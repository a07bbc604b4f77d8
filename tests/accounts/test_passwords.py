"""Password rules and what a password change does, through the forms an attacker
or a careless person would use."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from tests.conftest import PASSWORD, World
from tests.helpers import csrf_token, login

GUESSABLE = ["password1234", "aaaaaaaaaaaa", "Password1234!", "qwertyuiop12", "iloveyou1234"]


def _change(client: FlaskClient, current: str, new: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/account/password")
    return client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "csrf_token": token},
    )


def _signed_in(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    signed_in = login(client, username, password)
    # Straight in, or (a new account) in after setting up the app, on its recovery codes.
    assert signed_in.status_code == 302 or "Your recovery codes" in signed_in.get_data(as_text=True)
    return client


@pytest.mark.parametrize("weak", [*GUESSABLE, "examiner-2026-xyz", "EXAMINER is great"])
def test_guessable_passwords_and_the_username_are_refused_with_a_reason(
    app: Flask, weak: str
) -> None:
    client = _signed_in(app, "examiner")
    refused = _change(client, PASSWORD, weak)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "too easy to guess" in page or "must not contain the username" in page
    # Nothing changed: the old password still signs in, the weak one does not.
    assert login(app.test_client(), "examiner", weak).status_code == 401
    assert login(app.test_client(), "examiner", PASSWORD).status_code == 302


def test_the_current_password_is_refused_as_the_new_one(app: Flask) -> None:
    client = _signed_in(app, "examiner")
    refused = _change(client, PASSWORD, PASSWORD)
    assert refused.status_code == 422
    assert "other than the current one" in refused.get_data(as_text=True)


def test_a_strong_passphrase_is_taken(app: Flask) -> None:
    client = _signed_in(app, "examiner")
    assert _change(client, PASSWORD, "lantern orchard velvet quarry").status_code == 302
    assert login(app.test_client(), "examiner", "lantern orchard velvet quarry").status_code == 302


def test_a_password_change_ends_every_other_session_of_that_person(app: Flask) -> None:
    here = _signed_in(app, "examiner")
    elsewhere = _signed_in(app, "examiner")
    someone_else = _signed_in(app, "counsellor")
    assert _change(here, PASSWORD, "lantern orchard velvet quarry").status_code == 302
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302  # sent to sign in
    assert someone_else.get("/").status_code == 200


def test_sign_out_everywhere_ends_every_session_this_one_included(app: Flask) -> None:
    here = _signed_in(app, "examiner")
    elsewhere = _signed_in(app, "examiner")
    page = here.get("/account/password").get_data(as_text=True)
    assert "You are signed in on 2 browsers" in page
    token = csrf_token(here, "/account/password")
    ended = here.post("/account/sessions/end", data={"csrf_token": token})
    assert ended.status_code == 302
    assert ended.headers["Location"] == "/login"
    assert here.get("/").status_code == 302
    assert elsewhere.get("/").status_code == 302
    # Without the CSRF token, a forged post ends nothing.
    victim = _signed_in(app, "examiner")
    assert victim.post("/account/sessions/end").status_code == 400
    assert victim.get("/").status_code == 200


def _admin_creates(app: Flask, world: World, password: str):  # type: ignore[no-untyped-def]
    admin = _signed_in(app, "admin")
    return admin.post(
        "/admin/users",
        data={
            "username": "new.nurse",
            "display_name": "New Nurse",
            "role": "examiner",
            "organization_id": world.organizations["NORTH"],
            "password": password,
            "csrf_token": csrf_token(admin, "/admin/users"),
        },
    )


@pytest.mark.parametrize("weak", [*GUESSABLE, "new.nurse.2026!!"])
def test_an_administrator_cannot_give_a_guessable_password(
    app: Flask, world: World, weak: str
) -> None:
    refused = _admin_creates(app, world, weak)
    assert refused.status_code == 422
    with app.app_context():
        from clinic.core.db import db

        assert db.session.scalar(sa.select(User).where(User.username == "new.nurse")) is None


def test_a_password_an_administrator_chose_is_changed_before_anything_else(
    app: Flask, world: World
) -> None:
    given = "harbour violet anchor mosaic"
    assert _admin_creates(app, world, given).status_code == 302
    nurse = _signed_in(app, "new.nurse", given)
    for path in ("/", "/cases/", "/account/tokens", "/releases/incoming"):
        answer = nurse.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"] == "/account/password", path
    # A post elsewhere does nothing either (a token made would outlive the rule).
    token = csrf_token(nurse, "/account/password")
    made = nurse.post("/account/tokens", data={"name": "x", "days": "7", "csrf_token": token})
    assert made.headers["Location"] == "/account/password"
    page = nurse.get("/account/password")
    assert page.status_code == 200
    assert "An administrator chose your present password" in page.get_data(as_text=True)
    assert _change(nurse, given, "lantern orchard velvet quarry").status_code == 302
    assert nurse.get("/").status_code == 200


def test_a_reset_password_is_changed_at_the_next_sign_in(app: Flask, world: World) -> None:
    admin = _signed_in(app, "admin")
    page = f"/admin/users/{world['counsellor'].user_id}"
    for weak in GUESSABLE:
        answer = admin.post(
            page, data={"new_password": weak, "csrf_token": csrf_token(admin, page)}
        )
        assert answer.status_code == 422, weak
    reset = admin.post(
        page,
        data={
            "new_password": "harbour violet anchor mosaic",
            "csrf_token": csrf_token(admin, page),
        },
    )
    assert reset.status_code == 302
    person = _signed_in(app, "counsellor", "harbour violet anchor mosaic")
    assert person.get("/").headers["Location"] == "/account/password"


def test_demo_and_test_passwords_pass_the_rules() -> None:
    from clinic.accounts.passwords import check_password
    from clinic.demo import _new_password

    check_password(PASSWORD, username="examiner")
    for _ in range(50):
        check_password(_new_password(), username="examiner")
