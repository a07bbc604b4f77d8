"""Another site's staff, or anyone guessing ids, leave a trace: every read through
the referral handlers and the plan's screens that is refused or finds nothing
writes one AuditEvent (minor failure), as the store's reads do."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, World
from tests.followup.referral_fhir_probe import referred
from tests.helpers import api, login

GUESS = "00000000-0000-4000-8000-000000000000"
PARTNER_GUESS = "partner-000000000000"


def organisation_id_of(app: Flask, service_id: str) -> str:
    """The partner Organization id the directory gives a service's organisation."""
    from clinic.cli import unit_of_work
    from clinic.followup.directory import organisation_id
    from clinic.followup.referral_models import PartnerService

    with app.app_context(), unit_of_work() as uow:
        service = uow.session.get(PartnerService, service_id)
        assert service is not None
        return organisation_id(service)


def _failures(engine: sa.Engine, username: str) -> list[tuple[str, str | None, list[str]]]:
    with engine.connect() as connection:
        return [
            (row.entities, row.outcome_desc, json.loads(row.reasons))
            for row in connection.execute(
                sa.text(
                    "SELECT entities, outcome_desc, reasons FROM audit_events "
                    "WHERE username = :user AND outcome = '4' ORDER BY log_index"
                ),
                {"user": username},
            )
        ]


def test_refused_and_unknown_fhir_reads_of_referrals_are_audited(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    _, _, refuge, referral_id, _ = referred(app, client, world, engine)
    for username in ("counsellor.south", "examiner.south"):
        token = world[username].token
        for path in (
            f"/fhir/ServiceRequest/{referral_id}",
            f"/fhir/Task/{referral_id}",
            f"/fhir/HealthcareService/{refuge}",
            f"/fhir/ServiceRequest/{GUESS}",
            f"/fhir/HealthcareService/{GUESS}",
            f"/fhir/Organization/{organisation_id_of(app, refuge)}",
            f"/fhir/Organization/{PARTNER_GUESS}",
        ):
            before = _failures(engine, username)
            assert api(client, "GET", path, token).status_code == 404, (username, path)
            after = _failures(engine, username)
            assert len(after) == len(before) + 1, (username, path)
            entities, description, reasons = after[-1]
            kind, _, logical_id = path.removeprefix("/fhir/").partition("/")
            assert f"{kind}/{logical_id}" in entities
            if logical_id in (GUESS, PARTNER_GUESS):
                assert description == "not found"
                assert reasons == []
            else:
                assert description == "refused"
                assert reasons  # the refusing decision's reasons


def test_refused_and_unknown_plan_screens_are_audited(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    _, plan_id, _, _, _ = referred(app, client, world, engine)
    for username in ("counsellor.south", "examiner.south"):
        other = app.test_client()
        login(other, username, PASSWORD)
        for plan in (plan_id, GUESS):
            for screen in ("safety", "appointment-card", "aftercare", ""):
                path = f"/followup/plans/{plan}/{screen}".rstrip("/")
                before = _failures(engine, username)
                assert other.get(path).status_code == 404, (username, path)
                after = _failures(engine, username)
                assert len(after) == len(before) + 1, (username, path)
                entities, description, reasons = after[-1]
                assert f"CarePlan/{plan}" in entities
                assert description == ("not found" if plan == GUESS else "refused")
                assert bool(reasons) is (plan != GUESS)  # the refusal's reasons
