"""The CodeSystem and ValueSet of each list in clinic/exam/lists.py, as committed
in fhir_profiles/ (scripts/write_exam_vocabularies.py writes them; a test checks
the committed files match the lists)."""

from __future__ import annotations

from typing import Any

from clinic.exam.lists import Vocabulary
from clinic.fhir.canonical import CODE_SYSTEM, VALUE_SET
from clinic.fhir.terminology import designated

PUBLISHER = "Forensic care clinic project"
DATE = "2026-12-06"


def _name(vocabulary: Vocabulary) -> str:
    return "".join(part.capitalize() for part in vocabulary.id.split("-"))


def code_system(vocabulary: Vocabulary) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": vocabulary.id,
        "url": f"{CODE_SYSTEM}/{vocabulary.id}",
        "version": vocabulary.version,
        "status": "draft",
        "publisher": PUBLISHER,
        "date": DATE,
        "name": _name(vocabulary),
        "title": vocabulary.title,
        "description": vocabulary.description,
        "caseSensitive": True,
        "content": "complete",
        "concept": [_concept(vocabulary, code, text) for code, text in vocabulary.terms.items()],
    }


def _concept(vocabulary: Vocabulary, code: str, display: str) -> dict[str, Any]:
    # The lists hold the English; the designations are kept from the committed file.
    return designated(f"{CODE_SYSTEM}/{vocabulary.id}", {"code": code, "display": display})


def value_set(vocabulary: Vocabulary) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": vocabulary.id,
        "url": f"{VALUE_SET}/{vocabulary.id}",
        "version": "0.1.0",
        "status": "draft",
        "publisher": PUBLISHER,
        "date": DATE,
        "name": _name(vocabulary),
        "title": vocabulary.title,
        "description": f"All codes of {vocabulary.title.lower()}.",
        "compose": {"include": [{"system": f"{CODE_SYSTEM}/{vocabulary.id}"}]},
    }
