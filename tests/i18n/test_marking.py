"""Every word a person reads in a template is marked for translation.

Each template is run through Jinja's own lexer: the text between tags (outside
`{% trans %}` blocks) must hold no words once HTML markup is removed, the
attributes people read (aria-label, title, alt, placeholder) must hold none, and a
string literal in an expression that reads like a sentence must be the argument
of `_()`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment

from clinic import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"

# Templates whose strings are not marked yet: none now. A template may only leave
# this list (the test fails if a template listed here has no unmarked string left).
NOT_YET_MARKED: set[str] = set()

# Text that is the same in every language.
SAME_IN_EVERY_LANGUAGE = {"FHIR", "QR", "JWS", "SHA", "UTC", "OK"}

# FHIR resource types, compared with in templates, never shown.
RESOURCE_TYPES = {
    "Composition",
    "Encounter",
    "Observation",
    "MedicationAdministration",
    "Media",
    "Task",
}
# Codes compared with in templates, never shown.
CODES = {"not asked"}

# A placeholder for everything Jinja computes: never a word.
HOLE = "\x00"
WORD = re.compile(r"[^\W\d_]{2,}")
READ_ATTRIBUTES = re.compile(
    r"""\b(aria-label|title|alt|placeholder|data-label)\s*=\s*"([^"]*)\"""", re.IGNORECASE
)
MARKERS = {"_", "gettext", "ngettext", "pgettext", "N_"}


def _words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if w not in SAME_IN_EVERY_LANGUAGE]


def _looks_like_words_for_people(literal: str) -> bool:
    """A literal such as 'Not recorded' or 'never' as opposed to a class name, an
    endpoint, a format or a key ('notice-error', 'cases.case', '%Y-%m-%d')."""
    if not WORD.search(literal) or literal in RESOURCE_TYPES | CODES:
        return False
    if " " not in literal.strip() and not re.fullmatch(r"[A-Z][a-z]+[.:]?", literal.strip()):
        # One token: an identifier ('BooleanField', 'GET', 'cases.case'), unless it
        # is a known word shown as it is.
        return literal.strip() in {"never", "none", "yes", "no", "live", "revoked", "expired"}
    if re.fullmatch(r"[a-z0-9_\-]+( [a-z0-9_\-]+)*", literal) and "-" in literal:
        return False  # CSS classes
    return bool(re.search(r"[A-Za-z]{2,}", literal)) and not re.fullmatch(
        r"[%a-zA-Z\-:/ .]*%[a-zA-Z][%a-zA-Z\-:/ .]*", literal
    )


def unmarked_strings(source: str) -> list[str]:
    """What a person would read in this template source that no translation covers."""
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)  # only lexed
    skeleton: list[str] = []
    literals: list[str] = []
    in_trans = False
    tokens = list(env.lex(source))
    for index, (_, kind, value) in enumerate(tokens):
        if kind == "data":
            skeleton.append(HOLE if in_trans else value)
            continue
        if kind == "name" and value in {"trans", "pluralize"}:
            in_trans = True
        elif kind == "name" and value == "endtrans":
            in_trans = False
        if kind == "string":
            value = value[1:-1]  # the lexer keeps the quotes
            before = [t for t in tokens[max(0, index - 3) : index] if t[1] != "whitespace"]
            marked = any(t[1] == "name" and t[2] in MARKERS for t in before[-2:])
            # A code compared with (`p.why == 'never'`) is never shown.
            compared = bool(before) and before[-1][1:] in {("operator", "=="), ("operator", "!=")}
            if not marked and not compared and _looks_like_words_for_people(value):
                literals.append(value)
        if not skeleton or skeleton[-1] != HOLE:
            skeleton.append(HOLE)
    text = "".join(skeleton)
    text = re.sub(r"<!--.*?-->", HOLE, text, flags=re.DOTALL)
    found = [
        f'{name}="{value}"'
        for name, value in READ_ATTRIBUTES.findall(text)
        if _words(value.replace(HOLE, " "))
    ]
    text = re.sub(r"<(script|style)\b.*?</\1>", HOLE, text, flags=re.DOTALL | re.IGNORECASE)
    text = re.sub(r"<[^>]*>", HOLE, text)
    text = text.replace("&nbsp;", " ")
    for piece in text.split(HOLE):
        if _words(re.sub(r"&\w+;", " ", piece)):
            found.append(piece.strip())
    return found + [f"'{literal}'" for literal in literals]


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_string_in_the_template_is_marked(path: Path) -> None:
    name = str(path.relative_to(TEMPLATES))
    found = unmarked_strings(path.read_text(encoding="utf-8"))
    if name in NOT_YET_MARKED:
        assert found, f"{name} is fully marked: take it off NOT_YET_MARKED"
        return
    assert not found, f"{name}: not marked for translation: {found}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>Hello there</p>", ["Hello there"]),
        ("<p>{{ _('Hello there') }}</p>", []),
        ("<p>{% trans %}Hello <b>there</b>{% endtrans %}</p>", []),
        ('<nav aria-label="Main">{{ x }}</nav>', ['aria-label="Main"']),
        ("<nav aria-label=\"{{ _('Main') }}\"></nav>", []),
        ("<a href=\"{{ url_for('home.index') }}\">Back</a>", ["Back"]),
        ("{{ field(form.x, hint='Say it in words.') }}", ["'Say it in words.'"]),
        ("{{ field(form.x, hint=_('Say it in words.')) }}", []),
        ("{{ value if value else 'never' }}", ["'never'"]),
        ("{% if why == 'never' %}{{ _('Never') }}{% endif %}", []),
        ("<p class=\"notice notice-error\">{{ x.strftime('%Y-%m-%d') }}</p>", []),
        ("{# a comment in English #}<p>{{ x }} · {{ y }}</p>", []),
    ],
)
def test_the_check_finds_what_people_read(source: str, expected: list[str]) -> None:
    assert unmarked_strings(source) == expected
