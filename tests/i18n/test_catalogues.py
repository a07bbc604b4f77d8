"""The French and Spanish catalogues hold every marked message, translated, none
fuzzy or stale, each with exactly the placeholders and markup of the English."""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from clinic import PROJECT_ROOT
from clinic.i18n import REPORT_PAGE_NUMBER, TRANSLATIONS_DIR, catalogue_path

LANGUAGES = ("fr", "es")
# The keywords scripts/update_translations extracts (sentence: clinic/i18n/sentences.py).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "sentence": None}
PLACEHOLDER = re.compile(r"%\([^)]+\)[sdif]|%[sdif]|\{[a-z_]+\}")
MARKUP = re.compile(r"</?[a-z][^>]*>")


@cache
def extracted() -> frozenset[str]:
    """Every message marked in the code and templates now, as scripts/update_translations
    extracts them."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return frozenset(found)


def catalogue(language: str) -> Catalog:
    with catalogue_path(TRANSLATIONS_DIR, language).open("rb") as source:
        return read_po(source, locale=language)


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def test_the_template_is_current() -> None:
    with (TRANSLATIONS_DIR / "messages.pot").open("rb") as source:
        template = read_po(source)
    held = {_key(m.id) for m in template if m.id}
    assert held == extracted(), (
        "translations/messages.pot is out of date: run scripts/update_translations "
        f"(new: {sorted(extracted() - held)[:5]}, gone: {sorted(held - extracted())[:5]})"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    held = {_key(m.id): m for m in catalogue(language) if m.id}
    missing = sorted(extracted() - held.keys())
    assert not missing, f"{language}: no entry for {missing[:10]}"
    untranslated = sorted(
        key
        for key, m in held.items()
        if not (m.string if isinstance(m.string, str) else all(m.string))
    )
    assert not untranslated, f"{language}: not translated: {untranslated[:10]}"
    fuzzy = sorted(key for key, m in held.items() if m.fuzzy)
    assert not fuzzy, f"{language}: fuzzy (check and clear the flag): {fuzzy[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_is_stale(language: str) -> None:
    held = catalogue(language)
    stale = sorted({_key(m.id) for m in held if m.id} - extracted())
    assert not stale, f"{language}: no longer in the code: {stale[:10]}"
    assert not held.obsolete, f"{language}: obsolete entries: {list(held.obsolete)[:10]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_and_markup_are_those_of_the_english(language: str) -> None:
    wrong = []
    for message in catalogue(language):
        if not message.id:
            continue
        pairs = (
            [(message.id, message.string)]
            if isinstance(message.id, str)
            else [(message.id[0], s) for s in message.string]
        )
        for english, translated in pairs:
            for pattern in (PLACEHOLDER, MARKUP):
                if sorted(pattern.findall(english)) != sorted(pattern.findall(translated)):
                    wrong.append(f"{english!r} -> {translated!r}")
    assert not wrong, f"{language}: placeholders or markup differ:\n" + "\n".join(wrong)


def test_placeholders_agree_between_languages() -> None:
    by_language = {
        language: {
            _key(m.id): sorted(PLACEHOLDER.findall(str(m.string))) for m in catalogue(language)
        }
        for language in LANGUAGES
    }
    first, *others = LANGUAGES
    for other in others:
        differing = [
            key
            for key, found in by_language[first].items()
            if key in by_language[other] and by_language[other][key] != found
        ]
        assert not differing, f"{first} and {other} differ in placeholders: {differing[:10]}"


def test_the_check_catches_a_wrong_placeholder() -> None:
    english = "Welcome, %(name)s"
    assert PLACEHOLDER.findall(english) != PLACEHOLDER.findall("Bienvenue, %(nom)s")
    assert MARKUP.findall("<strong>Not saved.</strong>") != MARKUP.findall("Non enregistré.")


@pytest.mark.parametrize("language", LANGUAGES)
def test_printed_page_numbers_follow_the_catalogue(language: str) -> None:
    """The report's "Page X of Y" is drawn by CSS, which cannot read the catalogue:
    each language's stylesheet says what its catalogue says."""
    translated = catalogue(language).get(REPORT_PAGE_NUMBER)
    assert translated is not None
    assert isinstance(translated.string, str)
    assert translated.string
    content = (
        '"'
        + translated.string.replace("%(page)s", '" counter(page) "').replace(
            "%(pages)s", '" counter(pages) "'
        )
        + '"'
    ).replace(' ""', "")
    css = (PROJECT_ROOT / "static" / f"report-{language}.css").read_text(encoding="utf-8")
    assert f"content: {content};" in css, f"static/report-{language}.css should say {content}"
