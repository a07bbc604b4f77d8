"""Our coded values carry French and Spanish designations, and screens show them
through one lookup that falls back to the English display."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.code_system_versions import content_hash
from clinic.fhir.profiles import PROFILES_DIR
from clinic.fhir.terminology import (
    DESIGNATION_LANGUAGES,
    code_systems,
    designations,
    display,
    lazy_display,
)

CODE_SYSTEM_FILES = sorted(PROFILES_DIR.glob("CodeSystem-*.json"))


def _concepts(concepts: list[dict]) -> list[dict]:
    found = []
    for concept in concepts:
        found.append(concept)
        found.extend(_concepts(concept.get("concept", [])))
    return found


@pytest.mark.parametrize("path", CODE_SYSTEM_FILES, ids=lambda path: path.stem)
def test_every_concept_has_a_french_and_a_spanish_designation(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for concept in _concepts(document["concept"]):
        languages = [d.get("language") for d in concept.get("designation", [])]
        for language in DESIGNATION_LANGUAGES:
            values = [
                d.get("value", "")
                for d in concept.get("designation", [])
                if d.get("language") == language
            ]
            if len(values) != 1 or not values[0].strip():
                problems.append(f"{concept['code']}: {language} {values}")
        if len(languages) != len(set(languages)):
            problems.append(f"{concept['code']}: a language twice {languages}")
    assert not problems, problems


def test_every_project_code_system_is_read_by_the_lookup() -> None:
    urls = {json.loads(p.read_text(encoding="utf-8"))["url"] for p in CODE_SYSTEM_FILES}
    assert urls
    assert set(code_systems()) == urls


def test_designations_are_not_part_of_a_versions_recorded_content() -> None:
    """Translating a concept changes no code or display: its version stays."""
    document = json.loads((PROFILES_DIR / "CodeSystem-contact-channel.json").read_text())
    stripped = json.loads(json.dumps(document))
    for concept in _concepts(stripped["concept"]):
        concept.pop("designation", None)
    assert content_hash(stripped) == content_hash(document)


def test_the_lookup_gives_the_designation_then_the_display_then_the_code() -> None:
    assert display("contact-channel", "email", "fr") == "Courriel"
    assert display(f"{CODE_SYSTEM}/contact-channel", "email", "es") == "Correo electrónico"
    assert display("contact-channel", "email", "fr_CA") == "Courriel"
    assert display("contact-channel", "email", "en") == "Email"
    assert display("contact-channel", "email", "de") == "Email"  # no German: the display
    assert display("contact-channel", "carrier-pigeon", "fr") == "carrier-pigeon"
    assert display("no-such-system", "email", "fr") == "email"
    assert designations("release-item", "identity") == {
        "fr": "Son nom et ses coordonnées",
        "es": "Su nombre y sus datos de contacto",
    }


def test_the_lookup_follows_the_screens_language(app: Flask) -> None:
    label = lazy_display("safety-answer", "not-asked")
    assert display("safety-answer", "not-asked") == "Not asked"  # no request: English
    for language, expected in (("fr", "Non demandé"), ("es", "No preguntado"), ("en", "Not asked")):
        with app.test_request_context(headers={"Accept-Language": language}):
            assert display("safety-answer", "not-asked") == expected
            assert str(label) == expected
            rendered = app.jinja_env.from_string('{{ "not-asked"|coded("safety-answer") }}')
            assert rendered.render() == expected
            assert (
                app.jinja_env.from_string('{{ "not-asked"|coded("safety-answer", "es") }}').render()
                == "No preguntado"
            )
