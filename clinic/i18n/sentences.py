"""Sentences a domain service writes for a person to read (the exam report's lines,
what a consent means), sayable in any language.

A `Sentence` is the English text, as records keep it (a signed report's narrative
is English), and also the message it was made from, marked for the catalogues,
with its named values: a coded value (`Coded`), a moment (`Moment`), a list, another
sentence, or text as someone wrote it (kept as written). A screen or a print says
it in its reader's language with `said(line)` (the `said` filter); a service never
needs to know who will read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext

from clinic.fhir.terminology import designations, display
from clinic.i18n import N_


@dataclass(frozen=True)
class Coded:
    """A code of one of our CodeSystems: its display in English (or the English
    the service has always written for it), its designation in the reader's language."""

    system: str
    code: str
    inline: bool = False  # within a sentence: first letter in lower case
    english_text: str | None = None

    def english(self) -> str:
        if self.english_text is not None:
            return self.english_text
        return _inline(display(self.system, self.code, "en"), self.inline)

    def said(self) -> str:
        if not designations(self.system, self.code):
            return self.english()  # not one of our codes, or not translated
        return _inline(display(self.system, self.code), self.inline)


@dataclass(frozen=True)
class Moment:
    """A moment, in words in English (as the record says it) and as the reader's
    language writes a date and time, in the same named zone."""

    at: datetime
    zone: str
    english_words: str
    seconds: bool = False  # to the second, as logs need

    def english(self) -> str:
        return self.english_words

    def said(self) -> str:
        from clinic.i18n import format_moment

        return f"{format_moment(self.at, self.zone, seconds=self.seconds)} ({self.zone})"


@dataclass(frozen=True)
class Number:
    """A number with one decimal, as records write it ("20.5") and as the reader's
    language does ("20,5")."""

    value: float

    def english(self) -> str:
        return f"{self.value:.1f}"

    def said(self) -> str:
        from babel.numbers import format_decimal
        from flask_babel import get_locale

        return format_decimal(round(self.value, 1), format="0.0", locale=get_locale() or "en")


@dataclass(frozen=True)
class Measure:
    """A measured value as the record writes it ("36.8", "120"), and with the reader's
    language's decimal separator ("36,8"), keeping the record's decimals."""

    value: Any

    def english(self) -> str:
        return str(self.value)

    def said(self) -> str:
        return format_measure(self.value)


def format_measure(value: Any) -> str:
    """A number as recorded, written as the reader's language writes numbers (its
    decimal separator), with as many decimals as the record has; anything that is
    not a number, as it is."""
    from decimal import Decimal, InvalidOperation

    from babel.numbers import format_decimal
    from flask_babel import get_locale

    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    text = str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    decimals = len(text.split(".", 1)[1]) if "." in text and "e" not in text.lower() else 0
    pattern = "0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(number, format=pattern, locale=get_locale() or "en")


@dataclass(frozen=True)
class Day:
    """A calendar day, in words in English (as the record says it) and as the
    reader's language writes a date."""

    day: date
    english_words: str

    def english(self) -> str:
        return self.english_words

    def said(self) -> str:
        from clinic.i18n import format_day

        return format_day(self.day)


@dataclass(frozen=True)
class Texts:
    """Text written in each language where it is defined (a consent form's title):
    the English, and the reader's language's where there is one."""

    texts: Mapping[str, str]

    def english(self) -> str:
        return self.texts.get("en") or next(iter(self.texts.values()), "")

    def said(self) -> str:
        from flask_babel import get_locale

        locale = get_locale()
        language = locale.language if locale is not None else "en"
        return self.texts.get(language) or self.english()


@dataclass(frozen=True)
class Word:
    """A word marked for the catalogues where it is defined (N_): a status, a kind."""

    message: str
    inline: bool = False
    english_text: str | None = None  # what records have always written, if not the message

    def english(self) -> str:
        if self.english_text is not None:
            return self.english_text
        return _inline(self.message, self.inline)

    def said(self) -> str:
        return _inline(gettext(self.message), self.inline)


@dataclass(frozen=True)
class Language:
    """A language by its code ("fr"), named in the reader's language ("French",
    "francés")."""

    code: str

    def english(self) -> str:
        return _language_name(self.code, "en")

    def said(self) -> str:
        from flask_babel import get_locale

        return _language_name(self.code, str(get_locale() or "en"))


def _language_name(code: str, reader: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code).get_display_name(reader) or code
    except (ValueError, UnknownLocaleError):
        return code


# The word joining alternatives ("sent or closed").
OR = N_("or")


@dataclass(frozen=True)
class Listing:
    """Values joined by a comma (coded values, sentences, text), or by a marked
    word such as `OR`."""

    values: tuple[Any, ...]
    conjunction: str | None = None
    separator: str = ", "

    def english(self) -> str:
        joiner = f" {self.conjunction} " if self.conjunction else self.separator
        return joiner.join(_english(v) for v in self.values)

    def said(self) -> str:
        joiner = f" {gettext(self.conjunction)} " if self.conjunction else self.separator
        return joiner.join(said(v) for v in self.values)


class Sentence(str):
    """The English sentence (a `str`, for records and every existing reader), and
    the marked message with the values it was made from."""

    message: str
    values: Mapping[str, Any]

    def __new__(cls, message: str, /, **values: Any) -> Sentence:
        english = message % {k: _english(v) for k, v in values.items()} if values else message
        made = super().__new__(cls, english)
        made.message = message
        made.values = values
        return made

    def said(self) -> str:
        text = gettext(self.message)
        if not self.values:
            return text
        return text % {k: said(v) for k, v in self.values.items()}


def sentence(message: str, /, **values: Any) -> Sentence:
    """A sentence from a message marked here for the catalogues (keyword `sentence`
    in scripts/update_translations) and its named values."""
    return Sentence(message, **values)


def said(value: Any) -> str:
    """A value in the reader's language: a sentence, a coded value, a moment or a
    list in it; anything else (what someone wrote) as it is."""
    if isinstance(
        value,
        Sentence | Coded | Moment | Day | Number | Measure | Texts | Word | Listing | Language,
    ):
        return value.said()
    return str(value)


def _english(value: Any) -> str:
    if isinstance(
        value, Coded | Moment | Day | Number | Measure | Texts | Word | Listing | Language
    ):
        return value.english()
    return str(value)


def within_sentence(text: str) -> str:
    """Words within a sentence: first letter in lower case, unless the first word
    is an abbreviation ("HIV")."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _inline(text: str, inline: bool) -> str:
    return within_sentence(text) if inline else text
