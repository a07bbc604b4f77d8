"""Where writing a whole case through the services spends its time (bench/generate.py:
registration, four consents, a signed-off exam), in process, under cProfile.

Prints the share of each part (a part's functions, with what they call; parts
overlap where one calls another, e.g. validation inside a store write), then the
functions with the most time of their own.

    .venv/bin/python bench/profile_write.py [--cases 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import bench_app, setup, write_case  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402

# (part, [(file name ending, function name)]): cumulative time of the outermost call.
PARTS = [
    ("whole case", [("bench/generate.py", "write_case")]),
    (
        "store writes (validation, rows, search index)",
        [("fhir/store.py", "create"), ("fhir/store.py", "update")],
    ),
    ("validation (all of validate_resource)", [("fhir/validation.py", "validate_resource")]),
    ("  structure (fhir.resources / pydantic)", [("fhir/validation.py", "parse_structure")]),
    ("  required codes", [("fhir/validation.py", "_check_required_codes")]),
    (
        "  FHIRPath invariants (base and profiles'; the next row includes those)",
        [("fhir/invariants.py", "check_invariants")],
    ),
    ("  profiles", [("fhir/profiles.py", "validate")]),
    ("search index (FHIRPath)", [("fhir/store.py", "_reindex")]),
    (
        "serialisation (json, rfc8785)",
        [
            ("json/__init__.py", "dumps"),
            ("json/__init__.py", "loads"),
            ("rfc8785/_impl.py", "dumps"),
        ],
    ),
    (
        "SQL (flush, execute)",
        [
            ("orm/session.py", "flush"),
            ("orm/session.py", "execute"),
            ("orm/session.py", "get"),
            ("orm/session.py", "scalar"),
            ("orm/session.py", "scalars"),
        ],
    ),
    ("commit", [("orm/session.py", "commit")]),
    ("audit records", [("audit/services.py", "append_records")]),
    ("log integration after commit", [("ledger/services.py", "integrate_after_commit")]),
    (
        "custody",
        [("evidence/services.py", "collect_kit"), ("evidence/services.py", "record_custody")],
    ),
    ("body map / images (Pillow)", [("PIL/Image.py", "save"), ("PIL/Image.py", "open")]),
]


def part_seconds(stats: pstats.Stats, functions: list[tuple[str, str]]) -> float:
    """Cumulative time of these functions, not counting calls among them twice."""
    raw = stats.stats  # type: ignore[attr-defined]
    keys = {
        key
        for key in raw
        for ending, name in functions
        if key[0].endswith(ending) and key[2] == name
    }
    total = 0.0
    for key in keys:
        _, _, _, cumulative, callers = raw[key]
        # time reached from another selected function is in that one's figure already
        inner = sum(caller[3] for caller_key, caller in callers.items() if caller_key in keys)
        total += cumulative - inner
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--top", type=int, default=25)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = arguments.database_url or f"sqlite:///{tmp}/p.sqlite3"
        app = bench_app(url, Path(tmp) / "instance")
        if not arguments.database_url:
            upgrade(app)
        bench = setup(app)
        write_case(app, bench, 0)  # warm: compiled expressions, profiles
        started = time.perf_counter()
        for index in range(arguments.cases):
            write_case(app, bench, index + 1)
        plain = (time.perf_counter() - started) / arguments.cases
        profile = cProfile.Profile()
        profile.enable()
        for index in range(arguments.cases):
            write_case(app, bench, arguments.cases + index + 1)
        profile.disable()
        stats = pstats.Stats(profile)
        load = os.getloadavg()
        print(
            f"a whole case: {plain * 1000:.0f} ms without the profiler "
            f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
        )
        whole = part_seconds(stats, PARTS[0][1]) or 1.0
        print("| part (under cProfile) | ms a case | share |")
        print("|---|---|---|")
        for name, functions in PARTS:
            seconds = part_seconds(stats, functions)
            print(f"| {name} | {seconds * 1000 / arguments.cases:.0f} | {seconds / whole:.0%} |")
        stats.sort_stats("tottime").print_stats(arguments.top)


if __name__ == "__main__":
    main()
