"""Promise 7: every access is audited, append-only and tamper-evident; an audit
write that fails makes the action fail; the trail holds no clinical content."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.audit.models import AuditEntry
from tests.conftest import BACKEND, PASSWORD, World
from tests.helpers import api, create, csrf_token, login, observation, patient, refuse_audit_rows


def _entries(app: Flask) -> list[AuditEntry]:
    from clinic.core.db import db

    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.log_index)))
        db.session.expunge_all()
        return rows


def _new_entries(app: Flask, since: int) -> list[AuditEntry]:
    return [e for e in _entries(app) if e.log_index >= since]


def _size(app: Flask) -> int:
    return len(_entries(app))


def test_each_interaction_writes_one_event_with_who_what_and_outcome(
    app: Flask, client: FlaskClient, world: World
) -> None:
    token = world["examiner"].token
    start = _size(app)
    record = create(client, token, patient("SA-AUDIT-0001"))
    api(client, "GET", f"/fhir/Patient/{record['id']}", token)
    api(client, "GET", f"/fhir/Patient/{record['id']}/_history/1", token)
    api(client, "GET", "/fhir/Patient?identifier=SA-AUDIT-0001", token)
    api(client, "PUT", f"/fhir/Patient/{record['id']}", token, dict(record, gender="other"))
    api(client, "GET", f"/fhir/Patient/{record['id']}/_history", token)
    api(client, "GET", f"/fhir/Patient/{record['id']}", world["officer"].token)
    api(client, "GET", "/fhir/Patient", "not-a-token")
    events = _new_entries(app, start)
    assert [(e.subtype, e.outcome) for e in events] == [
        ("create", "0"),
        ("read", "0"),
        ("vread", "0"),
        ("search-type", "0"),
        ("update", "0"),
        ("history-instance", "0"),
        ("read", "4"),
        ("authenticate", "4"),
    ]
    created = events[0]
    assert created.username == "examiner"
    assert created.role == "examiner"
    assert created.purpose == "TREAT"
    assert created.channel == "fhir"
    assert created.entities == [f"Patient/{record['id']}/_history/1"]
    assert created.reasons
    refused = events[6]
    assert refused.username == "officer"
    assert refused.reasons == ["role police may not read Patient"]


def test_browser_logins_logouts_and_refusals_are_audited(app: Flask) -> None:
    start = _size(app)
    client = app.test_client()
    login(client, "examiner", "wrong password here")
    login(client, "examiner", PASSWORD)
    client.get("/admin/users")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    entries = _new_entries(app, start)
    events = [(e.subtype, e.outcome, e.username) for e in entries]
    assert events == [
        ("login", "4", "examiner"),
        # The second factor given, then the session opened.
        ("login", "0", "examiner"),
        ("login", "0", "examiner"),
        ("search-type", "4", "examiner"),
        ("logout", "0", "examiner"),
    ]
    assert entries[1].outcome_desc == "sign-in: second factor by authenticator app"


def test_a_failed_write_is_audited_as_failed_and_nothing_else_remains(
    app: Flask, client: FlaskClient, world: World
) -> None:
    start = _size(app)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient("SA-FAIL-0001"), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Patient", "gender": "banana"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    assert api(client, "POST", "/fhir", world["examiner"].token, bundle).status_code == 422
    events = _new_entries(app, start)
    assert [(e.subtype, e.outcome) for e in events] == [("create", "4")]
    assert "entry 1" in (events[0].outcome_desc or "")


def test_the_trail_holds_no_clinical_content(app: Flask, client: FlaskClient, world: World) -> None:
    token = world["examiner"].token
    record = create(
        client,
        token,
        patient("SA-PRIVATE-7777", name=[{"family": "Confidentialname"}], birthDate="1990-02-03"),
    )
    create(client, token, observation(record["id"], value=123.5))
    api(client, "GET", "/fhir/Patient?identifier=SA-PRIVATE-7777", token)
    api(
        client,
        "GET",
        "/fhir/Patient?identifier=https://forensic-care.org/fhir/sid/case-reference|SA-PRIVATE-7777",
        token,
    )
    dump = json.dumps([e.leaf_fields() for e in _entries(app)])
    for secret in ("Confidentialname", "SA-PRIVATE-7777", "1990-02-03", "123.5"):
        assert secret not in dump
    assert "identifier=[redacted]" in dump


def test_auditors_read_the_trail_as_fhir_audit_events(
    app: Flask, client: FlaskClient, world: World
) -> None:
    record = create(client, world["examiner"].token, patient("SA-AE-0001"))
    bundle = api(
        client, "GET", f"/fhir/AuditEvent?entity=Patient/{record['id']}", world["auditor"].token
    ).get_json()
    events = [e["resource"] for e in bundle["entry"]]
    assert [e["subtype"][0]["code"] for e in events] == ["create"]
    event = events[0]
    assert event["agent"][0]["who"]["identifier"]["value"] == "examiner"
    assert event["entity"][0]["what"]["reference"] == f"Patient/{record['id']}/_history/1"
    by_user = api(
        client, "GET", "/fhir/AuditEvent?altid=examiner&outcome=0&_count=2", world["auditor"].token
    ).get_json()
    assert len(by_user["entry"]) == 2
    assert all(e["resource"]["agent"][0]["altId"] == "examiner" for e in by_user["entry"])
    refused = api(client, "GET", "/fhir/AuditEvent?outcome=4", world["auditor"].token).get_json()
    assert all(e["resource"]["outcome"] == "4" for e in refused["entry"])


def test_audit_failure_makes_the_action_fail(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """A database that refuses audit rows: the create must fail and leave nothing."""
    with engine.begin() as connection:
        refuse_audit_rows(connection, BACKEND)
        before = connection.exec_driver_sql("SELECT count(*) FROM fhir_resources").scalar()
    response = api(client, "POST", "/fhir/Patient", world["examiner"].token, patient("SA-NOAUDIT"))
    assert response.status_code == 500
    assert response.get_json()["resourceType"] == "OperationOutcome"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM fhir_resources").scalar() == before


def _verify(app: Flask) -> tuple[int, str]:
    from clinic.audit.services import verify_audit_trail
    from clinic.core.db import db

    with app.app_context():
        report = verify_audit_trail(db.session)
    return (0 if report.is_valid else 1), report.problem or ""


def _tamper(engine: sa.Engine, statement: str) -> None:
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql(
                "SET LOCAL session_replication_role = replica"
            )  # bypass the append-only triggers
            connection.exec_driver_sql(statement)
        else:
            triggers = [
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
                )
            ]
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
            connection.exec_driver_sql(statement)
            for sql in triggers:
                connection.exec_driver_sql(sql)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_events SET outcome = '8' WHERE log_index = 3", "entry 3 does not match"),
        (
            "UPDATE audit_events SET username = 'someone.else' WHERE log_index = 0",
            "entry 0 does not match",
        ),
        ("DELETE FROM audit_events WHERE log_index = 2", "entry 2 is missing"),
        (
            "DELETE FROM audit_events WHERE log_index = (SELECT max(log_index) FROM audit_events)",
            "stored subtree hashes beyond the last entry",
        ),
        (
            "UPDATE audit_events SET log_index = log_index + 1000 WHERE log_index = 1",
            "entry 1 is missing",
        ),
    ],
)
def test_tampering_with_the_stored_trail_is_detected(
    app: Flask, engine: sa.Engine, statement: str, problem: str
) -> None:
    assert _verify(app) == (0, "")
    _tamper(engine, statement)
    status, message = _verify(app)
    assert status == 1
    assert problem in message


def test_rewriting_an_entry_and_its_hash_is_caught_by_the_stored_tree(
    app: Flask, engine: sa.Engine
) -> None:
    from clinic.audit.services import audit_leaf
    from clinic.core.db import db
    from clinic.ledger.merkle import leaf_hash

    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.log_index == 1))
        assert entry is not None
        entry.username = "forged"
        forged_hash = leaf_hash(audit_leaf(entry)).hex()
        db.session.rollback()
    _tamper(
        engine,
        f"UPDATE audit_events SET username = 'forged', leaf_hash = '{forged_hash}' WHERE log_index = 1",
    )
    status, message = _verify(app)
    assert status == 1
    assert "stored subtree hash (0, 1)" in message


def test_verifying_the_trail_is_itself_audited(app: Flask) -> None:
    client = app.test_client()
    login(client, "auditor", PASSWORD)
    start = _size(app)
    page = client.get("/audit/verify")
    assert page.status_code == 200
    assert "The audit log is intact" in page.get_data(as_text=True)
    events = _new_entries(app, start)
    assert [(e.subtype, e.outcome_desc) for e in events] == [("read", "verification: intact")]
