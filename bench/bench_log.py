"""The Merkle log at scale: appends, proofs and verification.

    .venv/bin/python bench/bench_log.py --events 1000000 [--backend sqlite|postgresql]
        [--rounds 3] [--no-vacuum]

The tree is built the way the integrator builds it (`append_hashes`: one bulk
insert of the nodes per batch of --batch leaves). Proofs are generated from
stored subtree hashes for random entries of the full tree. `verify` recomputes
every leaf hash and every stored subtree hash from the leaves (held in memory, as
the hashlib figure's are) and checks the head; next to it, in the same run, plain
hashlib SHA-256 over the same leaf bytes. Targets: verify at least 25 % of the
hashlib rate; an inclusion proof under 1 ms at 10**6 leaves.

On PostgreSQL the stored nodes are vacuumed once built, as autovacuum does to
an insert-only table, so that verification and proofs read them by index-only
scans (`--no-vacuum` measures the tree just written).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import rfc8785

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_store import database  # noqa: E402
from clinic import create_app  # noqa: E402
from clinic.core.db import db  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.ledger.merkle import leaf_hash, leaf_hashes  # noqa: E402
from clinic.ledger.services import append_hashes, prove_inclusion, root_at, verify_log  # noqa: E402
from clinic.ledger.standalone import verify_inclusion  # noqa: E402

LOG = "bench"


def leaf(index: int) -> bytes:
    return rfc8785.dumps(
        {
            "action": "stored",
            "event": index,
            "item": f"KIT-{index // 8:07d}",
            "location": "freezer B2",
        }
    )


def run(
    backend: str, events: int, batch: int, proofs: int, rounds: int, vacuum: bool = True
) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database(backend, Path(tmp))
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": Path(tmp) / "i",
                "SECRET_KEY": "bench",
                "TRUSTED_HOSTS": ["localhost"],
                "CHECK_SCHEMA": False,
            }
        )
        try:
            upgrade(app)
            leaves = [leaf(i) for i in range(events)]
            hashes = [leaf_hash(data) for data in leaves]
            started = time.perf_counter()
            with app.app_context():
                session = db.session
                for start in range(0, events, batch):
                    append_hashes(session, LOG, hashes[start : start + batch])
                    session.commit()
            append_seconds = time.perf_counter() - started
            if backend == "postgresql" and vacuum:
                # What autovacuum does to an insert-only table once a fifth of it
                # is new: it marks the pages all-visible, so that the primary key's
                # INCLUDE (hash) is read by index-only scans without the heap.
                with db.engine(app).connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM (ANALYZE) log_nodes"
                    )
            with app.app_context():
                session = db.session
                root = root_at(session, LOG, events)
                sample = random.Random(7).sample(range(events), min(proofs, events))
                started = time.perf_counter()
                generated = [(i, prove_inclusion(session, LOG, i, events)) for i in sample]
                proof_seconds = time.perf_counter() - started
                for index, proof in generated:
                    verify_inclusion(index, events, leaf_hash(leaf(index)), proof, root)
                # Verify and plain hashlib alternate, `rounds` times, medians: on a
                # shared machine a change of load then hits both.
                verify_runs, hash_runs, mapped_runs = [], [], []
                for _ in range(rounds):
                    started = time.perf_counter()
                    report = verify_log(
                        session, LOG, zip(range(events), leaves, hashes, strict=True)
                    )
                    verify_runs.append(time.perf_counter() - started)
                    assert report.is_valid, report.problem
                    started = time.perf_counter()
                    for data in leaves:
                        hashlib.sha256(b"\x00" + data).digest()
                    hash_runs.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    leaf_hashes(leaves)
                    mapped_runs.append(time.perf_counter() - started)
                verify_seconds = statistics.median(verify_runs)
                hash_seconds = statistics.median(hash_runs)
                mapped_seconds = statistics.median(mapped_runs)
        finally:
            db.dispose(app)
            if drop:
                drop()  # type: ignore[operator]
    return [
        (
            f"build the tree of {events:,} leaves (integrator, batches of {batch})",
            f"{events / append_seconds:,.0f} /s ({append_seconds:,.0f} s)",
        ),
        (
            f"inclusion proof at {events:,} events",
            f"{1000 * proof_seconds / len(generated):.2f} ms each",
        ),
        (
            "`verify`: recompute tree, compare every stored hash",
            f"{events / verify_seconds:,.0f} events/s",
        ),
        ("plain hashlib SHA-256 over the same leaves", f"{events / hash_seconds:,.0f} leaves/s"),
        ("`verify` / hashlib", f"{100 * hash_seconds / verify_seconds:.0f} %"),
        (
            "the same hashes with no Python code per leaf (`leaf_hashes`: map over hashlib)",
            f"{events / mapped_seconds:,.0f} leaves/s",
        ),
        ("`verify` / that", f"{100 * mapped_seconds / verify_seconds:.0f} %"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--no-vacuum",
        action="store_true",
        help="PostgreSQL: measure the tree just written, before any VACUUM",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"| measurement ({args.backend}, load average {load[0]:.1f} at the start) | result |")
    print("|---|---|")
    rows = run(args.backend, args.events, args.batch, args.proofs, args.rounds, not args.no_vacuum)
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
