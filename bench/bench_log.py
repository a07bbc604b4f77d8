"""The Merkle log at scale: appends, proofs and verification.

    .venv/bin/python bench/bench_log.py --events 1000000 [--backend sqlite|postgresql]

Appends go through `append_leaf` (the code custody and audit use), committed in
batches of --batch appends per transaction (a clinic commits each event on its
own; batching here keeps a million fsyncs out of the figure). Proofs are
generated from stored subtree hashes for random entries of the full tree.
`verify` recomputes the whole tree from the stored leaves and compares every
stored subtree hash; next to it, plain hashlib SHA-256 over the same leaf bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

import rfc8785
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_store import database  # noqa: E402
from clinic import create_app  # noqa: E402
from clinic.core.db import db  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.ledger.merkle import leaf_hash  # noqa: E402
from clinic.ledger.models import LogNode  # noqa: E402
from clinic.ledger.services import append_leaf, prove_inclusion, root_at, verify_log  # noqa: E402
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


def run(backend: str, events: int, batch: int, proofs: int) -> list[tuple[str, str]]:
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
            started = time.perf_counter()
            with app.app_context():
                session = db.session
                for index in range(events):
                    append_leaf(session, LOG, leaf(index))
                    if (index + 1) % batch == 0:
                        session.commit()
                        session.expunge_all()
                session.commit()
            append_seconds = time.perf_counter() - started
            with app.app_context():
                session = db.session
                root = root_at(session, LOG, events)
                sample = random.Random(7).sample(range(events), min(proofs, events))
                started = time.perf_counter()
                generated = [(i, prove_inclusion(session, LOG, i, events)) for i in sample]
                proof_seconds = time.perf_counter() - started
                for index, proof in generated:
                    verify_inclusion(index, events, leaf_hash(leaf(index)), proof, root)
                stored = session.execute(
                    sa.select(LogNode.node_index, LogNode.hash)
                    .where(LogNode.log_name == LOG, LogNode.level == 0)
                    .order_by(LogNode.node_index)
                    .execution_options(yield_per=10000)
                )
                started = time.perf_counter()
                report = verify_log(session, LOG, ((i, leaf(i), bytes(h)) for i, h in stored))
                verify_seconds = time.perf_counter() - started
                assert report.is_valid, report.problem
            leaves = [leaf(i) for i in range(events)]
            started = time.perf_counter()
            for data in leaves:
                hashlib.sha256(b"\x00" + data).digest()
            hash_seconds = time.perf_counter() - started
        finally:
            db.dispose(app)
            if drop:
                drop()  # type: ignore[operator]
    return [
        (
            f"append {events:,} events (batches of {batch})",
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
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    print(f"| measurement ({args.backend}) | result |")
    print("|---|---|")
    for name, value in run(args.backend, args.events, args.batch, args.proofs):
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
