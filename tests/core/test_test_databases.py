"""The suite's own databases (tests/conftest.py, DatabaseFactory): on PostgreSQL a
database a test is done with is refilled to the seeded state and handed to the next
test, which must then find exactly what a fresh copy of the template holds; a
database whose schema a test changed is dropped, never handed on."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from clinic import create_app
from clinic.core.db import db
from tests.conftest import BACKEND, DatabaseFactory, World
from tests.helpers import api, create, patient

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql", reason="SQLite copies a file for every test; nothing is reused"
)


def _contents(url: str) -> dict[str, str]:
    """A digest of every table's rows and every sequence's value."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            tables = connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).scalars()
            found = {
                table: str(
                    connection.exec_driver_sql(
                        f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                        f"ORDER BY t::text)), '') FROM public.\"{table}\" AS t"
                    ).scalar()
                )
                for table in tables
            }
            for name, last, called in connection.exec_driver_sql(
                "SELECT sequencename, last_value, last_value IS NOT NULL FROM pg_sequences "
                "WHERE schemaname = 'public'"
            ):
                found[f"sequence {name}"] = f"{last}:{called}"
            return found
    finally:
        engine.dispose()


def _write_through_the_app(url: str, instance: Path, world: World) -> None:
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "test-secret",
            "TESTING": True,
            "LOG_AUDIT_BATCH_SECONDS": 0,
            "PASSKEY_REQUIRED_ROLES": (),
        }
    )
    try:
        client = app.test_client()
        created = create(client, world["examiner"].token, patient("SA-POOL-0001"))
        read = api(client, "GET", f"/fhir/Patient/{created['id']}", world["examiner"].token)
        assert read.status_code == 200
    finally:
        db.dispose(app)


def test_a_database_given_back_holds_exactly_what_a_fresh_copy_holds(
    databases: DatabaseFactory, world: World, tmp_path: Path
) -> None:
    fresh = databases.new_database()
    used = again = databases.lease()
    try:
        seeded = _contents(fresh)
        assert _contents(used) == seeded
        _write_through_the_app(used, tmp_path / "instance", world)
        written = _contents(used)
        changed = {table for table in seeded if written[table] != seeded[table]}
        # A Patient, its search index, its audit record and the log's tree.
        assert {"fhir_resources", "audit_events"} <= changed, changed
        databases.give_back(used)
        again = databases.lease()
        # Reused, not copied again, under a URL of its own (see lease()).
        assert sa.make_url(again).database == sa.make_url(used).database
        assert again != used
        assert _contents(again) == seeded
        # And it works as a fresh one does: the same write succeeds again.
        _write_through_the_app(again, tmp_path / "again", world)
    finally:
        databases.drop(fresh)
        databases.give_back(again)


def test_a_database_whose_schema_a_test_changed_is_dropped(databases: DatabaseFactory) -> None:
    used = databases.lease()
    engine = sa.create_engine(used, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE INDEX pool_probe ON users (username, id)")
    finally:
        engine.dispose()
    databases.give_back(used)
    assert used not in databases._free
    assert sa.make_url(used).database not in databases.created
    admin = sa.create_engine(sa.make_url(used).set(database="postgres"))
    try:
        with admin.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_database WHERE datname = %(name)s",
                {"name": sa.make_url(used).database},
            ).scalar()
    finally:
        admin.dispose()
    assert exists == 0
