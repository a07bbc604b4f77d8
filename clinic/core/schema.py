"""Alembic is the only way the schema is made. The app refuses to start on a
database that is not at the newest revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from clinic.core.db import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutOfDate(Exception):
    pass


def alembic_config(app: Flask) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine(app)
    return config


def head_revision(app: Flask) -> str | None:
    return ScriptDirectory.from_config(alembic_config(app)).get_current_head()


def current_revision(app: Flask) -> str | None:
    with db.engine(app).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema_current(app: Flask) -> None:
    current, head = current_revision(app), head_revision(app)
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or '(empty)'} but this version of "
            f"the clinic needs {head}. Back up the database, then run: clinic db upgrade"
        )


def upgrade(app: Flask, revision: str = "head") -> None:
    command.upgrade(alembic_config(app), revision)


def refuse_requests_until_current(app: Flask) -> None:
    state = {"checked": False}

    @app.before_request
    def _schema_gate() -> tuple[str, int] | None:
        if state["checked"]:
            return None
        try:
            check_schema_current(app)
        except SchemaOutOfDate as error:
            return str(error), 503
        state["checked"] = True
        return None
