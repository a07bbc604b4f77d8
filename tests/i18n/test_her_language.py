"""The language she reads is recorded on her case, and what is printed for her is
in it, whatever the language of the staff member's screens."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.consent.words import WORDS
from tests.conftest import PASSWORD
from tests.consent.helpers import all_items, record
from tests.helpers import csrf_token, login, open_case


def _in_french(client: FlaskClient) -> None:
    login(client, "examiner", PASSWORD)
    token = csrf_token(client, "/account/password")
    client.post("/language", data={"language": "fr", "csrf_token": token})


def _case_language(engine: sa.Engine, case_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT language FROM cases WHERE id = :id"), {"id": case_id}
        ).scalar_one()


def test_registered_in_her_language_her_card_prints_in_it(
    client: FlaskClient, engine: sa.Engine
) -> None:
    _in_french(client)
    token = csrf_token(client, "/cases/new")
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "identity": "anonymous",
            "reporting_mode": "anonymous",
            "age_years": "30",
            "language": "es",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    case_id = response.headers["Location"].rsplit("/", 1)[1]
    assert _case_language(engine, case_id) == "es"
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert '<html lang="fr"' in page
    assert '<dd id="her-language" lang="es">Español</dd>' in page
    card = client.get(f"/cases/{case_id}/card").get_data(as_text=True)
    article = re.search(r'<article class="case-card" lang="([^"]+)">(.*?)</article>', card, re.S)
    assert article is not None
    assert article.group(1) == "es"
    assert WORDS["es"]["card_reference"] in article.group(2)
    assert WORDS["fr"]["card_reference"] not in article.group(2)


def test_her_recorded_language_wins_over_that_of_her_consent(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app)
    record(
        app,
        case.id,
        "information-sharing/v1",
        all_items(app, "information-sharing/v1") | {"gp": False},
        language="fr",
    )
    _in_french(client)
    card = client.get(f"/cases/{case.id}/card").get_data(as_text=True)
    assert '<article class="case-card" lang="fr">' in card  # her consent's, until told
    token = csrf_token(client, f"/cases/{case.id}")
    response = client.post(
        f"/cases/{case.id}/language", data={"language": "es", "csrf_token": token}
    )
    assert response.status_code == 302
    assert _case_language(engine, case.id) == "es"
    card = client.get(f"/cases/{case.id}/card").get_data(as_text=True)
    assert '<article class="case-card" lang="es">' in card


def test_a_language_not_printed_in_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    for language in ("de", "", "x" * 3000):
        token = csrf_token(client, f"/cases/{case.id}")
        response = client.post(
            f"/cases/{case.id}/language", data={"language": language, "csrf_token": token}
        )
        assert response.status_code == 422
        assert "aria-invalid" in response.get_data(as_text=True)
        assert _case_language(engine, case.id) is None


def test_another_site_cannot_set_her_language(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app)
    login(client, "examiner.south", PASSWORD)
    token = csrf_token(client, "/account/password")
    response = client.post(
        f"/cases/{case.id}/language", data={"language": "es", "csrf_token": token}
    )
    assert response.status_code == 404
    assert _case_language(engine, case.id) is None


def test_a_refusal_by_the_service_is_shown_in_the_screen_language(client: FlaskClient) -> None:
    _in_french(client)
    token = csrf_token(client, "/cases/new")
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "identity": "identified",
            "reporting_mode": "unreported",
            "name": "Jeanne Exemple",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Indiquez la date de naissance de la survivante." in page
    assert "Give the survivor&#39;s date of birth." not in page
