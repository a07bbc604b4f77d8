"""Passkeys as an attacker meets them, with a software authenticator making real
answers (EC P-256, CBOR, attestation "none"): the wrong site, a replayed, expired
or borrowed challenge, another person's or a removed key, a cloned authenticator,
no user verification, codes where a passkey is required, unreadable answers; and
the way through for administrators, police and examiners. The requirement for
police and administrators is ON here (its default)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from clinic.accounts.models import Passkey, PasskeyChallenge, User
from clinic.audit.models import AuditEntry
from clinic.core.clock import utcnow
from tests.conftest import PASSWORD, World
from tests.helpers import csrf_token, factor_code, login
from tests.soft_authenticator import SoftAuthenticator, page_options


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "PASSKEY_REQUIRED_ROLES": ("police", "admin")}


def _password(client: FlaskClient, username: str) -> str:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return str(response.headers["Location"])


def _page(client: FlaskClient, path: str) -> tuple[dict[str, Any], str]:
    """The passkey options and the CSRF token of one showing of `path` (each
    showing issues a new challenge)."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    text = page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
    assert token
    return page_options(text), token.group(1)


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account/password").status_code == 200


def _enrol_at_sign_in(
    client: FlaskClient,
    username: str,
    device: SoftAuthenticator,
    *,
    with_code: bool = True,
    **bend: Any,
) -> TestResponse:
    assert _password(client, username) == "/login/code"
    assert client.get("/login/code").headers["Location"] == "/login/passkey/enrol"
    options, token = _page(client, "/login/passkey/enrol")
    data = {"name": "Work laptop", "credential": device.create(options, **bend)}
    if with_code:  # the World's people have the app set up
        data["code"] = factor_code(client, username)
    return client.post("/login/passkey/enrol", data={**data, "csrf_token": token})


def _sign_in(
    client: FlaskClient, username: str, device: SoftAuthenticator, **bend: Any
) -> TestResponse:
    assert _password(client, username) == "/login/code"
    options, token = _page(client, "/login/code")
    return client.post(
        "/login/passkey", data={"credential": device.get(options, **bend), "csrf_token": token}
    )


def _add(client: FlaskClient, device: SoftAuthenticator, name: str = "Phone") -> TestResponse:
    options, token = _page(client, "/account/passkeys")
    return client.post(
        "/account/passkeys",
        data={"name": name, "credential": device.create(options), "csrf_token": token},
    )


def _enrolled(app: Flask, username: str) -> SoftAuthenticator:
    device = SoftAuthenticator()
    assert _enrol_at_sign_in(app.test_client(), username, device).status_code == 302
    return device


def _keys(engine: sa.Engine, username: str) -> list[Passkey]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return list(
            session.scalars(
                sa.select(Passkey)
                .join(User, User.id == Passkey.user_id)
                .where(User.username == username)
                .order_by(Passkey.created_at)
            )
        )


def _audit(engine: sa.Engine, username: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row.outcome, row.outcome_desc or "")
            for row in connection.execute(
                sa.select(AuditEntry.outcome, AuditEntry.outcome_desc)
                .where(AuditEntry.username == username)
                .order_by(AuditEntry.id)
            )
        ]


# -- the way through ---------------------------------------------------------------


def test_an_administrator_sets_up_a_passkey_at_first_sign_in_then_signs_in_with_it(
    app: Flask, engine: sa.Engine
) -> None:
    device = SoftAuthenticator()
    first = app.test_client()
    enrolled = _enrol_at_sign_in(first, "admin", device)
    assert enrolled.status_code == 302
    assert _signed_in(first)
    [key] = _keys(engine, "admin")
    assert key.name == "Work laptop"
    assert key.last_used_at is None
    assert key.transports == "internal"

    again = app.test_client()
    _password(again, "admin")
    page = again.get("/login/code").get_data(as_text=True)
    assert "Use your passkey" in page
    assert 'name="code"' not in page
    response = _sign_in(app.test_client(), "admin", device)
    assert response.status_code == 302
    [key] = _keys(engine, "admin")
    assert key.sign_count == 1
    assert key.last_used_at is not None
    entries = [desc for _, desc in _audit(engine, "admin")]
    assert any(desc.startswith("passkey enrolled") for desc in entries)
    assert "sign-in: second factor by passkey" in entries


def test_police_reach_nothing_before_a_passkey_and_their_codes_open_nothing(
    app: Flask, engine: sa.Engine
) -> None:
    client = app.test_client()
    assert _password(client, "officer") == "/login/code"
    for path in ("/login/code", "/login/enrol"):
        assert client.get(path, follow_redirects=True).request.path == "/login/passkey/enrol"
    for path in ("/", "/account/passkeys", "/account/password", "/account/confirm"):
        assert client.get(path).headers["Location"].startswith("/login"), path
    # The app's right code does not open a session, before or after the passkey.
    token = csrf_token(client, "/login/passkey/enrol")
    code = factor_code(client, "officer")
    answer = client.post("/login/code", data={"code": code, "csrf_token": token})
    assert answer.headers["Location"] == "/login/passkey/enrol"
    assert not _signed_in(client)

    device = _enrolled(app, "officer")
    later = app.test_client()
    _password(later, "officer")
    page = later.get("/login/code").get_data(as_text=True)
    assert "Use your passkey" in page
    assert 'name="code"' not in page
    refused = later.post(
        "/login/code",
        data={
            "code": factor_code(later, "officer"),
            "csrf_token": csrf_token(later, "/login/code"),
        },
    )
    assert refused.status_code == 401
    assert "Your role signs in with a passkey" in refused.get_data(as_text=True)
    assert not _signed_in(later)
    assert any("where a passkey is required" in d for _, d in _audit(engine, "officer"))
    assert _sign_in(app.test_client(), "officer", device).status_code == 302


def test_a_password_alone_never_adds_a_passkey_to_an_account_with_the_app(
    app: Flask, engine: sa.Engine
) -> None:
    """An officer who has the app (as every account had before passkeys were
    required): someone holding only her password cannot enrol a key of their own."""
    for code in (None, "", "000000", "abcde-fghij"):
        client = app.test_client()
        assert _password(client, "officer") == "/login/code"
        options, token = _page(client, "/login/passkey/enrol")
        data = {"name": "Attacker's key", "credential": SoftAuthenticator().create(options)}
        if code is not None:
            data["code"] = code
        answer = client.post("/login/passkey/enrol", data={**data, "csrf_token": token})
        assert answer.status_code == 401, code
        assert "give a code from it too" in answer.get_data(as_text=True)
        assert not _signed_in(client)
    assert _keys(engine, "officer") == []
    # With her code, she sets her own passkey up.
    device = SoftAuthenticator()
    assert _enrol_at_sign_in(app.test_client(), "officer", device).status_code == 302
    assert len(_keys(engine, "officer")) == 1


def test_an_examiner_adds_a_passkey_and_signs_in_with_it_instead_of_a_code(
    app: Flask, engine: sa.Engine
) -> None:
    client = app.test_client()
    assert login(client, "examiner", PASSWORD).status_code == 302
    device = SoftAuthenticator()
    assert _add(client, device, "Tablet").status_code == 302
    listing = client.get("/account/passkeys").get_data(as_text=True)
    assert "Tablet" in listing
    assert "never" in listing

    other = app.test_client()
    _password(other, "examiner")
    page = other.get("/login/code").get_data(as_text=True)
    assert "Use your passkey" in page
    assert 'name="code"' in page
    assert _sign_in(app.test_client(), "examiner", device).status_code == 302
    # Her code still works too: a passkey is offered to her, not required.
    assert login(app.test_client(), "examiner", PASSWORD).status_code == 302


def test_the_test_helper_signs_in_police_and_administrators_with_a_passkey(
    app: Flask, engine: sa.Engine
) -> None:
    for username in ("admin", "officer"):
        for _ in range(2):  # set up at the first sign-in, used at the second
            client = app.test_client()
            assert login(client, username, PASSWORD).status_code == 302
            assert _signed_in(client)
        assert [(key.name, key.sign_count) for key in _keys(engine, username)] == [("Tests", 1)]


def test_adding_a_passkey_asks_for_the_password_again_after_a_while(
    app: Flask, engine: sa.Engine
) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    app.config["REAUTHENTICATE_AFTER"] = timedelta(seconds=0)
    answer = _add(client, SoftAuthenticator())
    assert answer.headers["Location"].startswith("/account/confirm")
    assert _keys(engine, "examiner") == []


# -- the wrong site, the wrong challenge, the wrong key -----------------------------


@pytest.mark.parametrize(
    "bend",
    [
        {"origin": "https://clinic.example.org.evil.example"},
        {"origin": "http://localhost:8443"},
        {"rp_id": "evil.example"},
        {"verified": False},  # the device did not check who holds it
    ],
)
def test_an_answer_for_another_site_or_without_user_verification_opens_nothing(
    app: Flask, engine: sa.Engine, bend: dict[str, Any]
) -> None:
    device = _enrolled(app, "admin")
    client = app.test_client()
    assert _sign_in(client, "admin", device, **bend).status_code == 401
    assert not _signed_in(client)
    # Nor is a passkey made for another site (or unverified) registered.
    officer = app.test_client()
    assert _enrol_at_sign_in(officer, "officer", SoftAuthenticator(), **bend).status_code == 401
    assert _keys(engine, "officer") == []
    assert not _signed_in(officer)


def test_a_challenge_is_good_once(app: Flask) -> None:
    device = _enrolled(app, "admin")
    client = app.test_client()
    _password(client, "admin")
    options, token = _page(client, "/login/code")
    # A refused answer uses the challenge up: a right one for it then fails.
    wrong = device.get(options, verified=False)
    assert (
        client.post("/login/passkey", data={"credential": wrong, "csrf_token": token}).status_code
        == 401
    )
    right = device.get(options)
    assert (
        client.post("/login/passkey", data={"credential": right, "csrf_token": token}).status_code
        == 401
    )
    assert not _signed_in(client)

    # An answer that opened a session, replayed in another sign-in, opens nothing.
    first = app.test_client()
    _password(first, "admin")
    options, token = _page(first, "/login/code")
    answer = device.get(options)
    assert (
        first.post("/login/passkey", data={"credential": answer, "csrf_token": token}).status_code
        == 302
    )
    thief = app.test_client()
    _password(thief, "admin")
    _, token = _page(thief, "/login/code")
    assert (
        thief.post("/login/passkey", data={"credential": answer, "csrf_token": token}).status_code
        == 401
    )
    assert not _signed_in(thief)


def test_an_expired_challenge_is_refused(app: Flask, engine: sa.Engine) -> None:
    device = _enrolled(app, "admin")
    client = app.test_client()
    _password(client, "admin")
    options, token = _page(client, "/login/code")
    lifetime = app.config["PASSKEY_CHALLENGE_SECONDS"]
    with engine.begin() as connection:
        connection.execute(
            sa.update(PasskeyChallenge).values(
                created_at=utcnow() - timedelta(seconds=lifetime + 1)
            )
        )
    answer = client.post(
        "/login/passkey", data={"credential": device.get(options), "csrf_token": token}
    )
    assert answer.status_code == 401
    assert not _signed_in(client)


def test_another_accounts_key_or_challenge_opens_nothing(app: Flask, engine: sa.Engine) -> None:
    admin_device = _enrolled(app, "admin")
    examiner = app.test_client()
    login(examiner, "examiner", PASSWORD)
    examiner_device = SoftAuthenticator()
    assert _add(examiner, examiner_device).status_code == 302
    [examiner_key] = _keys(engine, "examiner")

    # The examiner's own key, answering the administrator's challenge.
    client = app.test_client()
    _password(client, "admin")
    options, token = _page(client, "/login/code")
    borrowed = examiner_device.get(options, credential_id=examiner_key.credential_id)
    assert (
        client.post(
            "/login/passkey", data={"credential": borrowed, "csrf_token": token}
        ).status_code
        == 401
    )
    assert not _signed_in(client)

    # The administrator's key over a challenge issued to the examiner's sign-in.
    hers = app.test_client()
    _password(hers, "examiner")
    examiner_options, _ = _page(hers, "/login/code")
    mine = app.test_client()
    _password(mine, "admin")
    options, token = _page(mine, "/login/code")
    crossed = admin_device.get(options, challenge=examiner_options["challenge"])
    assert (
        mine.post("/login/passkey", data={"credential": crossed, "csrf_token": token}).status_code
        == 401
    )
    assert not _signed_in(mine)


def test_a_removed_passkey_opens_nothing(app: Flask, engine: sa.Engine) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    kept, removed = SoftAuthenticator(), SoftAuthenticator()
    assert _add(client, kept, "Kept").status_code == 302
    assert _add(client, removed, "Lost").status_code == 302
    lost = next(key for key in _keys(engine, "examiner") if key.name == "Lost")
    token = csrf_token(client, "/account/passkeys")
    answer = client.post(f"/account/passkeys/{lost.id}/remove", data={"csrf_token": token})
    assert answer.status_code == 302
    assert [key.name for key in _keys(engine, "examiner")] == ["Kept"]
    assert (
        _sign_in(
            app.test_client(), "examiner", removed, credential_id=lost.credential_id
        ).status_code
        == 401
    )
    assert _sign_in(app.test_client(), "examiner", kept).status_code == 302
    assert any(d.startswith("passkey removed") for _, d in _audit(engine, "examiner"))


def test_a_counter_going_backwards_is_a_cloned_authenticator(app: Flask, engine: sa.Engine) -> None:
    device = _enrolled(app, "admin")
    assert _sign_in(app.test_client(), "admin", device, sign_count=7).status_code == 302
    clone = app.test_client()
    assert _sign_in(clone, "admin", device, sign_count=7).status_code == 401
    assert _sign_in(clone, "admin", device, sign_count=3).status_code == 401
    assert not _signed_in(clone)
    assert _keys(engine, "admin")[0].sign_count == 7
    refusals = [d for outcome, d in _audit(engine, "admin") if "passkey (" in d]
    assert any("sign count" in d.lower() for d in refusals), refusals


def test_the_passkey_step_without_the_password_opens_nothing(app: Flask) -> None:
    device = _enrolled(app, "admin")
    stranger = app.test_client()
    options = {"challenge": "AAAA", "allowCredentials": []}
    credential_id = next(iter(device.credentials))
    answer = device.get(options, credential_id=credential_id)
    token = csrf_token(stranger, "/login")
    response = stranger.post("/login/passkey", data={"credential": answer, "csrf_token": token})
    assert response.headers["Location"].startswith("/login")
    assert stranger.get("/login/passkey/enrol").headers["Location"].startswith("/login")
    assert not _signed_in(stranger)


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "not json",
        "[]",
        "{}",
        '{"id": "@@", "rawId": "@@", "type": "public-key", "response": {"clientDataJSON": "@@",'
        ' "authenticatorData": "@@", "signature": "@@", "attestationObject": "@@"}}',
        '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "AA",'
        ' "authenticatorData": "AA", "signature": "AA", "attestationObject": "AA"}}',
        "{" * 20000,
        "[" * 5000,  # short enough to be parsed, deeper than the parser goes
    ],
)
def test_an_unreadable_answer_is_400_and_changes_nothing(
    app: Flask, engine: sa.Engine, credential: str
) -> None:
    _enrolled(app, "admin")
    client = app.test_client()
    _password(client, "admin")
    token = csrf_token(client, "/login/code")
    answer = client.post("/login/passkey", data={"credential": credential, "csrf_token": token})
    assert answer.status_code in (400, 401), answer.status_code
    assert not _signed_in(client)

    officer = app.test_client()
    _password(officer, "officer")
    token = csrf_token(officer, "/login/passkey/enrol")
    data = {"name": "Key", "credential": credential, "csrf_token": token}
    assert officer.post("/login/passkey/enrol", data=data).status_code in (400, 401)

    examiner = app.test_client()
    login(examiner, "examiner", PASSWORD)
    token = csrf_token(examiner, "/account/passkeys")
    data = {"name": "Key", "credential": credential, "csrf_token": token}
    assert examiner.post("/account/passkeys", data=data).status_code in (400, 401, 422)
    confirm = {"password": PASSWORD, "credential": credential, "csrf_token": token}
    assert examiner.post("/account/confirm", data=confirm).status_code in (400, 401)
    assert _keys(engine, "officer") == []
    assert _keys(engine, "examiner") == []


def test_malformed_json_and_base64_are_400(app: Flask) -> None:
    _enrolled(app, "admin")
    for credential in ("not json", "{}", '{"id": "@@", "rawId": "@@"}'):
        client = app.test_client()
        _password(client, "admin")
        token = csrf_token(client, "/login/code")
        answer = client.post("/login/passkey", data={"credential": credential, "csrf_token": token})
        assert answer.status_code == 400, credential
        assert "could not be read" in answer.get_data(as_text=True)


# -- keeping, removing, resetting ---------------------------------------------------


def test_the_last_passkey_of_an_administrator_cannot_be_removed(
    app: Flask, engine: sa.Engine
) -> None:
    device = SoftAuthenticator()
    client = app.test_client()
    assert _enrol_at_sign_in(client, "admin", device).status_code == 302
    [only] = _keys(engine, "admin")
    token = csrf_token(client, "/account/passkeys")
    refused = client.post(f"/account/passkeys/{only.id}/remove", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "This is your last passkey" in refused.get_data(as_text=True)
    assert len(_keys(engine, "admin")) == 1
    assert any("removal refused" in d for _, d in _audit(engine, "admin"))
    # With a second one, the first can go.
    assert _add(client, SoftAuthenticator(), "Spare key").status_code == 302
    token = csrf_token(client, "/account/passkeys")
    assert (
        client.post(f"/account/passkeys/{only.id}/remove", data={"csrf_token": token}).status_code
        == 302
    )
    assert [key.name for key in _keys(engine, "admin")] == ["Spare key"]


def test_nobody_removes_another_persons_passkey(app: Flask, engine: sa.Engine) -> None:
    _enrolled(app, "officer")
    [theirs] = _keys(engine, "officer")
    examiner = app.test_client()
    login(examiner, "examiner", PASSWORD)
    token = csrf_token(examiner, "/account/passkeys")
    answer = examiner.post(f"/account/passkeys/{theirs.id}/remove", data={"csrf_token": token})
    assert answer.status_code == 409
    assert len(_keys(engine, "officer")) == 1


def test_confirming_it_is_you_takes_the_passkey_for_a_role_that_needs_one(
    app: Flask, engine: sa.Engine
) -> None:
    device = SoftAuthenticator()
    client = app.test_client()
    _enrol_at_sign_in(client, "admin", device)
    page = client.get("/account/confirm").get_data(as_text=True)
    assert "Confirm with your passkey" in page
    assert 'name="code"' not in page
    token = csrf_token(client, "/account/confirm")
    code = {"password": PASSWORD, "code": factor_code(client, "admin"), "csrf_token": token}
    assert client.post("/account/confirm", data=code).status_code == 401
    options, token = _page(client, "/account/confirm")
    wrong_password = {"password": "not it", "credential": device.get(options), "csrf_token": token}
    assert client.post("/account/confirm", data=wrong_password).status_code == 401
    options, token = _page(client, "/account/confirm")
    right = {"password": PASSWORD, "credential": device.get(options), "csrf_token": token}
    assert client.post("/account/confirm", data=right).status_code == 302
    assert "confirmation: second factor by passkey" in [d for _, d in _audit(engine, "admin")]


def test_a_lost_passkey_is_reset_by_two_administrators_and_she_is_told(
    app: Flask, engine: sa.Engine, world: World
) -> None:
    from clinic.access.roles import Role
    from clinic.accounts import factors
    from clinic.accounts.services import actor_for, create_user
    from clinic.cli import unit_of_work

    device = _enrolled(app, "officer")
    officer = app.test_client()
    assert _sign_in(officer, "officer", device).status_code == 302
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
        reset = factors.request_reset(
            uow, actor=actor_for(first), username="officer", reason="Lost phone, seen in person"
        )
        factors.confirm_reset(uow, reset.id, actor=actor_for(second))
    assert _keys(engine, "officer") == []
    assert not _signed_in(officer)  # her sessions ended
    again = app.test_client()
    _password(again, "officer")
    assert again.get("/login/code").headers["Location"] == "/login/passkey/enrol"
    page = again.get("/login/passkey/enrol").get_data(as_text=True)
    assert "Two administrators reset your second factor" in page
    assert _enrol_at_sign_in(app.test_client(), "officer", SoftAuthenticator()).status_code == 302


# -- settings -------------------------------------------------------------------------


def test_production_refuses_to_start_without_passkeys_for_police_and_administrators(
    app_config: dict[str, Any],
) -> None:
    from clinic import create_app
    from clinic.core.db import db

    production = {**app_config, "TESTING": False, "TRUSTED_HOSTS": ["clinic.example.org"]}
    for roles in ((), ("police",), ("admin", "examiner")):
        with pytest.raises(SystemExit, match="PASSKEY_REQUIRED_ROLES"):
            create_app({**production, "PASSKEY_REQUIRED_ROLES": roles})
    with pytest.raises(SystemExit, match="unknown roles"):
        create_app({**production, "PASSKEY_REQUIRED_ROLES": ("police", "admin", "janitor")})
    # The demo's development server may relax it (it warns loudly).
    demo = create_app({**production, "CLINIC_ENV": "development", "PASSKEY_REQUIRED_ROLES": ()})
    db.dispose(demo)


def test_the_relying_party_comes_from_the_settings() -> None:
    from clinic.accounts.passkeys import relying_party

    base = {"PASSKEY_RP_NAME": "Clinic", "PASSKEY_CHALLENGE_SECONDS": 60}
    fhir = relying_party({**base, "FHIR_BASE_URL": "https://clinic.example.org/fhir"}, "http://x/")
    assert (fhir.id, fhir.origin) == ("clinic.example.org", "https://clinic.example.org")
    own = relying_party(
        {**base, "PASSKEY_ORIGIN": "https://sarc.example.org:8443", "PASSKEY_RP_ID": "example.org"},
        "http://x/",
    )
    assert (own.id, own.origin) == ("example.org", "https://sarc.example.org:8443")
    request = relying_party(base, "http://localhost:5000/")
    assert (request.id, request.origin) == ("localhost", "http://localhost:5000")
