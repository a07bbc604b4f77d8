"""What each published version of our CodeSystems says: a recorded hash per version.

A CodeSystem's codes and displays are what every record written with them shows
and what receiving systems map from, so none may change silently: a change of a
display (or a code added or removed) is a new `version` of the CodeSystem. The
file `fhir_profiles/CODE-SYSTEM-VERSIONS` keeps, for every version ever
published, the SHA-256 of its codes and displays; a test fails when a committed
CodeSystem's content does not match the hash recorded for its version (changed
without a bump), or when its version was never recorded.

After bumping a version: `python scripts/record_code_system_versions.py` adds its
line. It never rewrites a recorded version's hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clinic.fhir.profiles import PROFILES_DIR

MANIFEST = PROFILES_DIR / "CODE-SYSTEM-VERSIONS"


def _concepts(concepts: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for concept in concepts:
        yield str(concept["code"]), str(concept.get("display", ""))
        yield from _concepts(concept.get("concept", []))


def content_hash(code_system: dict[str, Any]) -> str:
    """SHA-256 of a CodeSystem's codes and displays, in code order (the order a
    screen shows them is not part of their meaning)."""
    pairs = sorted(_concepts(code_system.get("concept", [])))
    return hashlib.sha256(
        json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def recorded(path: Path = MANIFEST) -> dict[tuple[str, str], str]:
    """(CodeSystem id, version) -> the recorded hash. A version recorded twice is an
    error: a version's content is fixed once published."""
    found: dict[tuple[str, str], str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, code_system_id, version = line.split()
        key = (code_system_id, version)
        if key in found:
            raise ValueError(f"{path.name} line {number}: {code_system_id} {version} twice")
        found[key] = digest
    return found


def committed(directory: Path = PROFILES_DIR) -> dict[tuple[str, str], str]:
    """(id, version) -> hash of every CodeSystem in fhir_profiles/ now."""
    result = {}
    for path in sorted(directory.glob("CodeSystem-*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        result[(document["id"], document["version"])] = content_hash(document)
    return result


def silent_changes(
    directory: Path = PROFILES_DIR, path: Path = MANIFEST
) -> list[tuple[str, str, str]]:
    """Every committed CodeSystem whose content is not what its version recorded:
    (id, version, "changed without a version bump" | "version not recorded")."""
    known = recorded(path)
    problems = []
    for (code_system_id, version), digest in committed(directory).items():
        if (code_system_id, version) not in known:
            problems.append((code_system_id, version, "version not recorded"))
        elif known[(code_system_id, version)] != digest:
            problems.append((code_system_id, version, "changed without a version bump"))
    return problems
