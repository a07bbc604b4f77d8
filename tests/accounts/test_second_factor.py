"""The second factor as an attacker meets it: wrong, replayed, borrowed and used
codes, guessing, skipping the step, and resets that one administrator alone
cannot make."""

from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.roles import Role
from clinic.accounts.models import FactorReset, TotpFactor, User, UserSession
from tests.conftest import PASSWORD, World
from tests.helpers import csrf_token, factor_code, login, totp_code, totp_secret


def _password(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """The first step only; answers where it leads."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302
    return str(response.headers["Location"])


def _code(client: FlaskClient, code: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token})


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account/password").status_code == 200


def _recovery_codes(app: Flask, username: str) -> list[str]:
    from clinic.accounts.factors import enrol_known_secret
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        assert user is not None
        return enrol_known_secret(
            uow, user, secret=totp_secret(username), secret_key=app.config["SECRET_KEY"]
        )


def _new_user(app: Flask, username: str, role: Role, site: str, world: World) -> None:
    from clinic.accounts.services import create_user
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        create_user(
            uow,
            actor=None,
            username=username,
            display_name=username.title(),
            role=role,
            organization_id=world.organizations[site],
            password=PASSWORD,
        )


def test_the_password_alone_opens_nothing(client: FlaskClient, world: World) -> None:
    assert _password(client, "examiner") == "/login/code"
    for path in ("/", "/cases/", "/account/password", "/account/tokens", "/admin/users"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login"), path
    answer = client.post(
        "/account/sessions/end", data={"csrf_token": csrf_token(client, "/login/code")}
    )
    assert answer.headers["Location"].startswith("/login")
    # Nor does the API's bearer route change: the factor step is still waiting.
    assert client.get("/login/code").status_code == 200


def test_a_wrong_code_is_refused_and_the_right_one_opens(client: FlaskClient) -> None:
    _password(client, "examiner")
    wrong = _code(client, "123456")
    assert wrong.status_code == 401
    assert "The code is not right." in wrong.get_data(as_text=True)
    assert not _signed_in(client)
    right = _code(client, factor_code(client, "examiner"))
    assert right.status_code == 302
    assert _signed_in(client)


def test_a_code_is_good_for_one_sign_in_only(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    code, _step = totp_code(totp_secret("examiner"))
    _password(first, "examiner")
    assert _code(first, code).status_code == 302
    _password(second, "examiner")
    replayed = _code(second, code)
    assert replayed.status_code == 401
    assert not _signed_in(second)


def test_another_accounts_code_is_refused(client: FlaskClient) -> None:
    _password(client, "examiner")
    borrowed, _step = totp_code(totp_secret("counsellor"))
    assert _code(client, borrowed).status_code == 401
    assert not _signed_in(client)


def test_a_recovery_code_works_once(app: Flask) -> None:
    codes = _recovery_codes(app, "examiner")
    assert len(codes) == 10
    assert len(set(codes)) == 10
    first = app.test_client()
    _password(first, "examiner")
    assert _code(first, codes[0].upper()).status_code == 302  # as typed from paper
    again = app.test_client()
    _password(again, "examiner")
    assert _code(again, codes[0]).status_code == 401
    assert _code(again, codes[1]).status_code == 302


def test_guessing_codes_is_throttled_per_account_and_a_password_does_not_reset_it(
    app: Flask,
) -> None:
    client = app.test_client()
    _password(client, "examiner")
    for _ in range(app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]):
        assert _code(client, "000000").status_code == 401
    paused = _code(client, factor_code(client, "examiner"))
    assert paused.status_code == 429
    assert "Retry-After" in paused.headers
    # Typing the (known) password again clears the password's count, not the codes'.
    fresh = app.test_client()
    _password(fresh, "examiner")
    assert _code(fresh, factor_code(fresh, "examiner")).status_code == 429
    assert not _signed_in(fresh)


def test_the_step_lapses(app: Flask) -> None:
    client = app.test_client()
    _password(client, "examiner")
    with client.session_transaction() as cookie:
        pending = dict(cookie["factor_pending"])
        pending["at"] -= 301
        cookie["factor_pending"] = pending
    answer = client.get("/login/code")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login"


def test_a_new_account_enrols_before_anything_else(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    _new_user(app, "new.nurse", Role.EXAMINER, "NORTH", world)
    client = app.test_client()
    assert _password(client, "new.nurse") == "/login/code"
    assert client.get("/login/code").headers["Location"] == "/login/enrol"
    assert client.get("/cases/").headers["Location"].startswith("/login")
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page
    found = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert found
    secret = found.group(1).replace(" ", "")
    # Kept encrypted: the database never holds the key as it is.
    with engine.connect() as connection:
        stored = connection.scalar(sa.select(TotpFactor.secret_encrypted))
    assert stored is not None
    assert secret.encode() not in stored
    token = csrf_token(client, "/login/enrol")
    wrong = client.post("/login/enrol", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", done.get_data(as_text=True))
    assert len(shown) == 10
    assert _signed_in(client)
    # Never shown again.
    other = app.test_client()
    _password(other, "new.nurse")
    assert other.get("/login/enrol").headers["Location"] == "/login/code"
    assert secret not in other.get("/login/code").get_data(as_text=True)
    assert _code(other, shown[0]).status_code == 302


def test_confirming_needs_the_password_and_a_code(app: Flask, engine: sa.Engine) -> None:
    from datetime import timedelta

    from clinic.core.clock import utcnow

    client = app.test_client()
    login(client, "examiner", PASSWORD)
    with engine.begin() as connection:
        connection.execute(
            sa.update(UserSession).values(password_confirmed_at=utcnow() - timedelta(minutes=6))
        )
    token = csrf_token(client, "/account/confirm")
    no_code = client.post(
        "/account/confirm",
        data={"password": PASSWORD, "code": "000000", "csrf_token": token},
    )
    assert no_code.status_code == 401
    asked = client.post(
        "/account/tokens",
        data={"name": "x", "days": "1", "csrf_token": csrf_token(client, "/account/tokens")},
    )
    assert asked.headers["Location"].startswith("/account/confirm")  # still not confirmed
    both = client.post(
        "/account/confirm",
        data={"password": PASSWORD, "code": factor_code(client, "examiner"), "csrf_token": token},
    )
    assert both.status_code == 302


def _request_reset(admin: FlaskClient, username: str):  # type: ignore[no-untyped-def]
    return admin.post(
        "/account/factor-resets",
        data={
            "username": username,
            "reason": "Lost phone; identity checked in person by the ward manager",
            "csrf_token": csrf_token(admin, "/account/factor-resets"),
        },
    )


def _confirm(admin: FlaskClient, reset_id: str):  # type: ignore[no-untyped-def]
    return admin.post(
        f"/account/factor-resets/{reset_id}/confirm",
        data={"csrf_token": csrf_token(admin, "/account/factor-resets")},
    )


def test_a_lost_factor_is_reset_only_by_two_administrators(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    from clinic.accounts.factors import enrol_known_secret
    from clinic.cli import unit_of_work

    _new_user(app, "admin.two", Role.ADMIN, "NORTH", world)
    with app.app_context(), unit_of_work() as uow:
        second = uow.session.scalar(sa.select(User).where(User.username == "admin.two"))
        assert second is not None
        enrol_known_secret(
            uow, second, secret=totp_secret("admin.two"), secret_key=app.config["SECRET_KEY"]
        )
    counsellor = app.test_client()
    login(counsellor, "counsellor", PASSWORD)
    first_admin, second_admin = app.test_client(), app.test_client()
    login(first_admin, "admin", PASSWORD)
    login(second_admin, "admin.two", PASSWORD)

    # Never one's own.
    own = _request_reset(first_admin, "admin")
    assert own.status_code == 422
    assert "You cannot reset your own second factor" in own.get_data(as_text=True)

    assert _request_reset(first_admin, "counsellor").status_code == 302
    with engine.connect() as connection:
        reset_id = connection.scalar(sa.select(FactorReset.id))
    # The same administrator cannot confirm their own request.
    same = _confirm(first_admin, reset_id)
    assert same.status_code == 409
    assert _signed_in(counsellor)
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(TotpFactor)) == 11
    # Nor can a non-administrator.
    assert _confirm(counsellor, reset_id).status_code in (403, 404)

    assert _confirm(second_admin, reset_id).status_code == 302
    assert not _signed_in(counsellor)  # her sessions ended
    again = app.test_client()
    assert _password(again, "counsellor") == "/login/code"
    page = again.get("/login/enrol").get_data(as_text=True)
    assert "Two administrators reset your second factor" in page
    with engine.connect() as connection:
        row = connection.execute(sa.select(FactorReset)).one()
    assert row.requested_by != row.confirmed_by


def test_an_administrator_cannot_confirm_a_reset_of_their_own_factor(
    app: Flask, world: World, engine: sa.Engine
) -> None:
    from clinic.access import Actor
    from clinic.accounts.factors import confirm_reset, request_reset
    from clinic.accounts.services import AccountError, actor_for, create_user
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        second = create_user(
            uow,
            actor=None,
            username="admin.two",
            display_name="Admin Two",
            role=Role.ADMIN,
            organization_id=world.organizations["NORTH"],
            password=PASSWORD,
        )
        first = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        assert first is not None
        asking: Actor = actor_for(second)
        reset = request_reset(uow, actor=asking, username="admin", reason="lost phone, seen")
        with pytest.raises(AccountError, match="your own second factor"):
            confirm_reset(uow, reset.id, actor=actor_for(first))
