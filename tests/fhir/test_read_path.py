"""The read path's shortcuts refuse what the ordinary path refuses: a read serves
the stored bytes only when the decision withheld nothing, the token and its user
are checked on every request, and the audit record is written, in the read's own
transaction, before anything is served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import Decision
from clinic.access.policy import OMIT_NARRATIVE
from tests.conftest import BACKEND, World
from tests.helpers import api, create, patient, refuse_audit_rows

NARRATIVE = {
    "status": "generated",
    "div": '<div xmlns="http://www.w3.org/1999/xhtml">Seen at the North Referral Centre</div>',
}


def _stored_text(engine: sa.Engine, logical_id: str) -> str:
    with engine.connect() as connection:
        text: str = connection.execute(
            sa.text(
                "SELECT content FROM fhir_resource_versions"
                " WHERE resource_type = 'Patient' AND logical_id = :id"
            ),
            {"id": logical_id},
        ).scalar_one()
    return text


def test_a_read_serves_the_stored_bytes(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    record = create(client, world["examiner"].token, patient("SA-BYTES-0001"))
    response = api(client, "GET", f"/fhir/Patient/{record['id']}", world["examiner"].token)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == _stored_text(engine, record["id"])
    found = api(client, "GET", "/fhir/Patient?identifier=SA-BYTES-0001", world["examiner"].token)
    entry = found.get_json()["entry"][0]
    assert entry["resource"] == json.loads(_stored_text(engine, record["id"]))
    assert entry["fullUrl"].endswith(f"/Patient/{record['id']}")


def test_an_obligation_changes_what_is_served_never_the_stored_bytes(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """A decision that withholds part of a record (here its narrative) is served
    from the content it changed, not from the bytes the store read."""
    from clinic.core.db import db
    from clinic.fhir.services import fulfil
    from clinic.fhir.store import ResourceStore

    record = create(client, world["examiner"].token, patient("SA-BYTES-0002", text=NARRATIVE))
    stored = _stored_text(engine, record["id"])
    assert "North Referral Centre" in stored
    with app.app_context():
        store = ResourceStore(db.session, app.extensions["clinic.profiles"])
        version = store.current("Patient", record["id"])
        assert version is not None
        assert version.json_text() == stored
        withheld = fulfil(Decision(True, ("test",), obligations=(OMIT_NARRATIVE,)), version)
        assert "North Referral Centre" not in withheld.json_text()
        assert json.loads(withheld.json_text()) == withheld.content
        kept = fulfil(Decision(True, ("test",)), version)
        assert kept.json_text() == stored


def test_a_revoked_token_or_a_deactivated_user_fails_on_the_next_read(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from clinic.accounts.models import ApiToken, User
    from clinic.accounts.services import actor_for, create_token, revoke_token
    from clinic.cli import unit_of_work
    from clinic.core.clock import utcnow

    record = create(client, world["examiner"].token, patient("SA-TOKEN-0001"))
    path = f"/fhir/Patient/{record['id']}"
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.get(User, world["examiner"].user_id)
        assert user is not None
        first = create_token(uow, actor=actor_for(user), name="a", days=1, max_days=365)
        second = create_token(uow, actor=actor_for(user), name="b", days=1, max_days=365)
        first_id, first_secret = first.token.id, first.secret
        second_id, second_secret = second.token.id, second.secret
    assert api(client, "GET", path, first_secret).status_code == 200
    with app.app_context(), unit_of_work() as uow:
        revoke_token(uow, first_id, actor=actor_for(uow.session.get(User, user.id)))  # type: ignore[arg-type]
    refused = api(client, "GET", path, first_secret)
    assert refused.status_code == 401
    assert record["id"] not in refused.get_data(as_text=True)
    assert api(client, "GET", path, second_secret).status_code == 200
    with app.app_context(), unit_of_work() as uow:
        token = uow.session.get(ApiToken, second_id)
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
    assert api(client, "GET", path, second_secret).status_code == 401
    assert api(client, "GET", path, world["examiner"].token).status_code == 200
    with app.app_context(), unit_of_work() as uow:
        examiner = uow.session.get(User, world["examiner"].user_id)
        assert examiner is not None
        examiner.is_active = False
    assert api(client, "GET", path, world["examiner"].token).status_code == 401


def test_a_read_is_refused_to_another_site_and_to_the_police_without_a_release(
    client: FlaskClient, world: World
) -> None:
    record = create(client, world["examiner"].token, patient("SA-REFUSED-0001"))
    for intruder in ("examiner.south", "officer", "counsellor"):
        response = api(client, "GET", f"/fhir/Patient/{record['id']}", world[intruder].token)
        assert response.status_code == 404, intruder
        assert "SA-REFUSED-0001" not in response.get_data(as_text=True)


def _audit_rows(engine: sa.Engine, entity: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT subtype, outcome, entities FROM audit_events ORDER BY id")
        ).all()
    return [(subtype, outcome) for subtype, outcome, entities in rows if entity in entities]


def test_a_served_read_has_its_audit_record_committed(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    record = create(client, world["examiner"].token, patient("SA-AUDITED-0001"))
    response = api(client, "GET", f"/fhir/Patient/{record['id']}", world["examiner"].token)
    assert response.status_code == 200
    # Seen from another connection as soon as the answer is out: committed.
    assert _audit_rows(engine, f"Patient/{record['id']}/_history/1") == [
        ("create", "0"),
        ("read", "0"),
    ]


def test_a_read_whose_audit_record_cannot_be_written_is_not_served(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """The audit row goes to the database with the COMMIT (in one round trip on
    PostgreSQL): a refused row still fails the read, and nothing of the record is
    sent."""
    record = create(client, world["examiner"].token, patient("SA-NOAUDIT-0002"))
    with engine.begin() as connection:
        refuse_audit_rows(connection, BACKEND)
    for path in (f"/fhir/Patient/{record['id']}", "/fhir/Patient?identifier=SA-NOAUDIT-0002"):
        response = api(client, "GET", path, world["examiner"].token)
        assert response.status_code == 500, path
        assert response.get_json()["resourceType"] == "OperationOutcome"
        assert "SA-NOAUDIT-0002" not in response.get_data(as_text=True)
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql("DROP TRIGGER refuse_audit ON audit_events")
            connection.exec_driver_sql("DROP FUNCTION refuse_audit()")
        else:
            connection.exec_driver_sql("DROP TRIGGER refuse_audit")
    # The same connections serve the next read, and it is audited.
    response = api(client, "GET", f"/fhir/Patient/{record['id']}", world["examiner"].token)
    assert response.status_code == 200
    assert ("read", "0") in _audit_rows(engine, f"Patient/{record['id']}/_history/1")


@pytest.mark.skipif(BACKEND != "postgresql", reason="a server that drops connections")
def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(
    client: FlaskClient, world: World, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections are pinged when they come out of the pool after being idle (here
    after any idle time at all): one the server ended is replaced, not used."""
    import clinic.core.db

    record = create(client, world["examiner"].token, patient("SA-PING-0001"))
    path = f"/fhir/Patient/{record['id']}"
    assert api(client, "GET", path, world["examiner"].token).status_code == 200
    monkeypatch.setattr(clinic.core.db, "PING_IDLE_AFTER", 0.0)
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as connection:
        ended = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar()
    assert ended
    assert api(client, "GET", path, world["examiner"].token).status_code == 200


@pytest.mark.skipif(BACKEND != "postgresql", reason="a server that drops connections")
def test_a_connection_dropped_too_recently_to_be_pinged_is_a_503_that_changes_nothing(
    client: FlaskClient, world: World, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection the server ends within a second of its last use is not pinged:
    the request that takes it fails, with 503 and Retry-After (never 500), writes
    nothing, and the very next request is served on a new connection."""
    import clinic.core.db

    token = world["examiner"].token
    record = create(client, token, patient("SA-DROP-0001"))
    path = f"/fhir/Patient/{record['id']}"
    assert api(client, "GET", path, token).status_code == 200
    monkeypatch.setattr(clinic.core.db, "PING_IDLE_AFTER", 3600.0)

    def end_every_connection() -> None:
        other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        with other.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar()
        other.dispose()

    def patients() -> int:
        with engine.connect() as connection:
            return int(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM fhir_resources WHERE resource_type = 'Patient'"
                ).scalar_one()
            )

    end_every_connection()
    refused = api(client, "GET", path, token)
    assert refused.status_code == 503, refused.get_data(as_text=True)
    assert refused.headers["Retry-After"] == "1"
    assert refused.get_json()["issue"][0]["code"] == "transient"
    assert api(client, "GET", path, token).status_code == 200

    before = patients()
    end_every_connection()
    written = api(client, "POST", "/fhir/Patient", token, patient("SA-DROP-0002"))
    assert written.status_code == 503
    assert patients() == before
    assert api(client, "GET", path, token).status_code == 200


@contextmanager
def at_commit(engine: sa.Engine, body: str) -> Iterator[None]:
    """While inside, every COMMIT that wrote an audit row runs the PL/pgSQL `body`
    (a deferred constraint trigger on audit_events, fired by the COMMIT)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION at_commit() RETURNS trigger LANGUAGE plpgsql"
            f" AS $$ BEGIN {body} END $$"
        )
        connection.exec_driver_sql(
            "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON audit_events"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION at_commit()"
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER at_commit ON audit_events")
            connection.exec_driver_sql("DROP FUNCTION at_commit()")


@pytest.mark.skipif(BACKEND != "postgresql", reason="a server that drops connections")
def test_a_connection_broken_during_the_commit_never_says_nothing_changed(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """The server ends the connection while it commits (a deferred trigger, fired by
    the COMMIT, terminates its own backend): the answer never came, so a change is
    answered "not known whether it was saved", never "nothing changed" nor "try
    again"; a read, which may be asked again, is a 503; the next request is
    served."""
    from tests.conftest import PASSWORD
    from tests.helpers import csrf_token, login

    token = world["examiner"].token
    record = create(client, token, patient("SA-COMMIT-0001"))
    path = f"/fhir/Patient/{record['id']}"
    browser = app.test_client()
    login(browser, "examiner", PASSWORD)
    form_token = csrf_token(browser, "/cases/new")
    with at_commit(engine, "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL;"):
        written = api(client, "POST", "/fhir/Patient", token, patient("SA-COMMIT-0002"))
        assert written.status_code == 500, written.get_data(as_text=True)
        said = written.get_json()["issue"][0]["diagnostics"]
        assert "not known" in said
        assert "changed nothing" not in said
        assert "Retry-After" not in written.headers

        read = api(client, "GET", path, token)
        assert read.status_code == 503
        assert read.headers["Retry-After"] == "1"

        # A search sent by POST only reads: it may be asked again.
        searched = api(
            client,
            "POST",
            "/fhir/Patient/_search",
            token,
            "identifier=SA-COMMIT-0001",
            Content_Type="application/x-www-form-urlencoded",
        )
        assert searched.status_code == 503, searched.get_data(as_text=True)
        assert searched.headers["Retry-After"] == "1"

        page = browser.post(
            "/cases/new",
            data={
                "csrf_token": form_token,
                "identity": "anonymous",
                "reporting_mode": "anonymous",
                "age_years": "29",
            },
        )
        assert page.status_code == 500
        text = page.get_data(as_text=True)
        assert "Not known whether it was saved" in text
        assert "Nothing was changed" not in text
    assert api(client, "GET", path, token).status_code == 200


@pytest.mark.skipif(BACKEND != "postgresql", reason="a deferred trigger fired by the COMMIT")
def test_a_transaction_given_up_at_the_commit_is_a_503_that_changed_nothing(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """A serialisation failure the server raises at the COMMIT (sent in one pipeline
    with the audit rows) rolled everything back: "try again", never a 500."""
    token = world["examiner"].token
    with engine.connect() as connection:
        before = connection.exec_driver_sql("SELECT count(*) FROM fhir_resources").scalar()
    with at_commit(engine, "RAISE EXCEPTION 'could not serialise' USING ERRCODE = '40001';"):
        written = api(client, "POST", "/fhir/Patient", token, patient("SA-COMMIT-0003"))
    assert written.status_code == 503, written.get_data(as_text=True)
    assert written.headers["Retry-After"] == "1"
    assert "changed nothing" in written.get_json()["issue"][0]["diagnostics"]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM fhir_resources").scalar() == before
    assert api(client, "POST", "/fhir/Patient", token, patient("SA-COMMIT-0003")).status_code == 201


def test_a_statement_the_database_refuses_is_a_500_never_try_again(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """Only a database that went away or is busy is 503 ("try again"): a table that
    is missing (a migration not applied) is a fault, and retrying cannot mend it."""
    token = world["examiner"].token
    create(client, token, patient("SA-FAULT-0001"))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE fhir_index_tokens")
    response = api(client, "GET", "/fhir/Patient?identifier=SA-FAULT-0001", token)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert response.get_json()["issue"][0]["code"] == "exception"


@pytest.mark.skipif(BACKEND != "postgresql", reason="psycopg's pipeline mode")
def test_a_connection_goes_back_to_the_pool_out_of_pipeline_mode(
    client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    """The audit rows and the COMMIT go in one pipeline, which is left before the
    connection returns to the pool: the next request that takes it (another
    thread's) is never in the middle of this one's pipeline."""
    from psycopg import pq

    record = create(client, world["examiner"].token, patient("SA-PIPE-0001"))
    returned: list[tuple[int, int]] = []

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            pgconn = dbapi_connection.pgconn
            returned.append((pgconn.pipeline_status, pgconn.transaction_status))

    sa.event.listen(engine, "checkin", on_checkin)
    try:
        for _ in range(3):
            path = f"/fhir/Patient/{record['id']}"
            assert api(client, "GET", path, world["examiner"].token).status_code == 200
    finally:
        sa.event.remove(engine, "checkin", on_checkin)
    assert returned
    assert all(
        status == (pq.PipelineStatus.OFF, pq.TransactionStatus.IDLE) for status in returned
    ), returned
