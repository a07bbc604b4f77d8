"""Registering survivors and keeping their cases: identity rules, proxies, the
reporting mode's history, and who may see a case."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cases.models import Case, ProxyRelationship, ReportingMode, ReportingModeChange
from clinic.cases.services import (
    CaseRefused,
    Proxy,
    Registration,
    SafeContact,
    change_reporting_mode,
    register_survivor,
)
from clinic.cli import unit_of_work
from clinic.evidence.retention import add_months
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.helpers import api, csrf_token, login, open_case

NAME = "Maria Quintessa Example"


def register(app: Flask, username: str = "examiner", **fields: Any) -> Case:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        case = register_survivor(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            registration=Registration(**fields),
        )
        uow.session.expunge(case)
        return case


def change_mode(app: Flask, case_id: str, mode: ReportingMode, reason: str = "in person") -> Case:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        case = change_reporting_mode(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            mode=mode,
            reason=reason,
        )
        uow.session.expunge(case)
        return case


def counts(engine: sa.Engine) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            for table in ("cases", "fhir_resources", "fhir_resource_versions", "audit_events")
        )


def years_ago(years: int, days: int = 0) -> date:
    from datetime import timedelta

    from clinic.core.clock import utcnow

    today = utcnow().date()
    return add_months(today, -12 * years) - timedelta(days=days)


IDENTIFIED: dict[str, Any] = {
    "is_anonymous": False,
    "reporting_mode": ReportingMode.UNREPORTED,
    "name": NAME,
    "birth_date": date(1990, 5, 17),
    "phone": "+44 7700 900456",
    "safe_contact": SafeContact(True, False, False, "bluebell", "weekdays only"),
}
ANONYMOUS: dict[str, Any] = {
    "is_anonymous": True,
    "reporting_mode": ReportingMode.ANONYMOUS,
    "age_years": 27,
}


def test_an_anonymous_survivor_has_no_identity_in_any_record(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = register(app, **ANONYMOUS)
    patient = api(client, "GET", f"/fhir/Patient/{case.patient_id}", world["examiner"].token)
    content = patient.get_json()
    for element in ("name", "birthDate", "telecom", "address", "contact", "extension"):
        assert element not in content
    assert content["identifier"] == [
        {"system": "https://forensic-care.org/fhir/sid/case-reference", "value": case.reference}
    ]
    assert {"code": "anonymous"}.items() <= content["meta"]["tag"][0].items()
    episode = api(client, "GET", f"/fhir/EpisodeOfCare/{case.id}", world["examiner"].token)
    assert episode.status_code == 200
    assert episode.get_json()["patient"] == {"reference": f"Patient/{case.patient_id}"}

    # Nobody can later slip an identity into the anonymous record through the API:
    # the anonymous flag stays on every version and the profile then refuses a name.
    stripped = {k: v for k, v in content.items() if k != "meta"}
    named = stripped | {"name": [{"text": NAME}]}
    before = counts(engine)
    refused = api(client, "PUT", f"/fhir/Patient/{case.patient_id}", world["examiner"].token, named)
    assert refused.status_code == 422
    assert "fc-pat-1" in refused.get_data(as_text=True)
    assert counts(engine)[:3] == before[:3]


def test_identity_never_reaches_the_search_index_or_the_audit_trail(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = register(app, **IDENTIFIED)
    login(client, "examiner", PASSWORD)
    assert client.get(f"/cases/?reference={case.reference}").status_code == 200
    assert client.get(f"/cases/{case.id}").status_code == 200
    with engine.connect() as connection:
        rows = {
            table: " ".join(
                str(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table}").all()
            )
            for table in ("audit_events", "fhir_index_tokens", "fhir_index_references", "cases")
        }
    # Her phone number as typed and without its spaces (six digits alone turn up by
    # chance in the hexadecimal of ids and hashes).
    phone = ("7700 900456", "7700900456")
    for secret in (NAME, "Quintessa", "1990-05-17", *phone, "bluebell"):
        for table, text in rows.items():
            assert secret not in text, (secret, table)
    # The reference typed into the case search is redacted from the trail.
    assert case.reference not in rows["audit_events"]
    assert "EpisodeOfCare?identifier=[redacted]" in rows["audit_events"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (ANONYMOUS | {"name": NAME}, "name", "holds no identity"),
        (ANONYMOUS | {"phone": "+44 7700 900000"}, "phone", "holds no identity"),
        (ANONYMOUS | {"age_years": None}, "age_years", "age in years"),
        (ANONYMOUS | {"reporting_mode": ReportingMode.REPORTED}, "reporting_mode", "anonymous"),
        (IDENTIFIED | {"reporting_mode": ReportingMode.ANONYMOUS}, "reporting_mode", "no identity"),
        (IDENTIFIED | {"name": "  "}, "name", "name"),
        (IDENTIFIED | {"birth_date": None}, "birth_date", "date of birth"),
        (IDENTIFIED | {"birth_date": date(2999, 1, 1)}, "birth_date", "future"),
        (IDENTIFIED | {"phone": None}, "phone", "phone number"),
        (ANONYMOUS | {"age_years": 15}, "proxy_relationship", "under 18"),
        (
            ANONYMOUS
            | {"age_years": 15, "proxy": Proxy(ProxyRelationship.PARENT, "minor", "Ann Example")},
            "proxy_name",
            "would identify her",
        ),
        (
            IDENTIFIED
            | {"birth_date": years_ago(15), "proxy": Proxy(ProxyRelationship.GUARDIAN, "minor")},
            "proxy_name",
            "proxy's name",
        ),
        (
            ANONYMOUS | {"age_years": 15, "proxy": Proxy(ProxyRelationship.PARENT, " ")},
            "proxy_reason",
            "why",
        ),
    ],
)
def test_bad_registrations_are_refused_with_the_field_and_change_nothing(
    app: Flask, engine: sa.Engine, fields: dict[str, Any], field: str, message: str
) -> None:
    before = counts(engine)
    with pytest.raises(CaseRefused, match=message) as refused:
        register(app, **fields)
    assert refused.value.field == field
    assert counts(engine) == before


def test_a_minor_is_registered_with_a_proxy_and_the_18th_birthday_decides(app: Flask) -> None:
    proxy = Proxy(ProxyRelationship.GUARDIAN, "she is 17", "Gail Guardian")
    day_before_18 = register(app, **IDENTIFIED | {"birth_date": years_ago(18, -1), "proxy": proxy})
    on_18th = register(app, **IDENTIFIED | {"birth_date": years_ago(18)})
    assert (day_before_18.is_minor, day_before_18.age_at_registration) == (True, 17)
    assert (on_18th.is_minor, on_18th.age_at_registration) == (False, 18)
    anonymous_minor = register(
        app, **ANONYMOUS | {"age_years": 14, "proxy": Proxy(ProxyRelationship.PARENT, "age 14")}
    )
    assert anonymous_minor.is_minor


def test_the_reporting_mode_changes_with_who_when_why_and_keeps_every_version(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    change_mode(app, case.id, ReportingMode.UNREPORTED, "in person at follow-up")
    with pytest.raises(CaseRefused, match="her decision, recorded as consent"):
        change_mode(app, case.id, ReportingMode.REPORTED, "by phone, code word checked")
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    change_mode(app, case.id, ReportingMode.REPORTED, "by phone, code word checked")
    token = world["examiner"].token
    modes = []
    for version in (1, 2, 3):
        episode = api(client, "GET", f"/fhir/EpisodeOfCare/{case.id}/_history/{version}", token)
        modes.append(episode.get_json()["extension"][0]["valueCoding"]["code"])
    assert modes == ["anonymous", "unreported", "reported"]
    with app.app_context():
        from clinic.core.db import db

        changes = db.session.scalars(
            sa.select(ReportingModeChange)
            .where(ReportingModeChange.case_id == case.id)
            .order_by(ReportingModeChange.id)
        ).all()
        assert [(c.from_mode, c.to_mode, c.changed_by) for c in changes] == [
            (None, "anonymous", "examiner"),
            ("anonymous", "unreported", "examiner"),
            ("unreported", "reported", "examiner"),
        ]
        assert changes[2].reason == "by phone, code word checked"


@pytest.mark.parametrize(
    ("start", "to", "reason", "message"),
    [
        ("identified", ReportingMode.ANONYMOUS, "she asked", "cannot become anonymous"),
        ("identified", ReportingMode.UNREPORTED, "she asked", "already unreported"),
        ("identified", ReportingMode.REPORTED, " ", "how the survivor told us"),
    ],
)
def test_reporting_mode_changes_that_make_no_sense_are_refused(
    app: Flask, engine: sa.Engine, start: str, to: ReportingMode, reason: str, message: str
) -> None:
    case = register(app, **IDENTIFIED)
    before = counts(engine)
    with pytest.raises(CaseRefused, match=message):
        change_mode(app, case.id, to, reason)
    assert counts(engine) == before


def test_cases_are_seen_by_their_site_only_and_never_written_through_the_api(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    path = f"/fhir/EpisodeOfCare/{case.id}"
    assert api(client, "GET", path, world["examiner"].token).status_code == 200
    assert api(client, "GET", path, world["counsellor"].token).status_code == 200
    unknown = f"/fhir/EpisodeOfCare/{uuid.uuid4()}"
    for intruder in ("examiner.south", "counsellor.south", "officer", "custodian"):
        hidden = api(client, "GET", path, world[intruder].token)
        absent = api(client, "GET", unknown, world[intruder].token)
        assert hidden.status_code == absent.status_code, intruder
        assert hidden.get_json()["issue"][0]["code"] == absent.get_json()["issue"][0]["code"]
        found = api(
            client, "GET", f"/fhir/EpisodeOfCare?identifier={case.reference}", world[intruder].token
        )
        assert found.status_code in (200, 403, 404), intruder
        if found.status_code == 200:
            assert not found.get_json().get("entry"), intruder
    created = api(
        client,
        "POST",
        "/fhir/EpisodeOfCare",
        world["examiner"].token,
        {"resourceType": "EpisodeOfCare", "status": "active", "patient": {"reference": "x"}},
    )
    assert created.status_code == 405


def test_registration_form_shows_each_problem_next_to_its_field(
    client: FlaskClient, engine: sa.Engine
) -> None:
    login(client, "examiner", PASSWORD)
    before = counts(engine)[:3]
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_token(client, "/cases/new"),
            "identity": "anonymous",
            "reporting_mode": "anonymous",
            "age_years": "16",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="proxy_relationship-error"' in page
    assert "under 18" in page
    assert counts(engine)[:3] == before
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_token(client, "/cases/new"),
            "identity": "anonymous",
            "reporting_mode": "anonymous",
            "age_years": "16",
            "proxy_relationship": "parent",
            "proxy_reason": "she is 16; her mother is with her",
        },
    )
    assert response.status_code == 302
    case_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Anonymous: no identity held" in case_page
    assert "parent" in case_page
    card = client.get(response.headers["Location"] + "/card").get_data(as_text=True)
    reference = case_page.split("<code>", 1)[1].split("</code>", 1)[0]
    assert reference in card
