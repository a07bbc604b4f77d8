"""Passkeys in a real browser: Chromium's virtual authenticator (the DevTools
WebAuthn domain) stands in for the device. An administrator and a police officer
set one up at their first sign-in and sign in with it again; an examiner adds one
from her account page and signs in with it. Every button is pressed from the
keyboard. The server is reached at http://localhost (a secure context; an IP
address is never a valid RP ID). Passkeys are required for police and
administrators here, as in production."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from tests.browser.conftest import after_password, app_code, assert_accessible, unchecked
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "PASSKEY_REQUIRED_ROLES": ("police", "admin")}


@pytest.fixture
def localhost_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def virtual_authenticator(page) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    """A platform authenticator that verifies its user (a fingerprint, say)."""
    raw = unchecked(page)
    cdp = raw.context.new_cdp_session(raw)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(made["authenticatorId"])


def password_step(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")


def press(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Reach the button with the keyboard and press it."""
    button = page.get_by_role("button", name=name)
    button.focus()
    page.keyboard.press("Enter")


def signed_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_url(f"{base}/")
    page.get_by_role("button", name="Sign out").wait_for()


def sign_in_with_passkey(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    password_step(page, base, username)
    page.get_by_role("heading", name="Second step of signing in").wait_for()
    assert_accessible(page)
    press(page, "Use your passkey")
    signed_in(page, base)


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def passkeys_of(engine: sa.Engine, username: str) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        return [
            (row.name, row.sign_count)
            for row in connection.execute(
                sa.text(
                    "SELECT p.name, p.sign_count FROM passkeys p JOIN users u ON u.id = p.user_id "
                    "WHERE u.username = :username"
                ),
                {"username": username},
            )
        ]


@pytest.mark.parametrize("username", ["admin", "officer"])
def test_a_role_that_needs_a_passkey_sets_one_up_at_first_sign_in_and_signs_in_with_it(
    page, localhost_server: str, engine: sa.Engine, username: str
) -> None:  # type: ignore[no-untyped-def]
    base = localhost_server
    virtual_authenticator(page)
    password_step(page, base, username)
    page.get_by_role("heading", name="Set up your passkey").wait_for()
    assert_accessible(page)
    # Without a name the script says so and asks the device nothing.
    press(page, "Create your passkey")
    page.get_by_text("Give the passkey a name first.").wait_for()
    page.get_by_label("A name for this passkey (e.g. the device that keeps it)").fill("Laptop")
    # Her account has the app already: a password alone adds no passkey.
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        app_code(page, username)
    )
    press(page, "Create your passkey")
    signed_in(page, base)
    [(name, registered_count)] = passkeys_of(engine, username)
    assert name == "Laptop"

    sign_out(page)
    sign_in_with_passkey(page, base, username)
    assert passkeys_of(engine, username)[0][1] > registered_count  # the counter grew
    page.get_by_role("link", name="Passkeys").click()
    page.get_by_role("cell", name="Laptop", exact=True).wait_for()
    assert_accessible(page)


def test_an_examiner_adds_a_passkey_from_her_account_and_signs_in_with_it(
    page, localhost_server: str, engine: sa.Engine
) -> None:  # type: ignore[no-untyped-def]
    base = localhost_server
    cdp, authenticator = virtual_authenticator(page)
    password_step(page, base, "examiner")
    after_password(page, "examiner")
    signed_in(page, base)
    page.get_by_role("link", name="Passkeys").click()
    page.get_by_role("heading", name="Your passkeys").wait_for()
    assert_accessible(page)
    page.get_by_label("A name for this passkey (e.g. the device that keeps it)").fill("Tablet")
    press(page, "Add a passkey")
    page.get_by_text("Your passkey is added.").wait_for()
    page.get_by_role("cell", name="Tablet", exact=True).wait_for()
    assert_accessible(page)

    # The device fails to verify her: the page says so, in words, and nothing opens.
    sign_out(page)
    password_step(page, base, "examiner")
    page.get_by_role("heading", name="Second step of signing in").wait_for()
    cdp.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    press(page, "Use your passkey")
    page.get_by_text("The passkey was not used").wait_for()
    assert page.get_by_role("button", name="Use your passkey").is_enabled()
    assert_accessible(page)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": True})
    press(page, "Use your passkey")
    signed_in(page, base)
    assert passkeys_of(engine, "examiner")[0][0] == "Tablet"
