"""The decision point's reasons, as records keep them (English), read back by their
shapes and said in the reader's language.

`decide` writes its reasons in English ("role examiner may read Patient
(own-site)"), and the audit trail keeps them byte for byte: records never change.
Screens that show a recorded reason (the auditor's audit list) read it back here:
each shape below is the English the policy (clinic.access.policy) and her Consents'
evaluation (clinic.access.consent) write, with named values, and the message it
is said with, marked for the catalogues. A reason of no known shape (an older
record, a newer one) is None here: the screen shows it as recorded.

tests/access/test_said.py reads every reason policy.py and consent.py can write
and fails when one has no shape here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from clinic.access.consent import Verdict
from clinic.access.policy import (
    _NOT_CONSULTED,
    DECLINED,
    EXPERT_ENDED,
    NEVER_RELEASED,
    Action,
    Scope,
)
from clinic.access.roles import ROLE_LABELS, Role
from clinic.fhir.terminology import designations
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Language, Moment, Sentence, Word

# The actions of the decision point, as verbs within a sentence ("may read").
ACTION_WORDS: dict[str, str] = {
    Action.READ: N_("read"),
    Action.SEARCH: N_("search"),
    Action.CREATE: N_("create"),
    Action.UPDATE: N_("update"),
    Action.EXPORT: N_("export"),
}
SCOPE_WORDS: dict[str, str] = {
    Scope.OWN_SITE: N_("own site"),
    Scope.ALL: N_("all sites"),
    Scope.SELF: N_("own records"),
    Scope.OWN_SITE_OR_NONE: N_("own site, or no site yet"),
}
VERDICT_WORDS: dict[str, str] = {Verdict.PERMIT: N_("permit"), Verdict.DENY: N_("deny")}
# The logs whose proofs a role may read (policy.LOG_READERS), named within a sentence.
LOG_WORDS: dict[str, str] = {"audit": N_("audit trail"), "custody": N_("custody log")}

# What a sign-in's second factor was asked for (clinic.accounts), and by which factor.
PURPOSE_WORDS: dict[str, str] = {
    "sign-in": N_("sign-in"),
    "passkey enrolment": N_("passkey enrolment"),
    "confirmation": N_("confirmation"),
}
FACTOR_WORDS: dict[str, str] = {
    "authenticator app": N_("authenticator app"),
    "recovery code": N_("recovery code"),
    "passkey": N_("passkey"),
}

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _word(words: Mapping[str, str], *, others_as_recorded: bool = False) -> Callable[[str], Any]:
    """A coded value said by its word; another value is no known shape, or (for a
    name such as a log's, which the policy writes whatever it is asked) as recorded."""

    def read(text: str) -> Any:
        if text in words:
            return Word(words[text], english_text=text)
        return text if others_as_recorded else None

    return read


def _role(text: str) -> Any:
    return Word(ROLE_LABELS[Role(text)], english_text=text) if text in set(Role) else None


def _moment(text: str) -> Any:
    """A moment as recorded (ISO 8601, with its offset), said in the clinic's zone."""
    from flask import current_app, has_app_context

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    zone = current_app.config["CLINIC_TIMEZONE"] if has_app_context() else "UTC"
    try:
        at.astimezone(ZoneInfo(zone))
    except OverflowError:  # at the calendar's ends: no moment the clinic can say
        return None
    return Moment(at, zone, english_words=text, seconds=True)


def _language(text: str) -> Any:
    """A language by its code (no language Babel knows: no known shape)."""
    from babel import Locale, UnknownLocaleError

    if text == "not recorded":
        return Word(NOT_RECORDED, english_text=text)
    try:
        Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        return None
    return Language(text)


def _coded(system: str) -> Callable[[str], Any]:
    """A code of one of our CodeSystems, within a sentence; another value is no
    known shape."""

    def read(text: str) -> Any:
        return (
            Coded(system, text, inline=True, english_text=text)
            if designations(system, text)
            else None
        )

    return read


NOT_RECORDED = N_("not recorded")
# What a sign-in throttle counts by (clinic.accounts.throttle), within a sentence.
THROTTLE_WORDS: dict[str, str] = {
    "username": N_("by user name"),
    "address": N_("by network address"),
    "overall": N_("across the clinic"),
}
# How a photograph was corrected (clinic.media.services.PhotoChange), within a sentence.
CHANGE_WORDS: dict[str, str] = {
    "intimate": N_("marked as an intimate image"),
    "not-intimate": N_("marked as not an intimate image"),
    "retire": N_("retired, taken in error"),
}


# What each named value of a shape may be, and how it is said: a value that is not
# one of these (a role no longer known) makes the reason one of no known shape.
# Other names are text as recorded (a record's kind, a consent's form and item).
VALUES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "role": (r"[a-z]+", _role),
    "action": (r"[a-z]+", _word(ACTION_WORDS)),
    "scope": (r"[a-z-]+", _word(SCOPE_WORDS)),
    "verdict": (r"[a-z]+", _word(VERDICT_WORDS)),
    "log": (r"\S+", _word(LOG_WORDS, others_as_recorded=True)),
    "until": (r"\S+", _moment),
    "kind": (r"[A-Za-z]+", str),
    "count": (r"\d+", str),
    "purpose": (r"[a-z -]+", _word(PURPOSE_WORDS)),
    "factor": (r"[a-z ]+", _word(FACTOR_WORDS)),
    "language": (r"[a-z]{2,3}", str),
    "form": (r"[^\s,()]+", str),
    "status": (r"\d+", str),
    "from_language": (r"[a-z]{2,3}|not recorded", _language),
    "to_language": (r"[a-z]{2,3}", _language),
    "from_mode": (r"[a-z]+", _coded("reporting-mode")),
    "to_mode": (r"[a-z]+", _coded("reporting-mode")),
    "channel": (r"[a-z-]+", _coded("contact-channel")),
    "outcome": (r"[a-z-]+", _coded("contact-outcome")),
    "change": (r"[a-z-]+", _word(CHANGE_WORDS)),
    "digest": (r"[0-9a-f]+", str),
    "throttle": (r"[a-z]+", _word(THROTTLE_WORDS)),
}
_TEXT = (r".+?", str)


@dataclass(frozen=True)
class Shape:
    """A message said in the reader's language, and the English records write for
    it (the message itself unless told), with the same named values."""

    message: str
    recorded: str | None = None
    # Values this shape reads its own way (a nested sentence), over VALUES.
    values: Mapping[str, tuple[str, Callable[[str], Any]]] | None = None

    def _value(self, name: str) -> tuple[str, Callable[[str], Any]]:
        if self.values and name in self.values:
            return self.values[name]
        return VALUES.get(name, _TEXT)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        english = self.recorded or self.message
        parts = _PLACEHOLDER.split(english)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{self._value(part)[0]})"
            for i, part in enumerate(parts)
        )
        return re.compile(regex)

    def read(self, text: str) -> Sentence | None:
        found = self.pattern.fullmatch(text)
        if found is None:
            return None
        values = {}
        for name, value in found.groupdict().items():
            said = self._value(name)[1](value)
            if said is None:
                return None
            values[name] = said
        return Sentence(self.message, **values)


# Every reason the decision point and her Consents' evaluation write.
REASON_SHAPES: tuple[Shape, ...] = (
    Shape(N_("role %(role)s may %(action)s %(kind)s (%(scope)s)")),
    Shape(N_("role %(role)s may not %(action)s %(kind)s")),
    Shape(N_("role %(role)s may %(action)s %(kind)s where her consent permits")),
    Shape(N_("role %(role)s may %(action)s %(kind)s only by %(operation)s")),
    Shape(N_("role %(role)s may not record custody action %(operation)s")),
    Shape(
        N_("role %(role)s may not read the proofs of the %(log)s"),
        recorded="role %(role)s may not read the %(log)s log's proofs",
    ),
    Shape(N_("%(kind)s belongs to another site")),
    Shape(N_("%(kind)s belongs to another user")),
    Shape(N_("%(what)s is not a kind of record this system holds")),
    Shape(N_("the record is not of the kind asked for")),
    Shape(N_("%(kind)s is a published definition: every user may read it")),
    Shape(N_("%(kind)s is published with the clinic, never written by users")),
    Shape(N_("%(kind)s is never released")),
    Shape(N_("police may receive %(kind)s where her consent permits")),
    Shape(N_("intimate images are never released to police")),
    Shape(NEVER_RELEASED),
    Shape(DECLINED),
    Shape(_NOT_CONSULTED),
    Shape(EXPERT_ENDED),
    Shape(N_("not the case this expert serves")),
    Shape(N_("medical expert may %(action)s Media of her case")),
    Shape(N_("break-glass access %(grant)s until %(until)s")),
    Shape(N_("the safety carry-over reads only the exam answers its table names")),
    Shape(N_("her exam's immediate-safety answers carry over to her safety assessment")),
    Shape(N_("no active consent permits this")),
    Shape(
        N_("consent %(consent)s (%(form)s, item %(item)s) says %(verdict)s"),
        recorded="consent Consent/%(consent)s (%(form)s, item %(item)s) says %(verdict)s",
    ),
)


def read_back(text: str, shapes: Iterable[Shape] = REASON_SHAPES) -> Sentence | None:
    """A recorded reason as a sentence said in the reader's language; None when it
    has none of the shapes (shown as recorded)."""
    for shape in shapes:
        sentence = shape.read(text)
        if sentence is not None:
            return sentence
    return None
