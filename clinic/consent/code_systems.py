"""The CodeSystems of the consent forms' items: one per form
(`…/CodeSystem/consent-form/<form>`), the code each provision of a Consent carries
in fc-consent-item. Written into fhir_profiles/ by
scripts/write_consent_form_code_systems.py; tests/consent/test_code_systems.py fails
when the files drift from the forms."""

from __future__ import annotations

from typing import Any

from clinic.consent.definitions import FALLBACK_LANGUAGE, FormLibrary
from clinic.fhir.canonical import CODE_SYSTEM

CONSENT_FORM_SYSTEM = f"{CODE_SYSTEM}/consent-form"
# Every entry of her "never share with" list is a deny provision with this code.
NEVER_SHARE = "never-share"
NEVER_SHARE_DISPLAY = "Never share with"
# Its designations, in the languages the forms are written in besides English.
NEVER_SHARE_WORDS = {"fr": "Ne jamais partager avec", "es": "Nunca compartir con"}
# The version of each form's CodeSystem: bump it (and its date) when a new form
# version changes an item's English text or its items (fhir_profiles/README.md).
VERSION = "0.1.0"


def item_system(form: str) -> str:
    return f"{CONSENT_FORM_SYSTEM}/{form}"


def is_never_share(item_code: str) -> bool:
    """Her never-share entries; Consents written before the code was one carried
    `never-share-<n>`."""
    return item_code == NEVER_SHARE or item_code.startswith(f"{NEVER_SHARE}-")


def form_code_systems(library: FormLibrary | None = None) -> dict[str, dict[str, Any]]:
    """File name -> CodeSystem, for every form: the items of its newest version
    (displays in English, the form's other languages as designations), and
    `never-share` for a form that asks for the list."""
    library = library or FormLibrary()
    found: dict[str, dict[str, Any]] = {}
    for form in library.current():
        concepts: list[dict[str, Any]] = []
        for item in form.items:
            concept: dict[str, Any] = {"code": item.id, "display": item.text[FALLBACK_LANGUAGE]}
            others = [
                {"language": language, "value": item.text[language]}
                for language in form.languages
                if language != FALLBACK_LANGUAGE
            ]
            if others:
                concept["designation"] = others
            concepts.append(concept)
        if "never-share" in form.asks:
            concepts.append(
                {
                    "code": NEVER_SHARE,
                    "display": NEVER_SHARE_DISPLAY,
                    "definition": "An organisation or person she names who must never "
                    "receive anything (a deny provision naming them).",
                    "designation": [
                        {"language": language, "value": NEVER_SHARE_WORDS[language]}
                        for language in form.languages
                        if language in NEVER_SHARE_WORDS
                    ],
                }
            )
        title = form.title[FALLBACK_LANGUAGE]
        found[f"CodeSystem-consent-form-{form.form}.json"] = {
            "resourceType": "CodeSystem",
            "id": f"consent-form-{form.form}",
            "url": item_system(form.form),
            "version": VERSION,
            "name": "ConsentForm" + "".join(p.capitalize() for p in form.form.split("-")),
            "title": f"Items of the consent form: {title}",
            "status": "draft",
            "date": form.published,
            "publisher": "Forensic care clinic project",
            "description": (
                f"The items of the consent form {form.form!r} (consent_forms/{form.form}/), "
                f"as of version {form.version}: the code in fc-consent-item of each provision "
                "of a Consent recording this form; the display is the item as she reads it "
                "in English."
            ),
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "concept": concepts,
        }
    return found
