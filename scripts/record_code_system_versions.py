"""Record the content hash of every CodeSystem version in fhir_profiles/ that is not
recorded yet (clinic/fhir/code_system_versions.py). Run after bumping a version:

    .venv/bin/python scripts/record_code_system_versions.py

A version already recorded with other content is refused, never rewritten: bump
the CodeSystem's version instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.code_system_versions import MANIFEST, committed, recorded  # noqa: E402


def main() -> int:
    known = recorded()
    added = []
    refused = []
    for (code_system_id, version), digest in committed().items():
        if (code_system_id, version) not in known:
            added.append(f"{digest}  {code_system_id} {version}")
        elif known[(code_system_id, version)] != digest:
            refused.append(f"{code_system_id} {version}")
    for name in refused:
        print(f"{name}: codes or displays changed without a version bump: bump its version")
    if added:
        with MANIFEST.open("a", encoding="utf-8") as manifest:
            manifest.write("".join(f"{line}\n" for line in added))
        print("\n".join(f"recorded {line}" for line in added))
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
