"""Fixtures: a real database per test (SQLite or PostgreSQL), a seeded world of
sites, forces, users and tokens, and the app with its client.

The database is chosen with CLINIC_TEST_DB=sqlite|postgresql. PostgreSQL is
reached through TEST_DATABASE_URL (an admin connection, default
postgresql://root@127.0.0.1:5432/postgres); the suite creates its own template
database, clones one per test, and drops them all. A missing server fails the
run: it is never skipped.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from clinic import create_app
from clinic.access.roles import OrganizationKind, Role
from clinic.core.clock import utcnow
from clinic.fhir.profiles import PROFILES_DIR
from tests.validator import Emitted, ValidatorMissing, errors, validate
from tests.validator.displays import directory_display_errors


class ClosingClient(FlaskClient):
    """The test client, closing each request's body once the app has answered.

    Werkzeug spools a test body over 500 KB (a photograph) to a temporary file and
    closes it only when the response is closed, which tests never do: the file was
    then closed by the garbage collector at a random later moment, and its
    ResourceWarning failed whichever test was running then.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        for answered in (*response.history, response):
            if answered.request is not None:
                answered.request.input_stream.close()
        return response


Flask.test_client_class = ClosingClient

BACKEND = os.environ.get("CLINIC_TEST_DB", "sqlite")
# The two legs of scripts/test share the machine's cores: property-based tests judge
# no example by its time (neither a deadline nor the "too slow" health check).
settings.register_profile("clinic", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("clinic")
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    username: str
    role: Role
    site: str  # organisation code
    user_id: str = ""
    token: str = ""


@dataclass
class World:
    """What every test database starts with."""

    organizations: dict[str, str] = field(default_factory=dict)  # code -> id
    people: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, username: str) -> Person:
        return self.people[username]


# Two clinic sites, two police forces and a lab; one user per role at NORTH,
# an examiner, counsellor and admin at SOUTH, and an officer in each force.
ORGANIZATIONS = (
    (OrganizationKind.SITE, "NORTH", "North Referral Centre"),
    (OrganizationKind.SITE, "SOUTH", "South Hospital Programme"),
    (OrganizationKind.POLICE, "RIVERPOL", "Riverside Police"),
    (OrganizationKind.POLICE, "HILLPOL", "Hillside Constabulary"),
    (OrganizationKind.LAB, "FORLAB", "Forensic Laboratory"),
)
PEOPLE = (
    ("examiner", Role.EXAMINER, "NORTH"),
    ("counsellor", Role.COUNSELLOR, "NORTH"),
    ("custodian", Role.CUSTODIAN, "NORTH"),
    ("admin", Role.ADMIN, "NORTH"),
    ("auditor", Role.AUDITOR, "NORTH"),
    ("officer", Role.POLICE, "RIVERPOL"),
    ("officer.hill", Role.POLICE, "HILLPOL"),
    ("examiner.south", Role.EXAMINER, "SOUTH"),
    ("counsellor.south", Role.COUNSELLOR, "SOUTH"),
    # A medical expert's account, within its period but serving no case yet (it
    # sees nothing); tests that need one bind it with `bind_expert` after her photo
    # consent names EXPERT_NAME.
    ("expert", Role.EXPERT, "NORTH"),
)
EXPERT_NAME = "Dr Ada Lovelace"


STORAGE_LOCATIONS = (
    ("NORTH", "Store A, shelf 2", "ambient"),
    ("NORTH", "Store A, freezer 2", "freezer"),
    ("NORTH", "Fridge 1", "fridge"),
    ("SOUTH", "South store", "ambient"),
)


def _seed(app: Flask) -> World:
    from clinic.accounts.factors import enrol_known_secret
    from clinic.accounts.services import actor_for, create_organization, create_token, create_user
    from clinic.cli import unit_of_work
    from clinic.evidence.models import StorageLocation
    from tests.helpers import totp_secret

    world = World()
    with app.app_context(), unit_of_work() as uow:
        registry = app.extensions["clinic.profiles"]
        for kind, code, name in ORGANIZATIONS:
            org = create_organization(uow, registry, actor=None, kind=kind, name=name, code=code)
            world.organizations[code] = org.id
        for username, role, code in PEOPLE:
            user = create_user(
                uow,
                actor=None,
                username=username,
                display_name=username.title(),
                role=role,
                organization_id=world.organizations[code],
                password=PASSWORD,
            )
            if role is Role.EXPERT:
                user.access_until = utcnow() + timedelta(days=365)
            # Every person has an authenticator app (tests.helpers.login gives its codes).
            enrol_known_secret(
                uow, user, secret=totp_secret(username), secret_key=app.config["SECRET_KEY"]
            )
            issued = create_token(uow, actor=actor_for(user), name="tests", days=30, max_days=365)
            world.people[username] = Person(username, role, code, user.id, issued.secret)
        for code, name, condition in STORAGE_LOCATIONS:
            uow.session.add(
                StorageLocation(
                    site_id=world.organizations[code],
                    name=name,
                    condition=condition,
                    is_active=True,
                )
            )
    return world


def bind_expert(app: Flask, case_id: str, username: str = "expert") -> None:
    """Give the World's expert the case whose photo consent names EXPERT_NAME, as
    `clinic.expert.services.appoint_expert` records it for a new account."""
    from clinic.accounts.models import User
    from clinic.cases.models import Case
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        assert case is not None
        assert user is not None
        user.expert_case_id = case.id
        user.expert_subject = f"Patient/{case.patient_id}"
        user.expert_consent_name = EXPERT_NAME


# On PostgreSQL, a copy of the seeded rows is kept in each database under this
# schema, so that a database a test is done with can be brought back to the seeded
# state and given to the next test (see DatabaseFactory.give_back).
SEED_SCHEMA = "clinic_test_seed"
# What a test could change besides rows: tables, columns (and their order),
# indexes, triggers, functions, constraints, grants, row security, types, schemas
# and the database's settings. A database whose fingerprint differs is dropped.
_FINGERPRINT = """
SELECT md5(coalesce(string_agg(item, '|' ORDER BY item), '')) FROM (
    SELECT 'c:' || n.nspname || '.' || c.relname || ':' || c.relkind::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'clinic_test_seed')
    UNION ALL
    SELECT 'a:' || c.relname || '.' || a.attnum::text || '.' || a.attname || ':'
        || format_type(a.atttypid, a.atttypmod)
        || ':' || a.attnotnull::text || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 't:' || pg_get_triggerdef(t.oid) || ':' || t.tgenabled::text
    FROM pg_trigger t
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'i:' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'r:' || c.relname || ':' || c.relrowsecurity::text || ':'
        || coalesce(array_to_string(c.relacl, ','), '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'y:' || t.typname FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'p:' || p.oid::regprocedure::text || ':' || md5(p.prosrc) FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'k:' || k.conname || ':' || pg_get_constraintdef(k.oid) FROM pg_constraint k
    JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'n:' || nspname FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_'
    UNION ALL
    SELECT 's:' || coalesce(array_to_string(setconfig, ','), '') FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS catalogue(item)
"""


class DatabaseFactory:
    """Makes a fresh, migrated, seeded database for each test.

    On PostgreSQL, dropping a database forces a checkpoint (about a second each on
    this machine, most of the PostgreSQL leg's time when every test dropped its
    own). A database a test is done with is instead brought back to the seeded
    state (every table emptied and refilled from the seeded rows kept beside it,
    every sequence set back) and handed to the next test, unless the test changed
    anything but rows: then it is dropped as before. The seeded rows, sequences and
    catalogue are those of the template every fresh copy is made from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = uuid.uuid4().hex[:8]
        self.template_url = ""
        self.world = World()
        self.created: list[str] = []
        self._free: list[str] = []  # seeded databases ready for the next test
        self._fingerprint = ""  # empty: databases are never reused
        self._refill: list[str] = []  # statements that bring a database back
        self._leases = 0

    def _app(self, url: str, instance: Path) -> Flask:
        return create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": instance,
                "SECRET_KEY": "test-secret",
                "CHECK_SCHEMA": False,
                "SESSION_COOKIE_SECURE": False,
                "FOR_CLI": True,  # builds databases as the command line does
            }
        )

    def build_template(self) -> None:
        from clinic.core.db import db
        from clinic.core.schema import upgrade

        if BACKEND == "postgresql":
            name = f"clinic_tpl_{self.run_id}"
            self._admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            self.template_url = _with_database(ADMIN_URL, name)
        else:
            self.template_url = f"sqlite:///{self.root / 'template.sqlite3'}"
        app = self._app(self.template_url, self.root / "template-instance")
        upgrade(app)
        self.world = _seed(app)
        # Closing the last connection checkpoints SQLite's WAL into the file we copy.
        db.dispose(app)
        if BACKEND == "postgresql":
            self._keep_seeded_rows()

    def _keep_seeded_rows(self) -> None:
        """Copy every seeded table into SEED_SCHEMA of the template, and write the
        statements that refill a database from it. Refilling needs a superuser
        (triggers, append-only ones included, are off while it runs); without one,
        databases are not reused."""
        engine = sa.create_engine(self.template_url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as connection:
                superuser = connection.exec_driver_sql(
                    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                ).scalar()
                if not superuser:
                    return
                tables = list(
                    connection.exec_driver_sql(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "ORDER BY tablename"
                    ).scalars()
                )
                connection.exec_driver_sql(f'CREATE SCHEMA "{SEED_SCHEMA}"')
                for table in tables:
                    connection.exec_driver_sql(
                        f'CREATE TABLE "{SEED_SCHEMA}"."{table}" AS TABLE public."{table}"'
                    )
                sequences = connection.exec_driver_sql(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                ).scalars()
                setvals = []
                for sequence in sequences:
                    last, called = connection.exec_driver_sql(
                        f'SELECT last_value, is_called FROM public."{sequence}"'
                    ).one()
                    setvals.append(
                        f"SELECT setval('public.\"{sequence}\"', {int(last)}, {bool(called)})"
                    )
                self._fingerprint = str(connection.exec_driver_sql(_FINGERPRINT).scalar())
        finally:
            engine.dispose()
        self._refill = [
            "SET LOCAL session_replication_role = replica",
            *(f'DELETE FROM public."{table}"' for table in tables),
            *(
                f'INSERT INTO public."{table}" OVERRIDING SYSTEM VALUE '
                f'SELECT * FROM "{SEED_SCHEMA}"."{table}"'
                for table in tables
            ),
            *setvals,
        ]

    def lease(self) -> str:
        """A seeded database for one test: one given back, else a fresh copy. Its
        URL is new each time (a connection parameter naming the lease), so that
        nothing the app keeps by database URL in the process (when it last
        integrated a log, say) outlives the test, as with a fresh database."""
        url = self._free.pop() if self._free else self.new_database()
        self._leases += 1
        if BACKEND != "postgresql":
            return url
        named = sa.make_url(url).update_query_dict(
            {"application_name": f"clinic-test-{self.run_id}-{self._leases}"}
        )
        return named.render_as_string(hide_password=False)

    def give_back(self, url: str) -> None:
        """The test is done with `url`: refilled for the next test, or dropped."""
        url = (
            sa.make_url(url)
            .difference_update_query(["application_name"])
            .render_as_string(hide_password=False)
        )
        if self._fingerprint and self._refilled(url):
            self._free.append(url)
        else:
            self.drop(url)

    def _refilled(self, url: str) -> bool:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
                # Whatever the test left connected (a server, a thread) goes first,
                # and is gone (its locks with it) before the next test starts.
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if connection.exec_driver_sql(_FINGERPRINT).scalar() != self._fingerprint:
                    return False
                for statement in self._refill:
                    connection.exec_driver_sql(statement)
            return True
        except sa.exc.SQLAlchemyError:
            return False
        finally:
            engine.dispose()

    def new_database(self, copy_of: str = "") -> str:
        """A copy of the seeded template, or of `copy_of` (a database this factory
        made, with no connection left open to it)."""
        if BACKEND == "postgresql":
            source = sa.make_url(copy_of).database if copy_of else f"clinic_tpl_{self.run_id}"
            name = f"clinic_t_{self.run_id}_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
            self.created.append(name)
            return _with_database(ADMIN_URL, name)
        target = self.root / f"db-{uuid.uuid4().hex[:8]}.sqlite3"
        source_file = sa.make_url(copy_of).database if copy_of else self.root / "template.sqlite3"
        shutil.copyfile(str(source_file), target)
        return f"sqlite:///{target}"

    def new_empty_database(self) -> str:
        """A database with no schema at all (for migration tests)."""
        if BACKEND == "postgresql":
            name = f"clinic_e_{self.run_id}_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            return _with_database(ADMIN_URL, name)
        return f"sqlite:///{self.root / f'empty-{uuid.uuid4().hex[:8]}.sqlite3'}"

    def drop(self, url: str) -> None:
        if BACKEND == "postgresql":
            name = sa.make_url(url).database
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.created.remove(str(name))

    def drop_all(self) -> None:
        for name in list(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()


def _with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    factory.build_template()
    yield factory
    factory.drop_all()


@pytest.fixture
def world(databases: DatabaseFactory) -> World:
    return databases.world


@pytest.fixture
def database_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.lease()
    yield url
    databases.give_back(url)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": tmp_path / "instance",
        "SECRET_KEY": "test-secret",
        "SESSION_COOKIE_SECURE": False,
        "TESTING": True,
        # Tests read what a request wrote to the logs at once; batching has its own test.
        "LOG_AUDIT_BATCH_SECONDS": 0,
        # Police and administrators sign in with the app's code in tests that are not
        # about passkeys; tests/accounts/test_passkeys.py and the passkey journeys
        # turn the requirement on (its default).
        "PASSKEY_REQUIRED_ROLES": (),
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from clinic.core.db import db

    application = create_app(app_config)

    @application.after_request
    def _sample_served(response: Any) -> Any:
        # A sample of what the FHIR API serves, for the independent validator.
        if (
            _EMITTED is not None
            and request.path.startswith("/fhir")
            and response.status_code < 300
            and not response.direct_passthrough
        ):
            _EMITTED.record(response.get_data(), response.content_type or "")
        return response

    yield application
    db.dispose(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> sa.Engine:
    from clinic.core.db import db

    return db.engine(app)


# -- the independent validator over what the suite is served ---------------------------

_EMITTED: Emitted | None = None


# -- one leg for tests that never reach a database ------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL leg, a test that never asks for a database (a policy rule,
    a profile, a catalogue, a snapshot) is left to the SQLite leg, as the browser
    journeys are: it cannot answer differently on another database. A test whose
    module speaks of the backend itself keeps both legs."""
    if BACKEND != "postgresql":
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        (kept if _reaches_a_database(item) else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


_SPEAKS_OF_THE_BACKEND: dict[str, bool] = {}


def _reaches_a_database(item: pytest.Item) -> bool:
    if "databases" in getattr(item, "fixturenames", ()):
        return True
    module = getattr(item, "module", None)
    if module is None:
        return True
    name = module.__name__
    if name not in _SPEAKS_OF_THE_BACKEND:
        source = inspect.getsource(module)
        _SPEAKS_OF_THE_BACKEND[name] = any(
            word in source for word in ("BACKEND", "ADMIN_URL", "CLINIC_TEST_DB", "DATABASE_URL")
        )
    return _SPEAKS_OF_THE_BACKEND[name]


def pytest_configure(config: pytest.Config) -> None:
    global _EMITTED
    _EMITTED = Emitted(Path(tempfile.mkdtemp(prefix="clinic-served-")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """One run of the independent validator (tests/validator) over every distinct
    resource the FHIR API served the suite, each also against the profiles it claims
    (their snapshots), and a check that every code of ours they use is published
    with the same display: any error fails the run."""
    if _EMITTED is None:
        return
    if not any(_EMITTED.directory.iterdir()):
        _EMITTED.directory.rmdir()
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        found = errors(validate([_EMITTED.directory], profiles=PROFILES_DIR))
        found += directory_display_errors(_EMITTED.directory)
        summary = f"{sum(_EMITTED.seen.values())} distinct served resources"
    except ValidatorMissing as error:
        found, summary = [str(error)], "served resources"
    finally:
        shutil.rmtree(_EMITTED.directory, ignore_errors=True)
    if reporter is not None:
        reporter.write_sep("=", f"independent FHIR validation of {summary}")
        for line in found or ["no errors (R4 and R4B, profiles, displays)"]:
            reporter.write_line(line)
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
