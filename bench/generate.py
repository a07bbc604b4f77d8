"""Realistic cases written through the real services, for the scale benchmarks.

Each case is what the demo records for a survivor who has a full exam: her
registration (Patient, EpisodeOfCare), her four consents at the exam (care,
evidence, sharing with counselling, statistics), and a signed-off exam (timing,
history, general exam with vitals, an injury with its body-map mark, anogenital
findings, the evidence windows, a treatment, the report). Every resource is
validated against the profiles and every write audited, exactly as on screen.
`--light` writes the registration and consents only.

With `--bulk K`, one case in K is written through the services and the K - 1
after it are replays of its SQL writes with fresh ids (bench/bulk.py), up to 200
to a transaction: the same rows but for ids and times (tests/bench proves it), at
a fraction of the cost, for the scale figures (100,000 cases). Their audit
records are integrated into the log after each transaction.

    .venv/bin/python bench/generate.py --database-url URL --cases 200 [--light] [--bulk 100]

Prints cases per second. The database must be at the current schema (`upgrade`;
it is not checked again at each of a case's transactions, as the command line
does: that re-reads every migration file, and is no part of writing a case)
and have the bench organisation and users (`setup`), which it creates if absent.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic import create_app  # noqa: E402
from clinic.access.roles import OrganizationKind, Role  # noqa: E402
from clinic.accounts.models import Organization, User  # noqa: E402
from clinic.accounts.services import (  # noqa: E402
    actor_for,
    create_organization,
    create_token,
    create_user,
)
from clinic.cases.models import ReportingMode  # noqa: E402
from clinic.cases.services import Registration, register_survivor  # noqa: E402
from clinic.cli import unit_of_work  # noqa: E402
from clinic.demo import _demo_consents, _demo_exam  # noqa: E402

SITE_CODE = "BENCH"


@dataclass(frozen=True)
class Bench:
    site_id: str
    examiner_id: str
    counsellor_id: str


def bench_app(database_url: str, instance: Path) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "TRUSTED_HOSTS": ["localhost", "127.0.0.1"],
            "CHECK_SCHEMA": False,
        }
    )


def setup(app: Flask) -> Bench:
    """The bench site, its examiner and counsellor (created once)."""
    registry = app.extensions["clinic.profiles"]
    with app.app_context(), unit_of_work(check_schema=False) as uow:
        site = uow.session.scalar(sa.select(Organization).where(Organization.code == SITE_CODE))
        if site is None:
            site = create_organization(
                uow,
                registry,
                actor=None,
                kind=OrganizationKind.SITE,
                name="Bench Centre",
                code=SITE_CODE,
            )
        users = {}
        for username, role in (
            ("bench.examiner", Role.EXAMINER),
            ("bench.counsellor", Role.COUNSELLOR),
        ):
            user = uow.session.scalar(sa.select(User).where(User.username == username))
            if user is None:
                user = create_user(
                    uow,
                    actor=None,
                    username=username,
                    display_name=username,
                    role=role,
                    organization_id=site.id,
                    password=secrets.token_urlsafe(16),
                )
            users[username] = user.id
        return Bench(site.id, users["bench.examiner"], users["bench.counsellor"])


def token(app: Flask, user_id: str) -> str:
    with app.app_context(), unit_of_work(check_schema=False) as uow:
        user = uow.session.get(User, user_id)
        assert user is not None
        return create_token(uow, actor=actor_for(user), name="bench", days=1, max_days=365).secret


def write_case(app: Flask, bench: Bench, index: int, *, light: bool = False) -> str:
    """One case, in the transactions the screens use (one per step); her Patient id."""
    registry = app.extensions["clinic.profiles"]
    with app.app_context(), unit_of_work(check_schema=False) as uow:
        actor = actor_for(uow.session.get(User, bench.examiner_id))  # type: ignore[arg-type]
        case = register_survivor(
            uow,
            registry,
            actor=actor,
            registration=Registration(
                is_anonymous=True, reporting_mode=ReportingMode.ANONYMOUS, age_years=18 + index % 50
            ),
            channel="cli",
        )
        case_id, patient_id = case.id, case.patient_id
    with app.app_context(), unit_of_work(check_schema=False) as uow:
        actor = actor_for(uow.session.get(User, bench.examiner_id))  # type: ignore[arg-type]
        _demo_consents(uow, app, actor, case_id)
    if not light:
        with app.app_context(), unit_of_work(check_schema=False) as uow:
            actor = actor_for(uow.session.get(User, bench.examiner_id))  # type: ignore[arg-type]
            _demo_exam(uow, registry, actor, case_id, sign=True)
    return str(patient_id)


def generate(app: Flask, bench: Bench, cases: int, *, light: bool = False) -> list[str]:
    return [write_case(app, bench, index, light=light) for index in range(cases)]


# Replays sent in one transaction. PostgreSQL plans a foreign key's check once per
# connection and keeps it until the table's statistics change; planned on a
# nearly empty table it scans the table, and every insert grows slower with the
# data (28, 44, 64 ms a case over three batches of 200 on a new database). So
# the statistics are refreshed after each transaction (ANALYZE, as autovacuum
# does for the clinic's short transactions), which keeps a case at ~17 ms.
CHUNK = 200


def generate_bulk(
    app: Flask, bench: Bench, cases: int, *, every: int = 100, start: int = 0
) -> list[str]:
    """`cases` cases, one in `every` written through the services, the others
    replays of it (bench/bulk.py), at most CHUNK to a transaction; the first case
    is written plainly, so that what every case shares exists before a recording.
    `start`: the number of the first case (its age and times follow from it)."""
    from bench.bulk import record_case, replay_many
    from clinic.core.db import db
    from clinic.ledger.services import integrate_all

    patients = [write_case(app, bench, start)]
    while len(patients) < cases:
        recording = record_case(app, bench, start + len(patients))
        patients.append(recording.patient_id)
        copies = min(every - 1, cases - len(patients))
        with app.app_context():
            session = db.session
            while copies > 0:
                chunk = min(copies, CHUNK)
                patients.extend(replay_many(session, recording, chunk))
                session.commit()
                integrate_all(session)
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(sa.text("ANALYZE"))
                    session.commit()
                copies -= chunk
    return patients


def generate_bulk_in_processes(
    database_url: str, instance: Path, bench: Bench, cases: int, *, every: int, processes: int
) -> list[str]:
    """`generate_bulk` shared between `processes` processes writing to one
    PostgreSQL database at once (each a Python process and a server backend: one
    process keeps about one core busy between them). SQLite takes one writer at a
    time: use one process there."""
    processes = min(processes, cases)
    if processes <= 1:
        return generate_bulk(bench_app(database_url, instance), bench, cases, every=every)
    if not database_url.startswith("postgresql"):
        raise SystemExit("several processes write at once on PostgreSQL only")
    shares = [cases // processes + (1 if n < cases % processes else 0) for n in range(processes)]
    starts = [sum(shares[:n]) for n in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        made = pool.starmap(
            _generate_share,
            [
                (database_url, instance, bench, share, every, start)
                for share, start in zip(shares, starts, strict=True)
            ],
        )
    return [patient for share in made for patient in share]


def _generate_share(
    database_url: str, instance: Path, bench: Bench, cases: int, every: int, start: int
) -> list[str]:
    return generate_bulk(bench_app(database_url, instance), bench, cases, every=every, start=start)


def resources_per_case(app: Flask) -> dict[str, Any]:
    from clinic.fhir.models import StoredResource

    with app.app_context(), unit_of_work(check_schema=False) as uow:
        rows = uow.session.execute(
            sa.select(StoredResource.resource_type, sa.func.count()).group_by(
                StoredResource.resource_type
            )
        ).all()
    return {kind: count for kind, count in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file, removed after")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--light", action="store_true")
    parser.add_argument(
        "--bulk",
        type=int,
        metavar="K",
        help="write one case in K through the services, replay it for the other K - 1",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = arguments.database_url or f"sqlite:///{tmp}/generate.sqlite3"
        app = bench_app(url, Path(tmp) / "instance")
        if not arguments.database_url:
            from clinic.core.schema import upgrade

            upgrade(app)
        bench = setup(app)
        started = time.perf_counter()
        if arguments.bulk:
            generate_bulk(app, bench, arguments.cases, every=arguments.bulk)
        else:
            generate(app, bench, arguments.cases, light=arguments.light)
        seconds = time.perf_counter() - started
        load = os.getloadavg()
        print(
            f"{arguments.cases} cases in {seconds:.1f} s: "
            f"{arguments.cases / seconds:.2f} cases/s, {seconds / arguments.cases * 1000:.0f} ms a case "
            f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
        )
        print(resources_per_case(app))


if __name__ == "__main__":
    main()
