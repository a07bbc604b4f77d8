"""A whole case written through the services (bench/generate.py: registration, four
consents, a signed-off exam; about 30 resources), and where validation time goes.

Alternates rounds with and without the absent-element shortcut of validation
(`may_have_elements`), to show what it saves, and times validation itself
(`validate_resource`) within each case.

    .venv/bin/python bench/bench_write.py [--rounds 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import bench_app, setup, write_case  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.fhir import invariants, profiles, store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = arguments.database_url or f"sqlite:///{tmp}/w.sqlite3"
        app = bench_app(url, Path(tmp) / "instance")
        if not arguments.database_url:
            upgrade(app)
        bench = setup(app)
        write_case(app, bench, 0)  # warm: compiled expressions, profiles
        validating = [0.0]
        original_validate = store.validate_resource

        def timed_validate(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return original_validate(*args, **kwargs)
            finally:
                validating[0] += time.perf_counter() - started

        store.validate_resource = timed_validate  # type: ignore[assignment]
        shortcut = invariants.may_have_elements
        results: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        for index in range(arguments.rounds * 2):
            mode = "with" if index % 2 else "without"
            checker = shortcut if mode == "with" else (lambda resource, path: True)
            invariants.may_have_elements = checker  # type: ignore[assignment]
            profiles.may_have_elements = checker  # type: ignore[assignment]
            validating[0] = 0.0
            started = time.perf_counter()
            write_case(app, bench, index + 1)
            results[mode].append((time.perf_counter() - started, validating[0]))
        for mode, runs in results.items():
            total = statistics.median(r[0] for r in runs)
            valid = statistics.median(r[1] for r in runs)
            print(
                f"{mode} the shortcut: a whole case {total * 1000:.0f} ms, "
                f"of which validation {valid * 1000:.0f} ms ({valid / total:.0%})"
            )


if __name__ == "__main__":
    main()
