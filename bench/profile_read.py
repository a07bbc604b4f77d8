"""Where one authenticated FHIR read spends its time, in process: the SQL statements
it sends (listed once) and a cProfile summary over many reads.

    .venv/bin/python bench/profile_read.py [--reads 300] [--search] [--sort tottime]
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
        pstats.Stats(profile).sort_stats(arguments.sort).print_stats(arguments.lines)


if __name__ == "__main__":
    main()
