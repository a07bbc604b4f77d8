"""What an audit event records in words (its reasons, its outcome's description, its
query), as kept (English, byte for byte: records never change), said in the
reader's language where it has a known shape.

A reason is one the decision point wrote (clinic.access.said, next to the policy)
or one a service adds to say what was done ("exam opened"); an outcome's
description says why an attempt failed or how it went ("not found"). A query is
a machine query (a FHIR search, `Patient?identifier=[redacted]`) shown as code,
or one of the few written as words. What has no known shape is shown as recorded,
marked as English: never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clinic.access.said import REASON_SHAPES, Shape, read_back
from clinic.audit.models import AuditEntry
from clinic.audit.services import NOT_FOUND, REFUSED
from clinic.followup.take_home import NECK_ADVICE_DECIDED
from clinic.i18n import N_
from clinic.i18n.sentences import Sentence
from clinic.ledger.said import problem as verification_problem

# The names of the HTTP statuses a refused or failed request is recorded with
# (Werkzeug's, as clinic.core.web records them).
HTTP_NAMES = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Not Acceptable"),
    N_("Conflict"),
    N_("Gone"),
    N_("Request Entity Too Large"),
    N_("Unsupported Media Type"),
    N_("Unprocessable Entity"),
    N_("Too Many Requests"),
)

# What services add to the decision point's reasons, saying what was done.
SERVICE_REASON_SHAPES: tuple[Shape, ...] = (
    Shape(N_("exam opened")),
    Shape(N_("exam started")),
    Shape(N_("exam step saved")),
    Shape(N_("exam signed off")),
    Shape(N_("exam report amended")),
    Shape(N_("exam amended after sign-off")),
    Shape(N_("exam without her consent reviewed")),
    Shape(N_("laboratory result added")),
    Shape(N_("photograph shown")),
    Shape(N_("original downloaded")),
    Shape(N_("consent recorded (%(form)s, %(language)s)")),
    Shape(N_("consent read")),
    Shape(N_("consent withdrawn in full")),
    Shape(N_("follow-up plan agreed with her")),
    Shape(N_("follow-up plan opened")),
    Shape(N_("appointment booked")),
    Shape(N_("contact wishes changed at her request")),
    Shape(N_("contact wishes narrowed")),
    Shape(N_("release request filed")),
    Shape(N_("release approved")),
    Shape(N_("case opened")),
    Shape(N_("case opened; identity not shared")),
    Shape(N_("evidence collected")),
    Shape(N_("storage location added")),
    Shape(N_("storage location retired")),
    Shape(N_("retention rules and evidence deadlines set")),
    Shape(N_("exam photographs listed")),
    Shape(N_("photographs listed for the medical expert")),
    Shape(N_("released photograph downloaded")),
    Shape(N_("released exam report printed")),
    Shape(N_("release downloaded")),
    Shape(N_("printed for her to take home")),
    Shape(N_("caseload")),
    Shape(N_("counselling notes opened")),
    Shape(N_("counselling note written")),
    Shape(N_("safety assessment opened")),
    Shape(N_("high-risk flag shown")),
    Shape(N_("high-risk flags on the caseload")),
    Shape(N_("her exam's immediate-safety answers, for her safety assessment")),
    Shape(N_("unused accounts")),
    Shape(N_("account renewed")),
    Shape(N_("access review")),
    Shape(N_("access review confirmed")),
    Shape(N_("%(count)s accounts"), recorded="%(count)s accounts"),
    Shape(N_("break-glass")),
    Shape(N_("break-glass accesses of the case")),
    Shape(N_("break-glass review queue")),
    Shape(N_("break-glass review")),
    Shape(N_("break-glass reviewed")),
    Shape(N_("until %(until)s")),
    Shape(N_("medical expert account opened until %(day)s")),
    Shape(
        N_("her language changed from %(from_language)s to %(to_language)s"),
        recorded="her language %(from_language)s -> %(to_language)s",
    ),
    Shape(
        N_("reporting mode changed from %(from_mode)s to %(to_mode)s"),
        recorded="reporting mode %(from_mode)s -> %(to_mode)s",
    ),
    Shape(N_("contact attempt by %(channel)s: %(outcome)s")),
    Shape(N_("photograph corrected: %(change)s")),
    Shape(N_("why: %(why)s")),
    Shape(N_("SHA-256 %(digest)s"), recorded="sha256 %(digest)s"),
    Shape(N_("appointments shown")),
    Shape(N_("contact attempts shown")),
    Shape(NECK_ADVICE_DECIDED),
)
# How an attempt went, or why it failed (AuditEvent.outcomeDesc).
OUTCOME_SHAPES: tuple[Shape, ...] = (
    Shape(NOT_FOUND),
    Shape(REFUSED),
    Shape(N_("internal error")),
    Shape(N_("authentication required")),
    Shape(N_("unusable bearer token")),
    Shape(N_("bad credentials or inactive account")),
    Shape(N_("password confirmation failed")),
    Shape(N_("password confirmed")),
    Shape(N_("password changed; other sessions ended")),
    Shape(N_("signed out everywhere")),
    Shape(N_("second factor enrolled; recovery codes issued")),
    Shape(N_("second-factor reset requested; waits for a second administrator")),
    Shape(N_("second factor reset by two administrators")),
    Shape(N_("passkey removal refused: the last passkey of a role that needs one")),
    Shape(N_("consent could not be written: invalid resource")),
    Shape(N_("withdrawal names no item")),
    Shape(N_("verification: intact")),
    Shape(N_("HTTP %(status)s")),
    Shape(N_("passkey enrolled (%(passkey)s)")),
    Shape(N_("passkey removed (%(passkey)s)")),
    Shape(N_("%(purpose)s: second factor by %(factor)s")),
    Shape(N_("%(purpose)s: second factor refused")),
    Shape(
        N_(
            "throttled (%(throttle)s): %(count)s attempts refused during back-offs in this "
            "window (recorded at 1, 2, 4, 8, …)"
        ),
        recorded="throttled by %(throttle)s: %(count)s attempts refused during back-offs in "
        "this window (recorded at 1, 2, 4, 8, ...)",
    ),
    Shape(N_("verification: %(problem)s"), values={"problem": (r".+", verification_problem)}),
    Shape(N_("referrals")),
    # What the web answered a failed request with (its HTTP status's name).
    *(Shape(name) for name in HTTP_NAMES),
)
# Queries written as words rather than as a machine query.
QUERY_SHAPES: tuple[Shape, ...] = (
    Shape(N_("shared with %(role)s for case %(reference)s")),
    Shape(N_("%(kind)s, every record"), recorded="%(kind)s (all)"),
)


@dataclass(frozen=True)
class Recorded:
    """One recorded text: as kept, and as said in the reader's language (None when
    it has no known shape, and is shown as recorded)."""

    text: str
    said: Sentence | None


def reason(text: str) -> Recorded:
    return Recorded(text, read_back(text, (*REASON_SHAPES, *SERVICE_REASON_SHAPES)))


def outcome(text: str) -> Recorded:
    return Recorded(text, read_back(text, OUTCOME_SHAPES))


# A machine query: a resource type (or a page's name, "caseload") and its search
# parameters, without spaces.
_MACHINE_QUERY = re.compile(r"[A-Za-z][A-Za-z-]*(\?\S*)?")


@dataclass(frozen=True)
class Query:
    text: str
    said: Sentence | None
    machine: bool


def query(text: str) -> Query:
    said = read_back(text, QUERY_SHAPES)
    return Query(text, said, said is None and _MACHINE_QUERY.fullmatch(text) is not None)


@dataclass(frozen=True)
class EventWords:
    """An audit event's recorded words, each as kept and as said."""

    reasons: tuple[Recorded, ...]
    outcome: Recorded | None
    query: Query | None

    @property
    def any_said(self) -> bool:
        """Is anything said in other words than recorded (then the record's exact
        words are offered too)?"""
        return (
            any(r.said is not None for r in self.reasons)
            or (self.outcome is not None and self.outcome.said is not None)
            or (self.query is not None and self.query.said is not None)
        )


# Reasons after these many, in an event whose first reason is the key, are what a
# person typed (a break-glass justification): shown as written, never read back
# through the shapes, or typed words could pass for the system's own.
TYPED_AFTER = {"break-glass": 2}


def event_words(entry: AuditEntry) -> EventWords:
    reasons = list(entry.reasons)
    typed_from = TYPED_AFTER.get(reasons[0], len(reasons)) if reasons else 0
    return EventWords(
        tuple(
            reason(text) if index < typed_from else Recorded(text, None)
            for index, text in enumerate(reasons)
        ),
        outcome(entry.outcome_desc) if entry.outcome_desc else None,
        query(entry.query) if entry.query else None,
    )
