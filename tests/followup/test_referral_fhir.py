"""Referrals (ServiceRequest, fc-referral) and the partner directory
(HealthcareService, fc-partner-service) through the FHIR API: her site's
counsellors and examiners read them, other sites and police find nothing,
custodians are refused the kind, every read is audited, each resource validates,
the CapabilityStatement says exactly this, and no release ever carries them."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Action, decide
from clinic.access.policy import RELEASE
from clinic.accounts.models import Organization, User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.fhir.validation import validate_resource
from clinic.followup import directory
from clinic.release.services import force_actor, releasable
from tests.conftest import World
from tests.consent.helpers import all_items, release_to
from tests.followup.referral_fhir_probe import referred as _referred
from tests.followup.referral_helpers import add_service
from tests.helpers import api


def _audited_reads(engine: sa.Engine, reference: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM audit_events WHERE action IN ('R', 'E') "
                    "AND channel = 'fhir' AND entities LIKE :ref"
                ),
                {"ref": f"%{reference}%"},
            ).scalar()
            or 0
        )


def test_her_sites_care_team_reads_and_searches_referrals_and_the_directory(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    _, plan_id, refuge, referral_id, patient_id = _referred(app, client, world, engine)
    registry = app.extensions["clinic.profiles"]
    for username in ("counsellor", "examiner"):
        token = world[username].token
        before = _audited_reads(engine, f"ServiceRequest/{referral_id}")
        read = api(client, "GET", f"/fhir/ServiceRequest/{referral_id}", token)
        assert read.status_code == 200, username
        resource = read.get_json()
        validate_resource(resource, registry)
        assert resource["subject"] == {"reference": f"Patient/{patient_id}"}
        assert resource["basedOn"] == [{"reference": f"CarePlan/{plan_id}"}]
        assert resource["performer"][0]["reference"] == f"HealthcareService/{refuge}"
        assert resource["status"] == "active"
        for query in (
            f"patient={patient_id}",
            f"subject=Patient/{patient_id}",
            f"patient={patient_id}&status=active",
        ):
            found = api(client, "GET", f"/fhir/ServiceRequest?{query}", token).get_json()
            assert [e["resource"]["id"] for e in found["entry"]] == [referral_id], query
        none = api(
            client, "GET", f"/fhir/ServiceRequest?patient={patient_id}&status=revoked", token
        )
        assert none.get_json()["entry"] == []
        assert _audited_reads(engine, f"ServiceRequest/{referral_id}") >= before + 3
        service = api(client, "GET", f"/fhir/HealthcareService/{refuge}", token)
        assert service.status_code == 200
        validate_resource(service.get_json(), registry)
        assert service.get_json()["name"] == "Harbour House"
        typed = api(client, "GET", "/fhir/HealthcareService?type=refuge", token).get_json()
        assert [e["resource"]["id"] for e in typed["entry"]] == [refuge]
        assert (
            api(client, "GET", "/fhir/HealthcareService?type=housing", token).get_json()["entry"]
            == []
        )
        assert _audited_reads(engine, f"HealthcareService/{refuge}") >= 2
    # Where each referral stands: a Task per referral, the same id.
    for username in ("counsellor", "examiner"):
        token = world[username].token
        task = api(client, "GET", f"/fhir/Task/{referral_id}", token)
        assert task.status_code == 200, username
        validate_resource(task.get_json(), registry)
        assert task.get_json()["focus"] == {"reference": f"ServiceRequest/{referral_id}"}
        assert task.get_json()["status"] == "requested"
        for query in (
            f"focus=ServiceRequest/{referral_id}",
            f"focus={referral_id}&status=requested",
            f"patient={patient_id}",
        ):
            found = api(client, "GET", f"/fhir/Task?{query}", token).get_json()
            assert [e["resource"]["id"] for e in found["entry"]] == [referral_id], query
        assert (
            api(
                client, "GET", f"/fhir/Task?focus={referral_id}&status=completed", token
            ).get_json()["entry"]
            == []
        )
    assert _audited_reads(engine, f"Task/{referral_id}") >= 2
    # Bad input: a clear 400, never a 500.
    token = world["counsellor"].token
    everything = api(client, "GET", "/fhir/ServiceRequest", token).get_json()
    assert [e["resource"]["id"] for e in everything["entry"]] == [referral_id]
    assert api(client, "GET", "/fhir/ServiceRequest?code=x&patient=1", token).status_code == 400
    # Read-only: no history, no writes.
    assert (
        api(client, "GET", f"/fhir/ServiceRequest/{referral_id}/_history", token).status_code == 404
    )
    assert api(
        client, "POST", "/fhir/ServiceRequest", token, {"resourceType": "ServiceRequest"}
    ).status_code in (403, 404, 405)


def test_other_sites_police_and_custodians_get_nothing(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    _, _, refuge, referral_id, patient_id = _referred(app, client, world, engine)
    for username in ("counsellor.south", "examiner.south", "officer", "officer.hill"):
        token = world[username].token
        read = api(client, "GET", f"/fhir/ServiceRequest/{referral_id}", token)
        assert read.status_code == 404, username
        guessed = api(client, "GET", "/fhir/ServiceRequest/guessed-id", token)
        assert (guessed.status_code, guessed.get_json()["resourceType"]) == (
            404,
            "OperationOutcome",
        )
        found = api(client, "GET", f"/fhir/ServiceRequest?patient={patient_id}", token)
        assert referral_id not in found.get_data(as_text=True), username
        service = api(client, "GET", f"/fhir/HealthcareService/{refuge}", token)
        assert service.status_code == 404, username
        listed = api(client, "GET", "/fhir/HealthcareService", token)
        assert refuge not in listed.get_data(as_text=True), username
    for username in ("counsellor.south", "examiner.south", "officer", "officer.hill"):
        token = world[username].token
        task = api(client, "GET", f"/fhir/Task/{referral_id}", token)
        assert task.status_code == 404, username
        found = api(client, "GET", f"/fhir/Task?focus={referral_id}", token).get_json()
        assert found.get("entry", []) == [], username  # (the self link echoes the query)
    for username in ("custodian", "auditor"):
        token = world[username].token
        assert api(client, "GET", f"/fhir/ServiceRequest/{referral_id}", token).status_code == 403
        assert api(client, "GET", f"/fhir/Task/{referral_id}", token).status_code == 403
        assert referral_id not in api(
            client, "GET", f"/fhir/ServiceRequest?patient={patient_id}", token
        ).get_data(as_text=True)


def test_referrals_and_the_directory_never_reach_police_whatever_she_released(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case_id, _, refuge, referral_id, _ = _referred(app, client, world, engine)
    release_to(app, case_id, "RIVERPOL", all_items(app, "police-release/v1"))
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
        assert released
        text = json.dumps([version.content for version in released])
        assert referral_id not in text
        assert refuge not in text
        officer = force_actor(force)
        for kind in ("ServiceRequest", "HealthcareService", "Task"):
            assert not decide(officer, Action.EXPORT, kind, operation=RELEASE).permitted
    assert (
        api(
            client, "GET", f"/fhir/ServiceRequest/{referral_id}", world["officer"].token
        ).status_code
        == 404
    )


def test_the_capability_statement_lists_referrals_and_the_directory(client: FlaskClient) -> None:
    statement = client.get("/fhir/metadata").get_json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind, profile, params in (
        ("ServiceRequest", "fc-referral", {"patient", "subject", "status"}),
        ("HealthcareService", "fc-partner-service", {"type", "active"}),
    ):
        entry = by_type[kind]
        assert entry["profile"].endswith(f"/{profile}")
        assert {i["code"] for i in entry["interaction"]} == {"read", "search-type"}
        assert {p["name"] for p in entry["searchParam"]} == params
        assert entry["readHistory"] is False
    task = by_type["Task"]
    assert {"focus", "patient", "status"} <= {p["name"] for p in task["searchParam"]}
    # Organization stays the store's (its profile, interactions and search
    # parameters) and says that partner organisations are read by id only.
    organization = by_type["Organization"]
    assert organization["profile"].endswith("/fc-organization")
    assert organization["supportedProfile"] == [
        "https://forensic-care.org/fhir/StructureDefinition/fc-partner-organization"
    ]
    assert "Partner organisations" in organization["documentation"]
    assert {p["name"] for p in organization["searchParam"]} >= {"identifier"}
    assert "history-instance" in {i["code"] for i in organization["interaction"]}
    assert any(url.endswith("/fc-referral-task") for url in task["supportedProfile"])


def _service_of(app: Flask, world: World, site: str, name: str, organisation: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        service = directory.add_service(
            uow,
            actor=actor_for(admin),
            site_id=world.organizations[site],
            entry=directory.ServiceEntry(
                kind="independent-advocate",
                name=name,
                organisation=organisation,
                email="advocates@example.org",
                address="1 Quay Street",
            ),
        )
        return service.id


def test_the_partner_organisation_is_an_organization_that_providedby_names(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    registry = app.extensions["clinic.profiles"]
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    advocacy = _service_of(app, world, "NORTH", "Harbour Advocacy", "Harbour House Trust")
    south = _service_of(app, world, "SOUTH", "Harbour Advocacy", "Harbour House Trust")
    for username in ("counsellor", "examiner"):
        token = world[username].token
        service = api(client, "GET", f"/fhir/HealthcareService/{refuge}", token).get_json()
        provided_by = service["providedBy"]
        assert provided_by["display"] == "Harbour House Trust"
        reference = provided_by["reference"]
        assert reference.startswith("Organization/partner-")
        # Two services of one organisation of one site name one Organization.
        other = api(client, "GET", f"/fhir/HealthcareService/{advocacy}", token).get_json()
        assert other["providedBy"]["reference"] == reference
        before = _audited_reads(engine, reference)
        read = api(client, "GET", f"/fhir/{reference}", token)
        assert read.status_code == 200, username
        organisation = read.get_json()
        validate_resource(organisation, registry)
        assert organisation["meta"]["profile"] == [
            "https://forensic-care.org/fhir/StructureDefinition/fc-partner-organization"
        ]
        assert f"Organization/{organisation['id']}" == reference
        assert organisation["name"] == "Harbour House Trust"
        assert {"system": "phone", "value": "+44 20 7946 0000"} in organisation["telecom"]
        assert {"system": "email", "value": "advocates@example.org"} in organisation["telecom"]
        assert organisation["address"] == [{"text": "1 Quay Street"}]
        assert _audited_reads(engine, reference) == before + 1
        # The store's Organizations are read and searched as before; a partner
        # organisation is not in their searches.
        site = api(client, "GET", f"/fhir/Organization/{world.organizations['NORTH']}", token)
        assert site.status_code == 200
        assert site.get_json()["meta"]["profile"][0].endswith("/fc-organization")
        listed = api(client, "GET", "/fhir/Organization", token).get_data(as_text=True)
        assert "partner-" not in listed
    # The same organisation's service of another site is another Organization.
    south_token = world["counsellor.south"].token
    south_service = api(client, "GET", f"/fhir/HealthcareService/{south}", south_token)
    south_reference = south_service.get_json()["providedBy"]["reference"]
    assert south_reference != reference
    assert api(client, "GET", f"/fhir/{south_reference}", south_token).status_code == 200
    # Other sites, police and custodians: exactly what an unknown id gets.
    guessed = "Organization/partner-000000000000000000000000"
    for username in ("counsellor.south", "examiner.south", "officer", "officer.hill", "custodian"):
        token = world[username].token
        unknown = api(client, "GET", f"/fhir/{guessed}", token)
        refused = api(client, "GET", f"/fhir/{reference}", token)
        assert refused.status_code == unknown.status_code == 404, username
        assert refused.get_json()["resourceType"] == "OperationOutcome"
        assert (
            refused.get_json()["issue"]
            == json.loads(
                unknown.get_data(as_text=True).replace(
                    guessed.split("/")[1], reference.split("/")[1]
                )
            )["issue"]
        ), username
    assert api(client, "GET", f"/fhir/{guessed}", world["counsellor"].token).status_code == 404
    # Read only: no version of it is kept, so no vread or history.
    token = world["counsellor"].token
    assert api(client, "GET", f"/fhir/{reference}/_history/1", token).status_code == 404
    history = api(client, "GET", f"/fhir/{reference}/_history", token)
    assert "Harbour" not in history.get_data(as_text=True)
    assert history.status_code in (200, 404)
