"""An organisation deactivated by an administrator (a police force that is no
longer a partner, a site that closed): none of its accounts can go on, whatever
they still hold. A live API token fails on its next request, a browser session
ends on its next page, and the password no longer signs in. Reactivating it
gives the same accounts back."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import Organization, User
from clinic.accounts.services import actor_for, update_organization
from clinic.cli import unit_of_work
from tests.conftest import PASSWORD, World
from tests.helpers import api, login, session_opened


def _set_active(app: Flask, world: World, code: str, active: bool) -> None:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.get(User, world["admin"].user_id)
        organization = uow.session.get(Organization, world.organizations[code])
        assert admin is not None
        assert organization is not None
        update_organization(
            uow,
            app.extensions["clinic.profiles"],
            organization,
            actor=actor_for(admin),
            name=organization.name,
            is_active=active,
        )


def test_a_deactivated_force_s_officers_are_out_at_once(app: Flask, world: World) -> None:
    officer, other_force = world["officer"], world["officer.hill"]
    browser = app.test_client()
    assert session_opened(login(browser, officer.username, PASSWORD))
    assert browser.get("/").status_code == 200
    assert api(browser, "GET", "/fhir/Patient", officer.token).status_code == 200

    _set_active(app, world, "RIVERPOL", False)

    refused = api(app.test_client(), "GET", "/fhir/Patient", officer.token)
    assert refused.status_code == 401
    assert refused.get_json()["resourceType"] == "OperationOutcome"
    page = browser.get("/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    assert not session_opened(login(app.test_client(), officer.username, PASSWORD))
    # Another force's officer is untouched.
    assert api(app.test_client(), "GET", "/fhir/Patient", other_force.token).status_code == 200

    _set_active(app, world, "RIVERPOL", True)
    assert api(app.test_client(), "GET", "/fhir/Patient", officer.token).status_code == 200
    assert session_opened(login(app.test_client(), officer.username, PASSWORD))


def test_a_deactivated_site_s_examiner_cannot_use_her_token(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _set_active(app, world, "SOUTH", False)
    assert api(client, "GET", "/fhir/Patient", world["examiner.south"].token).status_code == 401
    assert api(client, "GET", "/fhir/Patient", world["examiner"].token).status_code == 200


def test_the_administrator_is_told_what_deactivating_does(app: Flask, world: World) -> None:
    from tests.helpers import signed_in

    for language, words in (
        ("en", "none of its accounts can sign in"),
        ("fr", "aucun de ses comptes ne peut se connecter"),
        ("es", "ninguna de sus cuentas puede iniciar sesión"),
    ):
        admin = signed_in(app, "admin", language)
        page = admin.get(f"/admin/organizations/{world.organizations['RIVERPOL']}")
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert words in text
        assert 'aria-describedby="is_active-hint"' in text


def test_an_administrator_cannot_deactivate_her_own_organisation(app: Flask, world: World) -> None:
    """She would be shut out with it, and every administrator of it too."""
    from tests.helpers import csrf_token, signed_in

    admin = signed_in(app, "admin", "en")
    path = f"/admin/organizations/{world.organizations['NORTH']}"
    refused = admin.post(
        path, data={"name": "North Referral Centre", "csrf_token": csrf_token(admin, path)}
    )
    assert refused.status_code == 422
    assert "You cannot deactivate your own organisation" in refused.get_data(as_text=True)
    assert admin.get("/").status_code == 200  # still signed in: nothing changed
    with app.app_context(), unit_of_work() as uow:
        north = uow.session.get(Organization, world.organizations["NORTH"])
        assert north is not None
        assert north.is_active
