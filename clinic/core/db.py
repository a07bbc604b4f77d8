"""Database foundations: declarative base, column types, engine and sessions.

The engine is bound per application (`Database.init_app`), never at import time.
SQLite runs with WAL, `synchronous=FULL`, foreign keys on, and takes its write lock
at BEGIN so that two writers never deadlock on a lock upgrade.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use clinic.core.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONText(sa.types.TypeDecorator[Any]):
    """JSON kept as text so that stored bytes are exactly what was written."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else json.loads(value)


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` and `postgresql://` forms for psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            make_private(Path(database))
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(url)
    _ping_idle_connections(engine)
    return engine


# A pooled connection is pinged before it is handed out only when it has been idle
# longer than this. A connection given back a moment ago by the previous request
# is alive but for a server that went away within that second: that request fails
# (and changes nothing), and the pool replaces its connections. Pinging every
# checkout (pool_pre_ping) would add a round trip to every request.
PING_IDLE_AFTER = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    @sa.event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned < PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards it and checks out another (SQLAlchemy's own recipe).
            raise sa.exc.DisconnectionError(str(error)) from error


# PostgreSQL's codes for a server that cannot serve now, not for a faulty
# statement: a lost connection (class 08), a server shutting down or starting
# (57P01-57P03), and a transaction the server gave up to let others through
# (serialisation failure, deadlock, a lock not available).
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01", "55P03"})


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not serve the request now (it went
    away, or is busy), rather than that a statement is wrong: only then may the
    answer be "try again"."""
    if isinstance(error, sa.exc.DisconnectionError):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    # The driver's own error, wrapped by SQLAlchemy or (from the COMMIT sent in a
    # pipeline) not.
    state = getattr(getattr(error, "orig", error), "sqlstate", None)
    if state:
        return bool(state.startswith("08") or state in _UNAVAILABLE_STATES)
    if isinstance(error, sa.exc.OperationalError):
        # SQLite: another writer holds the lock; psycopg: no server to talk to.
        message = str(error.orig).lower()
        return message.startswith(("database is locked", "database is busy", "connection "))
    return False


_SERVER_ENDED_STATES = frozenset({"57P01", "57P02", "57P03"})


def connection_lost(error: BaseException, driver: Any = None) -> bool:
    """Whether `error` says the connection to the database broke (or the server
    ended it), so that the server's answer to what was last sent never came.
    `driver` is the driver's connection, when the error came from it directly."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if driver is not None and getattr(driver, "broken", False):
        return True
    state: str | None = getattr(getattr(error, "orig", error), "sqlstate", None)
    return state is not None and (state.startswith("08") or state in _SERVER_ENDED_STATES)


class CommitOutcomeUnknown(Exception):
    """The connection broke while the COMMIT was on its way: the database may have
    committed the transaction, or not. Saying "nothing changed" (or "try again")
    could make her record twice; the answer says it is not known."""


@contextmanager
def one_round_trip(session: Session) -> Iterator[Any]:
    """On PostgreSQL (psycopg), a context in which the statements sent and the
    COMMIT go to the server together, in one round trip (psycopg's pipeline mode).
    It yields the driver's connection, on which the caller commits inside the
    context: the commit waits for the server's answer to every statement, so an
    error in any fails it, and the COMMIT is as durable as ever (the server answers
    it once the WAL is flushed, synchronous_commit unchanged). The pipeline is left
    before the connection can go back to the pool. Elsewhere (SQLite) it yields
    None and does nothing."""
    if not session.in_transaction() or session.get_bind().dialect.driver != "psycopg":
        yield None
        return
    driver = session.connection().connection.driver_connection
    with driver.pipeline():  # type: ignore[union-attr]
        yield driver


def make_private(database: Path) -> None:
    """The database file readable and writable by its owner only (0600), created so
    before SQLite first opens it: SQLite gives its -wal and -shm files the mode of
    the database file. An existing file (and its -wal and -shm) is narrowed too."""
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    except FileNotFoundError:
        return  # no such folder: SQLite will say so when it connects
    for path in (database, *(Path(f"{database}{tail}") for tail in ("-wal", "-shm", "-journal"))):
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except FileNotFoundError:
            continue


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Every request appends to the audit log, so every transaction writes:
        # take the write lock up front instead of failing on upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Flask extension: one engine per app, one session per app context."""

    def __init__(self) -> None:
        self._engines: dict[int, Engine] = {}
        self._factories: dict[int, sessionmaker[Session]] = {}

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        self._engines[id(app)] = engine
        self._factories[id(app)] = sessionmaker(bind=engine, expire_on_commit=False)
        app.extensions["clinic.db"] = self
        app.teardown_appcontext(self._close_session)

    def engine(self, app: Flask) -> Engine:
        return self._engines[id(app)]

    def new_session(self, app: Flask) -> Session:
        return self._factories[id(app)]()

    @property
    def session(self) -> Session:
        """The session of the current app context (request or CLI command)."""
        from flask import current_app

        if "db_session" not in g:
            g.db_session = self.new_session(current_app._get_current_object())  # type: ignore[attr-defined]
        session: Session = g.db_session
        return session

    def _close_session(self, _exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    def dispose(self, app: Flask) -> None:
        engine = self._engines.pop(id(app), None)
        self._factories.pop(id(app), None)
        if engine is not None:
            engine.dispose()


db = Database()


@contextmanager
def nested_session(app: Flask) -> Iterator[Session]:
    """A separate session for work that must not share the caller's transaction."""
    session = db.new_session(app)
    try:
        yield session
    finally:
        session.close()
