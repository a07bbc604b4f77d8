"""The password typed again before creating an API token, administering
accounts or approving a release to the police, when the one typed at sign-in is older than REAUTHENTICATE_AFTER: a
session left open on a shared tablet, or stolen, is not enough."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import ApiToken, UserSession
from tests.conftest import PASSWORD, World
from tests.helpers import csrf_token, factor_code, login


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def _age_sessions(engine: sa.Engine, by: timedelta) -> None:
    """Let `by` pass since the password was last typed."""
    from clinic.core.clock import utcnow

    with engine.begin() as connection:
        connection.execute(sa.update(UserSession).values(password_confirmed_at=utcnow() - by))


def _tokens(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(ApiToken)) or 0)


def _make_token(client: FlaskClient):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/account/tokens")
    return client.post("/account/tokens", data={"name": "laptop", "days": "7", "csrf_token": token})


def test_a_token_needs_the_password_typed_within_the_last_minutes(
    app: Flask, engine: sa.Engine
) -> None:
    client = _signed_in(app, "examiner")
    assert _make_token(client).status_code == 201  # just signed in
    before = _tokens(engine)
    _age_sessions(engine, timedelta(minutes=6))
    asked = _make_token(client)
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/account/confirm?next=/account/tokens"
    assert _tokens(engine) == before  # nothing made
    page = client.get(asked.headers["Location"])
    assert "need your password and a code" in page.get_data(as_text=True)
    token = csrf_token(client, "/account/confirm")
    wrong = client.post(
        "/account/confirm?next=/account/tokens",
        data={"password": "not my password", "code": "000000", "csrf_token": token},
    )
    assert wrong.status_code == 401
    assert "The password is not right." in wrong.get_data(as_text=True)
    right = client.post(
        "/account/confirm?next=/account/tokens",
        data={"password": PASSWORD, "code": factor_code(client, "examiner"), "csrf_token": token},
    )
    assert right.status_code == 302
    assert right.headers["Location"] == "/account/tokens"
    assert _make_token(client).status_code == 201
    assert _tokens(engine) == before + 1


def test_account_administration_needs_it_too(app: Flask, engine: sa.Engine, world: World) -> None:
    admin = _signed_in(app, "admin")
    _age_sessions(engine, timedelta(minutes=6))
    page = f"/admin/users/{world['counsellor'].user_id}"
    for path, data in (
        (f"{page}/active", {}),
        (page, {"new_password": "harbour violet anchor mosaic"}),
        ("/admin/users", {"username": "x.y.z", "display_name": "X", "role": "examiner"}),
    ):
        answer = admin.post(path, data={**data, "csrf_token": csrf_token(admin, "/admin/users")})
        assert answer.status_code == 302, path
        # Back to the page the action was posted from, once the password is typed.
        back = page if path.endswith("/active") else path
        assert answer.headers["Location"] == f"/account/confirm?next={back}", path
    # Nothing happened: the counsellor is active with her own password.
    assert login(app.test_client(), "counsellor", PASSWORD).status_code == 302
    # Reading is not an action: the list and the account still open.
    assert admin.get("/admin/users").status_code == 200
    assert admin.get(page).status_code == 200


def test_approving_a_release_needs_it_too(app: Flask, engine: sa.Engine) -> None:
    examiner = _signed_in(app, "examiner")
    _age_sessions(engine, timedelta(minutes=6))
    answer = examiner.post(
        "/releases/incoming/some-request/approve",
        data={"csrf_token": csrf_token(examiner, "/releases/incoming")},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/account/confirm?next=/releases/incoming/some-request"


def test_others_are_still_refused_as_before_not_asked_for_a_password(
    app: Flask, engine: sa.Engine
) -> None:
    officer = _signed_in(app, "officer")
    _age_sessions(engine, timedelta(minutes=6))
    answer = officer.post("/admin/users", data={"csrf_token": csrf_token(officer, "/")})
    assert answer.status_code == 404  # police refusals look like absence


def test_guessing_the_password_on_the_confirm_page_meets_the_back_off(
    app: Flask, engine: sa.Engine
) -> None:
    client = _signed_in(app, "examiner")
    token = csrf_token(client, "/account/confirm")
    for _ in range(app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]):
        answer = client.post(
            "/account/confirm", data={"password": "guess", "code": "000000", "csrf_token": token}
        )
        assert answer.status_code == 401
    paused = client.post(
        "/account/confirm",
        data={"password": PASSWORD, "code": factor_code(client, "examiner"), "csrf_token": token},
    )
    assert paused.status_code == 429
    assert "Retry-After" in paused.headers
