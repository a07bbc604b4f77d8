"""The database itself: migrations are the schema, SQLite settings, append-only tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask

import clinic.models  # noqa: F401
from clinic.core.db import Base
from tests.conftest import BACKEND


def _same_type(context, inspected, metadata, inspected_type, metadata_type):  # type: ignore[no-untyped-def]
    """SQLite ignores VARCHAR lengths, and migration 0004 widens custody_events.action
    on PostgreSQL only (a SQLite table copy would drop the append-only triggers):
    there, a length difference is no difference. Anything else is compared as usual."""
    if (
        context.dialect.name == "sqlite"
        and isinstance(inspected_type, sa.String)
        and isinstance(metadata_type, sa.String)
    ):
        return False
    return None


def test_migrations_produce_exactly_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": _same_type})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite pragmas")
def test_sqlite_runs_with_wal_full_sync_and_foreign_keys(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = '0'",
        "DELETE FROM audit_events",
        "UPDATE fhir_resource_versions SET content = '{}'",
        "DELETE FROM fhir_resource_versions",
        "DELETE FROM users",
        "DELETE FROM organizations",
        "DELETE FROM fhir_resources",
    ],
)
def test_append_only_tables_refuse_changes_in_the_database(
    engine: sa.Engine, statement: str
) -> None:
    with pytest.raises(sa.exc.DatabaseError) as raised, engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert "not allowed" in str(raised.value)


def test_app_refuses_to_start_on_an_out_of_date_schema(tmp_path, databases) -> None:  # type: ignore[no-untyped-def]
    from clinic import create_app

    if BACKEND == "postgresql":
        url = databases.new_database()
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    try:
        with pytest.raises(SystemExit) as stopped:
            create_app(
                {
                    "DATABASE_URL": url,
                    "INSTANCE_PATH": tmp_path / "i",
                    "SECRET_KEY": "x",
                    "TRUSTED_HOSTS": ["localhost"],
                }
            )
        assert "clinic db upgrade" in str(stopped.value)
    finally:
        if BACKEND == "postgresql":
            databases.drop(url)


def test_requests_are_refused_when_the_cli_app_sees_an_old_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from clinic import create_app

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    app: Flask = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": tmp_path / "i",
            "SECRET_KEY": "x",
            "TRUSTED_HOSTS": ["localhost"],
            "CHECK_SCHEMA": "on-request",
        }
    )
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert b"clinic db upgrade" in response.data


def test_upgrading_an_existing_log_backfills_its_stored_hashes(
    app, client, world, databases
) -> None:  # type: ignore[no-untyped-def]
    """A log written before migration 0002 gets exactly the subtree hashes that
    appends write today, so its proofs and verification work after the upgrade."""
    from alembic import command
    from alembic.config import Config

    from clinic.core.db import db, make_engine
    from clinic.core.schema import MIGRATIONS
    from tests.helpers import create, patient

    for index in range(4):
        create(client, world["examiner"].token, patient(f"SA-MIGRATE-{index}"))
    with db.engine(app).connect() as source:
        # Values as the database returns them, inserted again without conversion.
        entries = [
            dict(row._mapping) for row in source.exec_driver_sql("SELECT * FROM audit_events")
        ]
        heads = [dict(row._mapping) for row in source.exec_driver_sql("SELECT * FROM log_heads")]
        expected = sorted(
            (row[0], row[1], row[2], bytes(row[3]))
            for row in source.exec_driver_sql(
                "SELECT log_name, level, node_index, hash FROM log_nodes WHERE log_name = 'audit'"
            )
        )
    url = databases.new_empty_database()
    engine = make_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = engine
        command.upgrade(config, "0001")
        with engine.begin() as target:
            for table, rows in (("audit_events", entries), ("log_heads", heads)):
                columns = list(rows[0])
                names, values = ", ".join(columns), ", ".join(f":{c}" for c in columns)
                target.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({values})"), rows)
        command.upgrade(config, "head")
        with engine.connect() as target:
            backfilled = sorted(
                (row[0], row[1], row[2], bytes(row[3]))
                for row in target.exec_driver_sql(
                    "SELECT log_name, level, node_index, hash FROM log_nodes"
                )
            )
        assert backfilled == expected
    finally:
        engine.dispose()
        if BACKEND == "postgresql":
            databases.drop(url)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE custody_events SET note = 'rewritten'",
        "DELETE FROM custody_events",
        "DELETE FROM evidence_items",
        "UPDATE case_reporting_mode_changes SET reason = 'rewritten'",
        "DELETE FROM case_reporting_mode_changes",
        "DELETE FROM cases",
        "DELETE FROM storage_locations",
    ],
)
def test_evidence_and_case_tables_keep_their_triggers_after_every_migration(
    app, engine: sa.Engine, statement: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import collect_kit, open_case

    collect_kit(app, "examiner", open_case(app).id)
    with pytest.raises(sa.exc.DatabaseError) as raised, engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert "not allowed" in str(raised.value)


def test_sqlite_files_are_readable_by_their_owner_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The embedded database holds everything: it, its -wal and its -shm are 0600
    whatever the umask, from the first start; a file made 0644 before is narrowed."""
    import os
    import stat

    from clinic import create_app
    from clinic.core.db import db
    from clinic.core.schema import upgrade

    instance = tmp_path / "instance"
    previous = os.umask(0o022)
    try:
        app: Flask = create_app(
            {
                "INSTANCE_PATH": instance,
                "SECRET_KEY": "x",
                "CHECK_SCHEMA": False,
                "TRUSTED_HOSTS": ["localhost"],
            }
        )
        upgrade(app)
        with db.engine(app).connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM users").scalar()
            files = sorted(instance.glob("clinic.sqlite3*"))
            assert {f.name for f in files} >= {
                "clinic.sqlite3",
                "clinic.sqlite3-wal",
                "clinic.sqlite3-shm",
            }
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        db.dispose(app)
        # An older deployment's file, left readable by others, is narrowed at start.
        (instance / "clinic.sqlite3").chmod(0o644)
        again: Flask = create_app(
            {"INSTANCE_PATH": instance, "SECRET_KEY": "x", "TRUSTED_HOSTS": ["localhost"]}
        )
        assert stat.S_IMODE((instance / "clinic.sqlite3").stat().st_mode) == 0o600
        db.dispose(again)
    finally:
        os.umask(previous)


def _stored_nodes(engine: sa.Engine) -> list[tuple[str, int, int, bytes]]:
    with engine.connect() as connection:
        return sorted(
            (row[0], row[1], row[2], bytes(row[3]))
            for row in connection.exec_driver_sql(
                "SELECT log_name, level, node_index, hash FROM log_nodes"
            )
        )


def _nodes_read_from_the_key(engine: sa.Engine) -> bool:
    """Whether `log_nodes` keeps its hashes in the primary key's b-tree."""
    with engine.connect() as connection:
        if BACKEND == "postgresql":
            definition = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'pk_log_nodes'"
            ).scalar_one()
            return "INCLUDE (hash)" in definition
        table = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'log_nodes'"
        ).scalar_one()
        return "WITHOUT ROWID" in table


def _assert_nodes_append_only(engine: sa.Engine, duplicate: dict[str, object]) -> None:
    for statement in ("UPDATE log_nodes SET hash = hash", "DELETE FROM log_nodes"):
        with pytest.raises(sa.exc.DatabaseError) as raised, engine.begin() as connection:
            connection.exec_driver_sql(statement)
        assert "not allowed" in str(raised.value)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO log_nodes (log_name, level, node_index, hash) "
                "VALUES (:log_name, :level, :node_index, :hash)"
            ),
            duplicate,
        )


def test_migration_0026_keeps_the_stored_hashes_and_puts_them_in_the_key(databases) -> None:  # type: ignore[no-untyped-def]
    """A log's stored subtree hashes come through migration 0026 (and back down)
    unchanged, still append-only and unique; after it they are read from the
    primary key alone (SQLite: WITHOUT ROWID; PostgreSQL: INCLUDE (hash))."""
    from alembic import command
    from alembic.config import Config

    from clinic.core.db import make_engine
    from clinic.core.schema import MIGRATIONS
    from clinic.ledger.merkle import CompactRange, leaf_hash

    url = databases.new_empty_database()
    engine = make_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = engine
        command.upgrade(config, "0025")
        compact, rows = CompactRange(), []
        for log_name in ("audit", "custody"):
            compact = CompactRange()
            for index in range(13):
                for (level, node_index), digest in compact.append(
                    leaf_hash(f"{log_name}-{index}".encode())
                ):
                    rows.append(
                        {
                            "log_name": log_name,
                            "level": level,
                            "node_index": node_index,
                            "hash": digest,
                        }
                    )
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO log_nodes (log_name, level, node_index, hash) "
                    "VALUES (:log_name, :level, :node_index, :hash)"
                ),
                rows,
            )
        expected = sorted(
            (row["log_name"], row["level"], row["node_index"], row["hash"]) for row in rows
        )
        assert _stored_nodes(engine) == expected
        assert not _nodes_read_from_the_key(engine)

        command.upgrade(config, "0026")
        assert _stored_nodes(engine) == expected
        assert _nodes_read_from_the_key(engine)
        _assert_nodes_append_only(engine, rows[5])

        command.downgrade(config, "0025")
        assert _stored_nodes(engine) == expected
        assert not _nodes_read_from_the_key(engine)
        _assert_nodes_append_only(engine, rows[5])
    finally:
        engine.dispose()
        if BACKEND == "postgresql":
            databases.drop(url)
