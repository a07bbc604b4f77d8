"""Tokens in the browser: shown once, usable, revocable; other people's untouchable."""

from __future__ import annotations

import re

from flask import Flask

from tests.conftest import PASSWORD, World
from tests.helpers import api, csrf_token, login


def test_create_use_and_revoke_a_token(app: Flask, world: World) -> None:
    client = app.test_client()
    login(client, "counsellor", PASSWORD)
    response = client.post(
        "/account/tokens",
        data={
            "name": "case system",
            "days": "30",
            "csrf_token": csrf_token(client, "/account/tokens"),
        },
    )
    assert response.status_code == 201
    secret = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True))
    assert secret
    token = secret.group(1)
    assert token not in client.get("/account/tokens").get_data(as_text=True)  # shown once
    assert api(app.test_client(), "GET", "/fhir/Patient", token).status_code == 200

    page = client.get("/account/tokens").get_data(as_text=True)
    revoke_paths = re.findall(r'action="(/account/tokens/[^"]+/revoke)"', page)
    for path in revoke_paths:
        client.post(path, data={"csrf_token": csrf_token(client, "/account/tokens")})
    assert api(app.test_client(), "GET", "/fhir/Patient", token).status_code == 401
    assert (
        api(app.test_client(), "GET", "/fhir/Patient", world["counsellor"].token).status_code == 401
    )


def test_invalid_token_form_gets_a_message_next_to_the_field(app: Flask) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    response = client.post(
        "/account/tokens",
        data={"name": "", "days": "999", "csrf_token": csrf_token(client, "/account/tokens")},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in body
    assert "error-summary" in body
