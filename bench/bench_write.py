"""A whole case written through the services (bench/generate.py: registration, four
consents, a signed-off exam; about 30 resources), and where validation time goes.

Alternates rounds with and without one of validation's savings, to show what it
saves, and times validation itself (`validate_resource`) within each case:

- `--compare compiled` (the default): the most evaluated invariants and the
  profiles' cardinalities checked in plain Python (clinic/fhir/compiled_invariants.py)
  against every one of them evaluated by fhirpathpy;
- `--compare shortcut`: with and without the absent-element shortcut
  (`ElementIndex.may_have`, the answers of `may_have_elements`).

Prints the load average at the start and at the end: the machine may be shared.

    .venv/bin/python bench/bench_write.py [--rounds 3] [--compare compiled|shortcut]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import bench_app, setup, write_case  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.fhir import compiled_invariants, invariants, profiles, store  # noqa: E402

_SHORTCUT = invariants.ElementIndex.may_have


def _set_shortcut(on: bool) -> None:
    checker = _SHORTCUT if on else (lambda index, path: True)
    invariants.ElementIndex.may_have = checker  # type: ignore[method-assign]


def _set_compiled(on: bool) -> None:
    check = compiled_invariants.compiled_check if on else (lambda invariant: None)
    cardinality = compiled_invariants.compiled_cardinality if on else (lambda *rule: None)
    invariants.compiled_check = check  # type: ignore[assignment]
    profiles.compiled_cardinality = cardinality  # type: ignore[assignment]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", choices=("compiled", "shortcut"), default="compiled")
    parser.add_argument("--database-url")
    arguments = parser.parse_args()
    switch = _set_compiled if arguments.compare == "compiled" else _set_shortcut
    print(f"load average at the start: {_load()}")
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
        results: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        for index in range(arguments.rounds * 2):
            mode = "with" if index % 2 else "without"
            switch(mode == "with")
            validating[0] = 0.0
            started = time.perf_counter()
            write_case(app, bench, index + 1)
            results[mode].append((time.perf_counter() - started, validating[0]))
        switch(True)
        label = {"compiled": "the compiled invariants", "shortcut": "the shortcut"}
        medians = {}
        for mode, runs in results.items():
            total = statistics.median(r[0] for r in runs)
            valid = statistics.median(r[1] for r in runs)
            medians[mode] = total
            print(
                f"{mode} {label[arguments.compare]}: a whole case {total * 1000:.0f} ms, "
                f"of which validation {valid * 1000:.0f} ms ({valid / total:.0%})"
            )
        print(f"ratio with/without: {medians['with'] / medians['without']:.2f}")
        print(f"load average at the end: {_load()}")


if __name__ == "__main__":
    main()
