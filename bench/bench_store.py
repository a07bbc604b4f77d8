"""Throughput of the write and read paths and of audit verification.

Runs against a fresh database (SQLite file, or PostgreSQL when BENCH_DATABASE_URL
names an admin connection), through the same services the API uses: every write is
validated against the profiles and audited, every read asks the decision point.
Prints a Markdown table.

    .venv/bin/python bench/bench_store.py [--writes 300] [--reads 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic import create_app  # noqa: E402
from clinic.access.roles import OrganizationKind, Role  # noqa: E402
from clinic.accounts.services import actor_for, create_organization, create_user  # noqa: E402
from clinic.audit.services import audit_leaf, iter_entries, verify_audit_trail  # noqa: E402
from clinic.cli import unit_of_work  # noqa: E402
from clinic.core.db import db  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.fhir.query import parse_search  # noqa: E402
from clinic.fhir.services import Caller, create_resource, read_resource, search_resources  # noqa: E402


def database(backend: str, workdir: Path) -> tuple[str, object]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    admin = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres"
    )
    name = f"clinic_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()

    return url, drop


def run(backend: str, writes: int, reads: int) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, drop = database(backend, workdir)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": workdir / "i",
                "SECRET_KEY": "bench",
                "TRUSTED_HOSTS": ["localhost"],
                "CHECK_SCHEMA": False,
            }
        )
        try:
            upgrade(app)
            registry = app.extensions["clinic.profiles"]
            with app.app_context(), unit_of_work() as uow:
                site = create_organization(
                    uow,
                    registry,
                    actor=None,
                    kind=OrganizationKind.SITE,
                    name="Bench",
                    code="BENCH",
                )
                user = create_user(
                    uow,
                    actor=None,
                    username="bench.examiner",
                    display_name="Bench",
                    role=Role.EXAMINER,
                    organization_id=site.id,
                    password=secrets.token_urlsafe(16),
                )
                actor = actor_for(user)
            ids: list[str] = []
            started = time.perf_counter()
            for index in range(writes):
                with app.app_context(), unit_of_work() as uow:
                    caller = Caller(uow, actor, "cli", registry)
                    created = create_resource(
                        caller,
                        {
                            "resourceType": "Patient",
                            "gender": "female",
                            "identifier": [
                                {
                                    "system": "https://forensic-care.org/fhir/sid/case-reference",
                                    "value": f"SA-B-{index:06d}",
                                }
                            ],
                        },
                    )
                    ids.append(created.logical_id)
            write_seconds = time.perf_counter() - started
            # Planner statistics, as autovacuum (or SQLite's optimizer) would have them
            # in a running clinic; a fresh table has none and gets poor plans.
            with db.engine(app).connect() as connection:
                connection.exec_driver_sql("COMMIT" if backend == "postgresql" else "SELECT 1")
                connection.exec_driver_sql("ANALYZE")
            started = time.perf_counter()
            for index in range(reads):
                with app.app_context(), unit_of_work() as uow:
                    read_resource(
                        Caller(uow, actor, "cli", registry), "Patient", ids[index % len(ids)]
                    )
            read_seconds = time.perf_counter() - started
            searches = max(1, reads // 10)
            started = time.perf_counter()
            for index in range(searches):
                with app.app_context(), unit_of_work() as uow:
                    query = parse_search(
                        "Patient",
                        [("identifier", f"SA-B-{index % writes:06d}")],
                        default_count=20,
                        max_count=100,
                    )
                    search_resources(Caller(uow, actor, "cli", registry), "Patient", query)
            search_seconds = time.perf_counter() - started
            with app.app_context():
                started = time.perf_counter()
                report = verify_audit_trail(db.session)
                verify_seconds = time.perf_counter() - started
                leaves = [audit_leaf(entry) for entry in iter_entries(db.session)]
            started = time.perf_counter()
            for leaf in leaves:
                hashlib.sha256(b"\x00" + leaf).digest()
            hash_seconds = time.perf_counter() - started
            assert report.is_valid
        finally:
            db.dispose(app)
            if drop:
                drop()  # type: ignore[operator]
    return [
        (
            "create Patient (validated, audited, own transaction)",
            f"{writes / write_seconds:,.0f} /s ({1000 * write_seconds / writes:.1f} ms each)",
        ),
        (
            "read Patient by id (decided, audited)",
            f"{reads / read_seconds:,.0f} /s ({1000 * read_seconds / reads:.1f} ms each)",
        ),
        (
            "search Patient by identifier",
            f"{searches / search_seconds:,.0f} /s ({1000 * search_seconds / searches:.1f} ms each)",
        ),
        (f"audit verify ({report.size:,} events)", f"{report.size / verify_seconds:,.0f} events/s"),
        (
            "plain hashlib SHA-256 over the same leaves",
            f"{len(leaves) / hash_seconds:,.0f} leaves/s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print("| measurement | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    results = [run(backend, args.writes, args.reads) for backend in backends]
    for row in range(len(results[0])):
        print(
            f"| {results[0][row][0]} | " + " | ".join(result[row][1] for result in results) + " |"
        )


if __name__ == "__main__":
    main()
