from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import clinic.models  # noqa: F401 - every table on Base.metadata
from clinic.core.db import Base


def _pragma(connection: sa.Connection, pragma: str) -> None:
    """A pragma on the driver's own connection, outside any transaction (the
    engine begins each of its transactions with BEGIN IMMEDIATE)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table (copy, drop, rename): with foreign keys
        # enforced, dropping a table that rows of another refer to fails. They are
        # switched off for the migration (SQLite ignores the pragma inside a
        # transaction) and every reference is checked before it commits.
        _pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise sa.exc.IntegrityError(
                        "PRAGMA foreign_key_check",
                        None,
                        Exception(f"broken references: {broken[:5]}"),
                    )
    finally:
        if sqlite:
            _pragma(connection, "foreign_keys=ON")
