"""Write the snapshot of every StructureDefinition in fhir_profiles/, generated from
its differential over the official R4B definitions (clinic/fhir/snapshots.py; the
npm package hl7.fhir.r4b.core, installed by `npm ci`, no network). Run after
changing any differential:

    .venv/bin/python scripts/write_snapshots.py

tests/fhir/test_snapshots.py fails when a checked-in snapshot differs from this.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.profiles import PROFILES_DIR  # noqa: E402
from clinic.fhir.snapshots import snapshotted, text  # noqa: E402


def main() -> None:
    changed = 0
    for path, document in snapshotted(PROFILES_DIR).items():
        written = text(document)
        if path.read_text() != written:
            path.write_text(written)
            changed += 1
            print(f"wrote {path.relative_to(ROOT)}")
    print(f"{changed} snapshots changed")


if __name__ == "__main__":
    main()
