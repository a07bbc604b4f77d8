"""Referrals through HTTP: a referral carries only what her information-sharing
consent lets that kind of partner receive; bad input is refused with a clear
message and nothing written; the status moves only forward; the letter is printed in
her language; police, custodians, other sites and guessed ids get nothing."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Action, Actor, Role
from clinic.access.policy import REFERRAL_RECIPIENT, decide
from clinic.access.terms import RECIPIENTS
from clinic.followup.terms import SERVICE_KINDS
from tests.conftest import PASSWORD, World
from tests.followup.referral_helpers import add_service, named_case_with_plan, shares
from tests.helpers import csrf_token, login


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(sql).scalar() or 0)


def _refer(client: FlaskClient, plan_id: str, **data: str) -> tuple[int, str]:
    path = f"/followup/plans/{plan_id}/referrals"
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, **data})
    return response.status_code, response.get_data(as_text=True)


def _status(client: FlaskClient, plan_id: str, referral_id: str, status: str, outcome: str = ""):
    token = csrf_token(client, f"/followup/plans/{plan_id}/referrals")
    return client.post(
        f"/followup/referrals/{referral_id}/status",
        data={"csrf_token": token, "status": status, "outcome": outcome},
    )


def _referral(engine: sa.Engine) -> dict[str, object]:
    with engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT id, status, shared, position, language, outcome FROM followup_referrals "
            "ORDER BY made_at DESC"
        ).first()
    assert row is not None
    return dict(row._mapping)


def test_every_kind_of_service_is_mapped_to_a_recipient_of_her_consent() -> None:
    assert set(REFERRAL_RECIPIENT) == set(SERVICE_KINDS)
    assert set(REFERRAL_RECIPIENT.values()) <= set(RECIPIENTS)
    assert "police" not in REFERRAL_RECIPIENT.values()


def test_a_referral_to_a_refuge_carries_only_what_she_agreed_then_accepted_and_attended(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    # Her name and contact to an advocate (the refuge's kind of recipient); nothing to
    # her GP.
    shares(app, case_id, advocate=True)
    login(client, "counsellor", PASSWORD)
    status, page = _refer(client, plan_id, service=refuge, reason="A safe place tonight")
    assert status == 302, page
    made = _referral(engine)
    assert made["status"] == "sent"
    assert made["shared"] == "identity"
    assert made["position"] is not None  # the plan's "referral she wants" item
    page = client.get(f"/followup/plans/{plan_id}/referrals").get_data(as_text=True)
    assert "Harbour House" in page
    assert "her name, date of birth and contact details" in page
    letter = client.get(f"/followup/referrals/{made['id']}/letter")
    assert letter.status_code == 200
    text = letter.get_data(as_text=True)
    assert "Amina Example" in text
    assert "+44 7700 900123" in text
    assert "A safe place tonight" in text
    assert "Treatment she received" not in text  # not agreed, not printed
    # A bad transition: a sent referral cannot be attended yet; nothing changes.
    refused = _status(client, plan_id, str(made["id"]), "attended")
    assert refused.status_code == 303
    page = client.get(f"/followup/plans/{plan_id}/referrals").get_data(as_text=True)
    assert "A referral that is sent can next be accepted or declined or closed only." in page
    assert _referral(engine)["status"] == "sent"
    assert _status(client, plan_id, str(made["id"]), "accepted").status_code == 302
    assert (
        _status(client, plan_id, str(made["id"]), "attended", "Seen on Monday").status_code == 302
    )
    done = _referral(engine)
    assert done["status"] == "attended"
    assert done["outcome"] == "Seen on Monday"
    # The plan's wanted-referral item is done.
    with engine.connect() as connection:
        item_status = connection.execute(
            sa.text("SELECT status FROM followup_items WHERE plan_id = :plan AND position = :at"),
            {"plan": plan_id, "at": done["position"]},
        ).scalar()
    assert item_status == "completed"
    # Closed is the end.
    assert _status(client, plan_id, str(made["id"]), "closed").status_code == 302
    assert _status(client, plan_id, str(made["id"]), "sent").status_code == 303
    assert _referral(engine)["status"] == "closed"


def test_a_referral_without_her_consent_is_refused_and_nothing_written(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    clinic = add_service(app, world, "NORTH", "sexual-health", "Sexual health clinic")
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    login(client, "counsellor", PASSWORD)
    # No information-sharing consent at all.
    status, page = _refer(client, plan_id, service=refuge)
    assert status == 422
    assert "She has not agreed to share anything with an independent advocate" in page
    # A consent that says no to her GP: a sexual-health referral carries nothing.
    shares(app, case_id, advocate=True, gp=False)
    status, page = _refer(client, plan_id, service=clinic)
    assert status == 422
    assert "She has not agreed to share anything with her GP" in page
    assert _count(engine, "SELECT count(*) FROM followup_referrals") == 0
    # She declined the referral when offered: recorded as declined, nothing shared.
    status, page = _refer(client, plan_id, service=clinic, she_declined="y")
    assert status == 302, page
    declined = _referral(engine)
    assert declined["status"] == "declined"
    assert declined["shared"] == ""
    assert client.get(f"/followup/referrals/{declined['id']}/letter").status_code == 409


def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    south = add_service(app, world, "SOUTH", "refuge", "Southgate")
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, advocate=True)
    login(client, "counsellor", PASSWORD)
    for service in ("no-such-service", south, ""):
        status, page = _refer(client, plan_id, service=service)
        assert status == 422, service
        # A translated message is markup-safe text: its apostrophe may stay as it is.
        assert "Choose a service from her site's directory." in html.unescape(page)
    status, page = _refer(client, plan_id, service=refuge, reason="x" * 100_000)
    assert status == 422
    assert "Keep this to 1000 characters." in page
    assert _count(engine, "SELECT count(*) FROM followup_referrals") == 0


def test_the_letter_is_in_her_language(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, language="fr", advocate=True)
    login(client, "counsellor", PASSWORD)
    assert _refer(client, plan_id, service=refuge)[0] == 302
    made = _referral(engine)
    assert made["language"] == "fr"
    text = client.get(f"/followup/referrals/{made['id']}/letter").get_data(as_text=True)
    assert 'lang="fr"' in text
    assert "Orientation" in text
    assert "Refuge ou hébergement" in text


def test_police_custodians_other_sites_and_guessed_ids_get_nothing(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, advocate=True)
    login(client, "counsellor", PASSWORD)
    assert _refer(client, plan_id, service=refuge)[0] == 302
    referral_id = str(_referral(engine)["id"])
    paths = (
        f"/followup/plans/{plan_id}/referrals",
        f"/followup/referrals/{referral_id}/letter",
        "/followup/referrals/guessed-id/letter",
    )
    for username in ("officer", "officer.hill", "custodian", "examiner.south", "counsellor.south"):
        with client.session_transaction() as session:
            session.clear()
        login(client, username, PASSWORD)
        for path in paths:
            response = client.get(path)
            assert response.status_code in (403, 404), (username, path)
            assert "Amina" not in response.get_data(as_text=True)
    # Nothing of a referral on the FHIR API: the kinds are never released.
    police = Actor(
        user_id="x", username="x", role=Role.POLICE, organization_id=world.organizations["RIVERPOL"]
    )
    assert not decide(police, Action.READ, "ServiceRequest").permitted
    assert not decide(police, Action.EXPORT, "ServiceRequest", operation="release").permitted


@pytest.mark.parametrize("username", ["examiner", "counsellor"])
def test_the_directory_is_kept_by_administrators_only(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine, username: str
) -> None:
    login(client, username, PASSWORD)
    assert client.get("/admin/partner-services").status_code == 403


def test_an_administrator_adds_a_partner_service_and_bad_entries_are_refused(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    login(client, "admin", PASSWORD)
    token = csrf_token(client, "/admin/partner-services")
    entry = {
        "csrf_token": token,
        "site": world.organizations["NORTH"],
        "kind": "legal-aid",
        "name": "Family law clinic",
        "organisation": "Riverside Law Centre",
        "phone": "+44 20 7946 0103",
        "languages": "en es",
        "accepts": "Protective orders",
    }
    for change, message in (
        ({"kind": "astrology"}, "Choose the kind of service."),
        ({"name": ""}, "Name the service."),
        ({"phone": ""}, "Give at least one way to reach them."),
        ({"languages": "English!"}, "List the languages as codes"),
        ({"accepts": "y" * 5000}, "Keep this to 1000 characters."),
        ({"site": "nowhere"}, "Choose the site whose directory this is."),
    ):
        response = client.post("/admin/partner-services", data=entry | change)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True)
    assert _count(engine, "SELECT count(*) FROM partner_services") == 0
    assert client.post("/admin/partner-services", data=entry).status_code == 302
    page = client.get("/admin/partner-services").get_data(as_text=True)
    assert "Family law clinic" in page
    assert "en es" in page
    service_id = re.search(r"/admin/partner-services/([^/]+)/active", page)
    assert service_id
    token = csrf_token(client, "/admin/partner-services")
    taken = client.post(
        f"/admin/partner-services/{service_id.group(1)}/active", data={"csrf_token": token}
    )
    assert taken.status_code == 302
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT active FROM partner_services").scalar() in (
            False,
            0,
        )


def test_a_referral_never_reaches_police_whatever_she_released(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    import json

    from clinic.accounts.models import Organization, User
    from clinic.accounts.services import actor_for
    from clinic.cli import unit_of_work
    from clinic.release.services import force_actor, releasable
    from tests.consent.helpers import all_items, release_to
    from tests.helpers import api

    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, advocate=True)
    release_to(app, case_id, "RIVERPOL", all_items(app, "police-release/v1"))
    login(client, "counsellor", PASSWORD)
    assert _refer(client, plan_id, service=refuge, reason="Harbour tonight")[0] == 302
    referral_id = str(_referral(engine)["id"])
    with app.app_context(), unit_of_work() as uow:
        examiner = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        force = uow.session.get(Organization, world.organizations["RIVERPOL"])
        assert force is not None
        released = releasable(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(examiner),
            case_id=case_id,
            force_id=force.id,
        )
        assert released  # her consent releases her exam report...
        text = json.dumps([version.content for version in released])
        assert referral_id not in text  # ...nothing of the referral
        assert "Harbour" not in text
        officer = force_actor(force)
        for kind in ("ServiceRequest", "HealthcareService"):
            assert not decide(officer, Action.EXPORT, kind, operation="release").permitted
            assert not decide(officer, Action.SEARCH, kind).permitted
    for path in ("/fhir/ServiceRequest", f"/fhir/ServiceRequest/{referral_id}"):
        response = api(client, "GET", path, world["officer"].token)
        assert response.status_code in (400, 404)
        assert referral_id not in response.get_data(as_text=True)


def test_every_read_of_a_referral_is_audited(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, advocate=True)
    login(client, "counsellor", PASSWORD)
    assert _refer(client, plan_id, service=refuge)[0] == 302
    referral_id = str(_referral(engine)["id"])

    def audited() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text("SELECT count(*) FROM audit_events WHERE entities LIKE :wanted"),
                    {"wanted": f"%ServiceRequest/{referral_id}%"},
                ).scalar_one()
            )

    before = audited()
    assert client.get(f"/followup/plans/{plan_id}/referrals").status_code == 200
    after_list = audited()
    assert after_list == before + 1
    assert client.get(f"/followup/referrals/{referral_id}/letter").status_code == 200
    assert audited() == after_list + 1
