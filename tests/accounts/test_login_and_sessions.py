"""Logging in and out through the browser forms, as an attacker would probe them."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, World
from tests.helpers import api, csrf_token, login, second_step


def _body(response) -> str:  # type: ignore[no-untyped-def]
    # The per-session CSRF token differs on every page, and the form shows back the
    # name that was typed; everything else must be identical.
    body = re.sub(r'value="[^"]{40,}"', 'value="CSRF"', response.get_data(as_text=True))
    return re.sub(r'(id="username" [^>]*value=")[^"]*"', r'\1NAME"', body)


def test_login_and_logout(client: FlaskClient) -> None:
    response = login(client, "examiner", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_unknown_user_wrong_password_and_inactive_account_look_the_same(
    app: Flask, world: World
) -> None:
    answers = []
    for username, password in (
        ("nobody-at-all", PASSWORD),
        ("examiner", "wrong password entirely"),
        ("counsellor.south", PASSWORD),
    ):
        if username == "counsellor.south":
            _deactivate(app, username)
        client = app.test_client()
        response = login(client, username, password)
        answers.append((response.status_code, _body(response)))
    assert answers[0][0] == 401
    assert answers[0] == answers[1] == answers[2]


def _deactivate(app: Flask, username: str) -> None:
    from clinic.accounts.models import User
    from clinic.accounts.services import set_user_active
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        set_user_active(uow, user, actor=None, is_active=False)


def test_usernames_are_case_insensitive(client: FlaskClient) -> None:
    assert login(client, "  EXAMINER ", PASSWORD).status_code == 302


def test_login_needs_a_csrf_token(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "examiner", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_session_cookie_flags(client: FlaskClient) -> None:
    response = login(client, "examiner", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_cookies_are_secure(app_config) -> None:  # type: ignore[no-untyped-def]
    from clinic import create_app
    from clinic.core.db import db

    config = {k: v for k, v in app_config.items() if k != "SESSION_COOKIE_SECURE"}
    production = create_app(config)
    try:
        client = production.test_client()
        response = login(client, "examiner", PASSWORD)
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie
        # The __Host- prefix: Secure, this host only (no Domain), the whole site.
        assert cookie.startswith("__Host-clinic_session=")
        assert "Path=/;" in cookie or cookie.endswith("Path=/")
        assert "Domain" not in cookie
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        db.dispose(production)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
        "evil",
        "/%0D%0ASet-Cookie:%20x=1",
        "/cases%0d%0aLocation:%20https://evil.example/",
        "/%0A/evil.example/",
        "/%09/evil.example/",
        "/%5Cevil.example/",
        "/%5C%5Cevil.example/",
        "%2F%2Fevil.example/",
        "/%7F",
        "/%C2%85x",
        "https:/evil.example/",
        "/" + "a" * 5000,
    ],
)
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        f"/login?next={target}",
        data={"username": "examiner", "password": PASSWORD, "csrf_token": token},
    )
    response = second_step(client, "examiner", response)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # The sign-in page itself, asked with the same `next`, answers as usual.
    assert client.get(f"/login?next={target}").status_code in (200, 302)


def test_login_returns_to_a_local_page(client: FlaskClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/account/tokens",
        data={"username": "examiner", "password": PASSWORD, "csrf_token": token},
    )
    response = second_step(client, "examiner", response)
    assert response.headers["Location"] == "/account/tokens"


def test_login_starts_a_fresh_session(client: FlaskClient) -> None:
    client.get("/login")
    before = client.get_cookie("clinic_session")
    login(client, "examiner", PASSWORD)
    after = client.get_cookie("clinic_session")
    assert after is not None
    assert before is None or before.value != after.value


def test_deactivation_ends_sessions_and_tokens_at_once(app: Flask, world: World) -> None:
    browser = app.test_client()
    login(browser, "examiner", PASSWORD)
    assert browser.get("/").status_code == 200
    assert (
        api(app.test_client(), "GET", "/fhir/Patient", world["examiner"].token).status_code == 200
    )

    admin = app.test_client()
    login(admin, "admin", PASSWORD)
    response = admin.post(
        f"/admin/users/{world['examiner'].user_id}/active",
        data={"csrf_token": csrf_token(admin, "/admin/users")},
    )
    assert response.status_code == 302

    assert browser.get("/").status_code == 302
    assert (
        api(app.test_client(), "GET", "/fhir/Patient", world["examiner"].token).status_code == 401
    )
    assert login(app.test_client(), "examiner", PASSWORD).status_code == 401


def test_idle_sessions_expire(app: Flask) -> None:
    from datetime import timedelta

    client = app.test_client()
    login(client, "examiner", PASSWORD)
    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(seconds=-1)
    assert client.get("/").status_code == 302


def test_sessions_end_at_the_absolute_timeout_however_active(app: Flask, engine) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from clinic.accounts.models import UserSession
    from clinic.core.clock import utcnow

    client = app.test_client()
    login(client, "examiner", PASSWORD)
    assert client.get("/").status_code == 200  # active a moment ago
    with engine.begin() as connection:  # signed in 12 hours and a minute ago
        connection.execute(
            sa.update(UserSession).values(created_at=utcnow() - timedelta(hours=12, minutes=1))
        )
    assert client.get("/").status_code == 302


def test_admins_cannot_deactivate_themselves(app: Flask, world: World) -> None:
    client = app.test_client()
    login(client, "admin", PASSWORD)
    client.post(
        f"/admin/users/{world['admin'].user_id}/active",
        data={"csrf_token": csrf_token(client, "/admin/users")},
    )
    assert client.get("/admin/users").status_code == 200


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_admin_resets_a_forgotten_password_and_the_old_sessions_end(
    app: Flask, world: World
) -> None:
    person = app.test_client()
    login(person, "counsellor", PASSWORD)
    admin = app.test_client()
    login(admin, "admin", PASSWORD)
    page = f"/admin/users/{world['counsellor'].user_id}"
    short = admin.post(page, data={"new_password": "short", "csrf_token": csrf_token(admin, page)})
    assert short.status_code == 422
    done = admin.post(
        page,
        data={"new_password": "a brand new long phrase", "csrf_token": csrf_token(admin, page)},
    )
    assert done.status_code == 302
    assert person.get("/").status_code == 302
    assert login(app.test_client(), "counsellor", PASSWORD).status_code == 401
    assert login(app.test_client(), "counsellor", "a brand new long phrase").status_code == 302
