"""Build the FHIR package of the clinic's definitions (clinic/fhir/package.py): every
StructureDefinition (with its snapshot), CodeSystem, ValueSet and OperationDefinition
of fhir_profiles/, an ImplementationGuide listing them, and the examples.

    .venv/bin/python scripts/build_fhir_package.py [OUTPUT.tgz]

Writes `org.forensic-care.fhir-<version>.tgz` in the current directory unless told
where; the same bytes as the API's GET /fhir/package.tgz. Run
scripts/write_snapshots.py first after changing a differential.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.package import build_package  # noqa: E402
from clinic.fhir.profiles import PROFILES_DIR  # noqa: E402


def main() -> None:
    built = build_package(PROFILES_DIR)
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(built.filename)
    output.write_bytes(built.tarball)
    print(f"{output} {len(built.tarball)} bytes, {len(built.members)} files, sha256 {built.sha256}")


if __name__ == "__main__":
    main()
