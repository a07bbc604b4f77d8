"""A whole case written through the services (bench/generate.py: registration, four
consents, a signed-off exam; about 30 resources), and where validation time goes.

Alternates rounds with and without one of validation's savings, to show what it
saves, and times validation itself (`validate_resource`) within each case:

- `--compare compiled` (the default): the most evaluated invariants and the
  profiles' cardinalities checked in plain Python (clinic/fhir/compiled_invariants.py)
  against every one of them evaluated by fhirpathpy;
- `--compare shortcut`: with and without the absent-element shortcut
  (`ElementIndex.may_have`, the answers of `may_have_elements`).

With `--compare-with DIR` it measures this checkout against another one instead
(DIR: a `git worktree add /tmp/base main`, say): a second process writes cases
with DIR's code on its own SQLite database, and the two take turns, one case
each, so that a change in the machine's load hits both (medians, ratio).

Prints the load average at the start and at the end: the machine may be shared.

    .venv/bin/python bench/bench_write.py [--rounds 3] [--compare compiled|shortcut]
        [--database-url URL]
    .venv/bin/python bench/bench_write.py --compare-with DIR [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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


# Run by the other checkout's Python path: set up, warm, then one case per line read.
_WORKER = """
import sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench.generate import bench_app, setup, write_case
from clinic.core.schema import upgrade
with tempfile.TemporaryDirectory() as tmp:
    app = bench_app(f"sqlite:///{tmp}/w.sqlite3", Path(tmp) / "instance")
    upgrade(app)
    bench = setup(app)
    write_case(app, bench, 0)
    print("ready", flush=True)
    for line in sys.stdin:
        started = time.perf_counter()
        write_case(app, bench, int(line))
        print(time.perf_counter() - started, flush=True)
"""


def compare_with(other: Path, rounds: int) -> None:
    """This checkout and `other`, one case each in turn, on SQLite."""
    print(f"load average at the start: {_load()}")
    worker = subprocess.Popen(  # noqa: S603 - our own Python, a directory we were given
        [sys.executable, "-c", _WORKER, str(other.resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=other,
    )
    assert worker.stdin is not None
    assert worker.stdout is not None
    times: dict[str, list[float]] = {"this checkout": [], str(other): []}
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(f"sqlite:///{tmp}/w.sqlite3", Path(tmp) / "instance")
        upgrade(app)
        bench = setup(app)
        write_case(app, bench, 0)
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit(f"{other}: its bench could not start")
        for index in range(1, rounds + 1):
            worker.stdin.write(f"{index}\n")
            worker.stdin.flush()
            times[str(other)].append(float(worker.stdout.readline()))
            started = time.perf_counter()
            write_case(app, bench, index)
            times["this checkout"].append(time.perf_counter() - started)
    worker.stdin.close()
    worker.wait()
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name}: a whole case {median * 1000:.0f} ms (median of {rounds})")
    print(f"ratio this/other: {medians['this checkout'] / medians[str(other)]:.2f}")
    print(f"load average at the end: {_load()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", choices=("compiled", "shortcut"), default="compiled")
    parser.add_argument("--database-url")
    parser.add_argument("--compare-with", type=Path, metavar="DIR")
    arguments = parser.parse_args()
    if arguments.compare_with is not None:
        compare_with(arguments.compare_with, arguments.rounds)
        return
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
