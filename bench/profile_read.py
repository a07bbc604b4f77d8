"""Where one authenticated FHIR read spends its time, in process: the SQL statements
it sends (listed once) and a cProfile summary over many reads.

    .venv/bin/python bench/profile_read.py [--reads 300] [--search] [--sort tottime]
        [--layers] [--database-url URL]

`--layers` adds the Python time (cProfile's own time of each function) summed by
where the function lives: the web framework, SQLAlchemy, the database driver
(with the time spent waiting for the server), the decision point, the FHIR store
and API, the audit, json, and the rest.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import bench_app, generate, setup, token  # noqa: E402
from clinic.core.db import db  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402

# Where a function lives -> the layer it is counted in (first match wins).
LAYERS = (
    ("/werkzeug/", "Werkzeug and Flask (request, response, routing)"),
    ("/flask/", "Werkzeug and Flask (request, response, routing)"),
    ("/flask_babel/", "Werkzeug and Flask (request, response, routing)"),
    ("/jinja2/", "Werkzeug and Flask (request, response, routing)"),
    ("/sqlalchemy/", "SQLAlchemy (statement execution, results)"),
    ("/psycopg/", "database driver, waiting for the server included"),
    ("sqlite3", "database driver, waiting for the server included"),
    ("psycopg", "database driver, waiting for the server included"),
    ("/clinic/access/", "decision point and her Consents"),
    ("/clinic/consent/", "decision point and her Consents"),
    ("/clinic/fhir/", "FHIR API and store"),
    ("/clinic/audit/", "audit records"),
    ("/clinic/ledger/", "audit records"),
    ("/clinic/", "rest of the clinic (web layer, accounts, unit of work)"),
    ("/json/", "json"),
    ("_json", "json"),
)


def layers(stats: pstats.Stats, requests: int) -> str:
    """Each layer's own time per request, largest first."""
    spent: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        layer = next((label for part, label in LAYERS if part in where), "other (Python itself)")
        spent[layer] = spent.get(layer, 0.0) + row[2]  # own time
    total = sum(spent.values())
    lines = [f"own time per request by layer ({total / requests * 1000:.2f} ms in all):"]
    for layer, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        lines.append(f"  {seconds / requests * 1000:6.3f} ms  {seconds / total:5.1%}  {layer}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--search", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--sort",
        default="cumulative",
        help="cProfile order: cumulative (where time goes) or tottime (Python-side cost)",
    )
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--layers", action="store_true", help="own time summed by layer")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = arguments.database_url or f"sqlite:///{tmp}/p.sqlite3"
        app = bench_app(url, Path(tmp) / "instance")
        upgrade(app)
        bench = setup(app)
        patients = generate(app, bench, 3)
        secret = token(app, bench.examiner_id)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/fhir+json"}
        paths = [
            f"/fhir/Observation?patient={p}" if arguments.search else f"/fhir/Patient/{p}"
            for p in patients
        ]
        statements: list[str] = []
        engine = db.engine(app)

        def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append(statement.split("\n")[0][:150])

        for path in paths * 3:  # warm
            assert client.get(path, headers=headers).status_code == 200
        sa.event.listen(engine, "before_cursor_execute", record)
        client.get(paths[0], headers=headers)
        sa.event.remove(engine, "before_cursor_execute", record)
        print(f"{len(statements)} SQL statements for one request:")
        for statement in statements:
            print("   ", statement)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for index in range(arguments.reads):
            client.get(paths[index % len(paths)], headers=headers)
        profile.disable()
        seconds = time.perf_counter() - started
        print(f"{arguments.reads / seconds:.0f} requests/s in process (under cProfile)")
        stats = pstats.Stats(profile)
        stats.sort_stats(arguments.sort).print_stats(arguments.lines)
        if arguments.layers:
            print(layers(stats, arguments.reads))


if __name__ == "__main__":
    main()
