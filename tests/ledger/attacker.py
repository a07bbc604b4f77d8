"""What someone with the database's owner rights (not the instance folder) can do:
run any statement, the append-only triggers notwithstanding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tests.conftest import BACKEND


def as_database_owner(engine: sa.Engine, work: Callable[[sa.Connection], Any]) -> Any:
    """Run `work` in one transaction with the append-only protection off (a
    replica session on PostgreSQL; the triggers dropped and recreated on SQLite)."""
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            return work(connection)
        triggers = [
            (name, sql)
            for name, sql in connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            )
        ]
        for name, _ in triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        result = work(connection)
        for _, sql in triggers:
            connection.exec_driver_sql(sql)
        return result
