"""Every code of the project's own CodeSystems that a resource uses is defined there,
with the same display: what a receiving system maps from and what it shows must be
what we publish (fhir_profiles/CodeSystem-*.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.profiles import PROFILES_DIR


def published_codes(directory: Path = PROFILES_DIR) -> dict[str, dict[str, str | None]]:
    """CodeSystem url -> code -> display, for every CodeSystem in `directory`."""
    found: dict[str, dict[str, str | None]] = {}
    for path in sorted(directory.glob("CodeSystem-*.json")):
        document = json.loads(path.read_text())
        codes: dict[str, str | None] = {}
        pending = list(document.get("concept", []))
        while pending:
            concept = pending.pop()
            codes[concept["code"]] = concept.get("display")
            pending += concept.get("concept", [])
        found[document["url"]] = codes
    return found


def _codings(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    pending: list[tuple[Any, str]] = [(node, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("system"), str) and "code" in item:
                yield where, item
            pending += [(value, f"{where}.{key}") for key, value in item.items()]
        elif isinstance(item, list):
            pending += [(value, f"{where}[{i}]") for i, value in enumerate(item)]


def display_errors(
    resource: dict[str, Any], codes: dict[str, dict[str, str | None]], source: str
) -> list[str]:
    """Each coding of one of our systems that is not defined, or whose display
    differs from the CodeSystem's."""
    errors = []
    for where, coding in _codings(resource, str(resource.get("resourceType", ""))):
        system, code = coding["system"], coding["code"]
        if not system.startswith(f"{CODE_SYSTEM}/"):
            continue
        if system not in codes:
            errors.append(f"{source} {where}: no CodeSystem {system} is published")
        elif code not in codes[system]:
            errors.append(f"{source} {where}: {system} has no code {code!r}")
        elif "display" in coding and coding["display"] != codes[system][code]:
            errors.append(
                f"{source} {where}: {system}#{code} displays {coding['display']!r}, "
                f"the CodeSystem {codes[system][code]!r}"
            )
    return errors


def directory_display_errors(directory: Path) -> list[str]:
    """display_errors for every JSON resource in `directory`."""
    codes = published_codes()
    errors: list[str] = []
    for path in sorted(directory.glob("*.json")):
        errors += display_errors(json.loads(path.read_bytes()), codes, path.name)
    return errors
