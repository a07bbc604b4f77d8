"""Our coded values in the reader's language: the designations of our CodeSystems.

Every concept of the project's own CodeSystems (fhir_profiles/CodeSystem-*.json)
carries a French and a Spanish `designation` beside its English `display`. Records
keep the code and the English display; screens and prints show the designation in
the reader's language, through `display(system, code, language)`, and fall back to
the display (then the code itself) where a language has none.

Designations are not part of a CodeSystem version's recorded content
(clinic/fhir/code_system_versions.py hashes codes and displays): translating a
concept changes what a reader sees, not what receiving systems map from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from flask import has_request_context
from flask_babel import LazyString, get_locale, gettext

from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.profiles import PROFILES_DIR
from clinic.i18n import N_

# The languages every concept has a designation in (tests/i18n checks each one).
DESIGNATION_LANGUAGES = ("fr", "es")

LOINC = "http://loinc.org"
# Codes of other code systems our records use, as screens name them: words marked
# for the catalogues (records keep the system's own display).
OTHER_WORDS: dict[tuple[str, str], str] = {
    (LOINC, "8867-4"): N_("Heart rate"),
    (LOINC, "9279-1"): N_("Respiratory rate"),
    (LOINC, "8310-5"): N_("Body temperature"),
    (LOINC, "59408-5"): N_("Oxygen saturation"),
    (LOINC, "85354-9"): N_("Blood pressure"),
    (LOINC, "8480-6"): N_("Systolic blood pressure"),
    (LOINC, "8462-4"): N_("Diastolic blood pressure"),
}


class Concept:
    __slots__ = ("designations", "display")

    def __init__(self, display: str, designations: dict[str, str]) -> None:
        self.display = display
        self.designations = designations


def _walk(concepts: list[dict[str, Any]]) -> dict[str, Concept]:
    found: dict[str, Concept] = {}
    for concept in concepts:
        designations = {
            str(d["language"]): str(d["value"])
            for d in concept.get("designation", [])
            if d.get("language") and d.get("value")
        }
        found[str(concept["code"])] = Concept(str(concept.get("display", "")), designations)
        found.update(_walk(concept.get("concept", [])))
    return found


@cache
def code_systems(directory: Path = PROFILES_DIR) -> dict[str, dict[str, Concept]]:
    """Canonical URL -> code -> its concept, for every CodeSystem in fhir_profiles/."""
    systems = {}
    for path in sorted(directory.glob("CodeSystem-*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        systems[str(document["url"])] = _walk(document.get("concept", []))
    return systems


def system_url(system: str) -> str:
    """A CodeSystem named by its canonical URL or by its id ("contact-channel")."""
    return system if "/" in system else f"{CODE_SYSTEM}/{system}"


def designations(system: str, code: str) -> dict[str, str]:
    """The concept's designations by language ({} for an unknown code)."""
    concept = code_systems().get(system_url(system), {}).get(code)
    return dict(concept.designations) if concept is not None else {}


def designated(system: str, concept: dict[str, Any]) -> dict[str, Any]:
    """The concept with the designations its committed CodeSystem holds: a script
    that rewrites a CodeSystem from the clinic's table (the English) keeps its
    translations, which are edited in fhir_profiles/."""
    translated = designations(system, str(concept["code"]))
    if not translated:
        return concept
    return {
        **concept,
        "designation": [
            {"language": language, "value": translated[language]}
            for language in DESIGNATION_LANGUAGES
            if language in translated
        ],
    }


def _language(locale: str | Locale | None) -> str:
    if locale is None:
        current = get_locale() if has_request_context() else None
        return current.language if current is not None else "en"
    if isinstance(locale, Locale):
        return locale.language
    return locale.replace("-", "_").split("_")[0]


def display(system: str, code: object, locale: str | Locale | None = None) -> str:
    """The code as `locale` reads it (the screen's language when not given): its
    designation in that language, else its English display, else the code itself.
    The one lookup for every coded value a screen or a print shows."""
    text = str(code)
    concept = code_systems().get(system_url(system), {}).get(text)
    if concept is None:
        return text
    designation = concept.designations.get(_language(locale))
    return designation or concept.display or text


def lazy_display(system: str, code: str) -> LazyString:
    """`display` evaluated when shown (for choices built once, at import time)."""
    return LazyString(display, system, code)


def concept_words(concept: Mapping[str, Any] | None) -> str:
    """A CodeableConcept as a screen shows it: the first of its codings from our
    CodeSystems in the reader's language; else its text, display or code."""
    if not concept:
        return ""
    codings = concept.get("coding") or []
    for coding in codings:
        system, code = coding.get("system"), coding.get("code")
        if system and code and designations(str(system), str(code)):
            return display(str(system), str(code))
        if (system, code) in OTHER_WORDS:
            return gettext(OTHER_WORDS[(str(system), str(code))])
    first = codings[0] if codings else {}
    return str(concept.get("text") or first.get("display") or first.get("code") or "")
