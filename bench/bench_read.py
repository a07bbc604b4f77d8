"""The FHIR API over HTTP, side by side with the floor (bench/floor_app.py), in one run.

Builds a database of realistic cases through the real services (bench/generate.py),
then for each number of gunicorn workers starts the clinic (`wsgi:app`) and the
floor (`bench.floor_app:app`) with the same settings on the same database, and
drives each in turn from a second process (bench/load.py) with the same requests:

- read: GET /fhir/Patient/<id> as the examiner of her site (token, decision, her
  Consents, audit record committed with the read);
- search: GET /fhir/Observation?patient=<id> (first page of 20);
- write: POST /fhir/Patient (validated, indexed, audited).

Prints a Markdown table: requests per second, p50/p99 latency, and the clinic's
share of the floor, with the machine's load average when each row was measured.

    .venv/bin/python bench/bench_read.py --backend sqlite --cases 50 --workers 1,2,4
    BENCH_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_read.py --backend postgresql ...
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_store import database  # noqa: E402
from bench.generate import (  # noqa: E402
    bench_app,
    generate,
    generate_bulk_in_processes,
    setup,
    token,
)
from clinic.core.db import db  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402

BIN = Path(sys.executable).parent
PATIENT_BODY = json.dumps(
    {
        "resourceType": "Patient",
        "gender": "female",
        "identifier": [
            {"system": "https://forensic-care.org/fhir/sid/case-reference", "value": "SA-LOAD"}
        ],
    }
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    target: str, workers: int, env: dict[str, str], root: Path = ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", target],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/fhir/metadata", timeout=1)  # noqa: S310
            break
        except OSError as error:
            if getattr(error, "code", None):  # any HTTP answer: it is up
                break
            time.sleep(0.1)
    return process, url


def load(
    url: str,
    token_: str | None,
    paths: list[str],
    seconds: float,
    concurrency: int,
    method: str = "GET",
    body: Path | None = None,
) -> dict[str, object]:
    command = [
        sys.executable,
        str(ROOT / "bench" / "load.py"),
        "--url",
        url,
        "--seconds",
        str(seconds),
        "--concurrency",
        str(concurrency),
        "--method",
        method,
    ]
    if token_:
        command += ["--token", token_]
    if body:
        command += ["--body", str(body)]
    # One path a line in a file: 100,000 of them do not fit on a command line.
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as listed:
        listed.write("\n".join(paths))
    command += ["--paths-file", listed.name]
    try:
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    finally:
        os.unlink(listed.name)
    return json.loads(out)  # type: ignore[no-any-return]


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--bulk",
        type=int,
        metavar="K",
        help="build the cases as bench/generate.py --bulk K does (for 100,000 cases)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="with --bulk on PostgreSQL: build the cases in this many processes at once",
    )
    parser.add_argument(
        "--durable-floor",
        action="store_true",
        help="also measure the floor that commits one row per request (FLOOR_DURABLE=1)",
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        help="a checkout of another commit (same schema): its API is measured in the same run",
    )
    parser.add_argument(
        "--database-url",
        help="measure the cases an earlier run built in this database (kept, never dropped)"
        " instead of building new ones",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if arguments.database_url:
            url, drop = arguments.database_url, None
        else:
            url, drop = database(arguments.backend, workdir)
        try:
            app = bench_app(url, workdir / "instance")
            upgrade(app)
            bench = setup(app)
            started = time.perf_counter()
            if arguments.database_url:
                with db.engine(app).connect() as connection:
                    patients = list(
                        connection.execute(
                            sa.text(
                                "SELECT logical_id FROM fhir_resources"
                                " WHERE resource_type = 'Patient'"
                            )
                        ).scalars()
                    )
                arguments.cases = len(patients)
            elif arguments.bulk:
                patients = generate_bulk_in_processes(
                    url,
                    workdir / "instance",
                    bench,
                    arguments.cases,
                    every=arguments.bulk,
                    processes=arguments.processes,
                )
            else:
                patients = generate(app, bench, arguments.cases)
            build = time.perf_counter() - started
            with db.engine(app).connect() as connection:
                connection.exec_driver_sql(
                    "COMMIT" if arguments.backend == "postgresql" else "SELECT 1"
                )
                connection.exec_driver_sql("ANALYZE")
                resources = connection.execute(
                    sa.text("SELECT count(*) FROM fhir_resources")
                ).scalar()
            secret = token(app, bench.examiner_id)
            print(
                f"{arguments.backend}: {arguments.cases} cases ({resources} resources) built in "
                f"{build:.0f} s ({build / arguments.cases * 1000:.0f} ms a case, "
                f"{arguments.processes} process(es)), "
                f"load {load_average()}",
                file=sys.stderr,
            )
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "TRUSTED_HOSTS": "127.0.0.1",
                "CLINIC_INSTANCE_PATH": str(workdir / "instance"),
            }
            reads = [f"/fhir/Patient/{p}" for p in patients]
            searches = [f"/fhir/Observation?patient={p}" for p in patients]
            body = workdir / "patient.json"
            body.write_bytes(PATIENT_BODY)
            rows = []
            for workers in (int(w) for w in arguments.workers.split(",")):
                clinic, clinic_url = start("wsgi:app", workers, env)
                floor, floor_url = start("bench.floor_app:app", workers, env)
                servers = [clinic, floor]
                durable_url = None
                if arguments.durable_floor:
                    durable, durable_url = start(
                        "bench.floor_app:app", workers, {**env, "FLOOR_DURABLE": "1"}
                    )
                    servers.append(durable)
                other_url = None
                if arguments.compare_with:
                    other, other_url = start("wsgi:app", workers, env, arguments.compare_with)
                    servers.append(other)
                try:
                    for name, paths in (("read by id", reads), ("search by patient", searches)):
                        # Alternate, so that a change in the machine's load hits both.
                        measured = {"floor": [], "clinic": []}  # type: dict[str, list[dict[str, object]]]
                        for _ in range(2):
                            measured["floor"].append(
                                load(
                                    floor_url,
                                    None,
                                    paths,
                                    arguments.seconds / 2,
                                    arguments.concurrency,
                                )
                            )
                            measured["clinic"].append(
                                load(
                                    clinic_url,
                                    secret,
                                    paths,
                                    arguments.seconds / 2,
                                    arguments.concurrency,
                                )
                            )
                            if durable_url:
                                measured.setdefault("durable", []).append(
                                    load(
                                        durable_url,
                                        None,
                                        paths,
                                        arguments.seconds / 2,
                                        arguments.concurrency,
                                    )
                                )
                            if other_url:
                                measured.setdefault("other", []).append(
                                    load(
                                        other_url,
                                        secret,
                                        paths,
                                        arguments.seconds / 2,
                                        arguments.concurrency,
                                    )
                                )
                        rows.append((workers, name, measured, load_average()))
                    if not arguments.no_write:
                        written = load(
                            clinic_url,
                            secret,
                            ["/fhir/Patient"],
                            arguments.seconds,
                            arguments.concurrency,
                            "POST",
                            body,
                        )
                        rows.append(
                            (workers, "write (POST Patient)", {"clinic": [written]}, load_average())
                        )
                finally:
                    for process in servers:
                        process.terminate()
                        process.wait()
            print(table(arguments.backend, arguments.concurrency, rows))
        finally:
            if drop:
                drop()


def _merge(results: list[dict[str, object]]) -> dict[str, float]:
    requests = sum(int(r["requests"]) for r in results)  # type: ignore[call-overload]
    per_second = sum(float(r["per_second"]) for r in results) / len(results)  # type: ignore[arg-type]
    return {
        "requests": requests,
        "per_second": per_second,
        "p50_ms": max(float(r["p50_ms"]) for r in results),  # type: ignore[arg-type]
        "p99_ms": max(float(r["p99_ms"]) for r in results),  # type: ignore[arg-type]
        "errors": sum(
            n
            for r in results
            for s, n in r["statuses"].items()
            if not str(s).startswith("2")  # type: ignore[attr-defined]
        ),
    }


def table(backend: str, concurrency: int, rows: list) -> str:  # type: ignore[type-arg]
    lines = [
        f"| {backend} | workers | clinic req/s | floor req/s | clinic / floor "
        f"| clinic p50 / p99 ms ({concurrency} clients) | errors | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if any("durable" in measured for _, _, measured, _ in rows):
        lines[0] += " durable floor (one row committed per request) |"
        lines[1] += "---|"
    if any("other" in measured for _, _, measured, _ in rows):
        lines[0] += " compared commit |"
        lines[1] += "---|"
    for workers, name, measured, load in rows:
        clinic = _merge(measured["clinic"])
        floor = _merge(measured["floor"]) if "floor" in measured else None
        ratio = f"{clinic['per_second'] / floor['per_second']:.2f}" if floor else "-"
        lines.append(
            f"| {name} | {workers} | {clinic['per_second']:.0f} | "
            f"{floor['per_second']:.0f} | {ratio} | "
            if floor
            else f"| {name} | {workers} | {clinic['per_second']:.0f} | - | - | "
        )
        lines[-1] += (
            f"{clinic['p50_ms']:.0f} / {clinic['p99_ms']:.0f} | {clinic['errors']} | {load} |"
        )
        if "durable" in measured:
            durable = _merge(measured["durable"])
            lines[-1] += (
                f" durable floor: {durable['per_second']:.0f} req/s, clinic "
                f"{clinic['per_second'] / durable['per_second']:.2f} of it, "
                f"p50 / p99 {durable['p50_ms']:.0f} / {durable['p99_ms']:.0f} ms |"
            )
        if "other" in measured and floor:
            other = _merge(measured["other"])
            lines[-1] += (
                f" compared commit: {other['per_second']:.0f} req/s, "
                f"{other['per_second'] / floor['per_second']:.2f} of the floor, "
                f"p50 / p99 {other['p50_ms']:.0f} / {other['p99_ms']:.0f} ms |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
