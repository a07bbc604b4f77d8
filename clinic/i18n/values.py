"""Coded values kept in records (a custody state, a reporting mode) as words for
the screen, in its language. The records keep the codes; only screens translate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask_babel import gettext

from clinic.fhir.terminology import display
from clinic.i18n import N_
from clinic.i18n.sentences import within_sentence

VALUE_WORDS: dict[str, dict[str, str]] = {
    "reporting-mode": {
        "reported": N_("reported"),
        "unreported": N_("unreported"),
        "anonymous": N_("anonymous"),
    },
    "custody": {
        "collected": N_("collected"),
        "sealed": N_("sealed"),
        "stored": N_("stored"),
        "checked-out": N_("checked out"),
        "transferred": N_("transferred"),
        "returned": N_("returned"),
        "destroyed": N_("destroyed"),
        "declined": N_("declined"),
    },
    "storage": {"ambient": N_("ambient"), "fridge": N_("fridge"), "freezer": N_("freezer")},
    "proxy": {
        "parent": N_("parent"),
        "guardian": N_("guardian"),
        "legal-representative": N_("legal representative"),
        "other": N_("other"),
    },
    "consent-answer": {
        "agreed": N_("Agreed"),
        "declined": N_("Declined"),
        "withdrawn": N_("Withdrawn"),
        "not asked": N_("Not asked"),
    },
    # The same, within a sentence.
    "consent-answer-inline": {
        "agreed": N_("agreed"),
        "declined": N_("declined"),
        "withdrawn": N_("withdrawn"),
    },
    "consent-status": {"active": N_("in force"), "inactive": N_("no longer in force")},
    "release-status": {
        "awaiting-decision": N_("awaiting survivor decision"),
        "approved": N_("approved"),
        "consent-withdrawn": N_("consent withdrawn"),
    },
    # FHIR status codes of records shown to staff (Composition, Encounter).
    "record-status": {
        "preliminary": N_("preliminary"),
        "final": N_("final"),
        "amended": N_("amended"),
        "in-progress": N_("in progress"),
        "finished": N_("finished"),
        "entered-in-error": N_("entered in error"),
    },
    "telecom": {"phone": N_("Phone"), "email": N_("Email"), "sms": N_("Text messages")},
}


def value_word(value: object, kind: str) -> str:
    """The word for `value` in the screen's language; an unknown code is shown as it is."""
    words = VALUE_WORDS.get(kind, {})
    text = str(value)
    return gettext(words[text]) if text in words else text


def translated_words(words: Mapping[str, str]) -> dict[str, str]:
    """A table of words marked where they are defined (N_), in the screen's language."""
    return {code: gettext(text) for code, text in words.items()}


def coded_words(system: str, codes: Iterable[str], *, inline: bool = False) -> dict[str, str]:
    """Codes of one of our CodeSystems -> their designation in the screen's language;
    `inline` for words within a sentence (first letter in lower case, unless the
    first word is an abbreviation: "HIV")."""
    words = {code: display(system, code) for code in codes}
    if inline:
        words = {code: within_sentence(text) for code, text in words.items()}
    return words
