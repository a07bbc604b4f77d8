"""Which language a page is shown in: the person's stored choice, else the choice
made before signing in, else the browser's languages we offer, else the site's."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic import create_app
from tests.conftest import PASSWORD
from tests.helpers import csrf_token, login


def _language_of(page: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', page)
    assert match, "no lang and dir on the page"
    return match.group(1), match.group(2)


def _stored_language(engine: sa.Engine, username: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT language FROM users WHERE username = :u"), {"u": username}
        ).scalar_one()


def _choose(client: FlaskClient, language: str, **extra: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/language", data={"language": language, "csrf_token": token, **extra})


def test_english_when_the_browser_names_no_language_we_offer(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert _language_of(page) == ("en", "ltr")
    assert "<h1>Sign in</h1>" in page
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True
    )
    assert _language_of(page) == ("en", "ltr")


@pytest.mark.parametrize(
    ("header", "language", "heading"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.5", "fr", "Se connecter"),
        ("es-419,es;q=0.9", "es", "Iniciar sesión"),
        ("de;q=1.0,es;q=0.3,fr;q=0.2", "es", "Iniciar sesión"),
    ],
)
def test_the_browser_language_among_those_offered(
    client: FlaskClient, header: str, language: str, heading: str
) -> None:
    page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert _language_of(page) == (language, "ltr")
    assert f"<h1>{heading}</h1>" in page


def test_the_site_default_applies_when_nothing_else_does(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "CLINIC_DEFAULT_LANGUAGE": "fr"})
    page = app.test_client().get("/login").get_data(as_text=True)
    assert _language_of(page) == ("fr", "ltr")


def test_a_default_language_not_offered_is_refused_at_start(app_config: dict[str, Any]) -> None:
    with pytest.raises(SystemExit, match="CLINIC_DEFAULT_LANGUAGE"):
        create_app({**app_config, "CLINIC_DEFAULT_LANGUAGE": "de"})


def test_a_language_without_its_catalogue_is_refused_at_start(
    app_config: dict[str, Any],
) -> None:
    with pytest.raises(SystemExit, match="No catalogue for the language 'de'"):
        create_app({**app_config, "CLINIC_LANGUAGES": ("en", "fr", "es", "de")})


def test_before_signing_in_the_choice_is_kept_for_the_visit(client: FlaskClient) -> None:
    response = _choose(client, "es", next="/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert _language_of(page)[0] == "es"


def test_the_signed_in_choice_is_stored_on_the_account(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, "/")
    response = client.post("/language", data={"language": "fr", "csrf_token": token, "next": "/"})
    assert response.status_code == 302
    assert _stored_language(engine, "examiner") == "fr"
    # Another browser, which asks for Spanish: her stored choice wins.
    other = app.test_client()
    login(other, "examiner", PASSWORD)
    page = other.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert _language_of(page) == ("fr", "ltr")
    assert "Bienvenue, Examiner" in page
    # Nobody else's screens change.
    assert _stored_language(engine, "counsellor") is None


@pytest.mark.parametrize("language", ["de", "", "FR", "fr;", "x" * 5000, "../../etc/passwd"])
def test_a_language_not_offered_is_refused_and_changes_nothing(
    client: FlaskClient, engine: sa.Engine, language: str
) -> None:
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, "/")
    response = client.post("/language", data={"language": language, "csrf_token": token})
    assert response.status_code == 400
    assert "This language is not offered here." in response.get_data(as_text=True)
    assert _stored_language(engine, "examiner") is None


def test_the_switch_needs_the_form_token(client: FlaskClient, engine: sa.Engine) -> None:
    login(client, "examiner", PASSWORD)
    response = client.post("/language", data={"language": "fr"})
    assert response.status_code == 400
    assert _stored_language(engine, "examiner") is None


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "javascript:x"])
def test_the_switch_only_returns_to_a_page_of_the_clinic(client: FlaskClient, target: str) -> None:
    response = _choose(client, "fr", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_every_page_has_the_switcher(client: FlaskClient) -> None:
    login(client, "examiner", PASSWORD)
    for path in ("/", "/account/password", "/login", "/no-such-page"):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert 'action="/language"' in page, path
        assert '<label for="language-choice">' in page, path
