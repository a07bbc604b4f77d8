"""Evaluation of the survivor's Consents (docs/design.md section 5), without a database.

A `Directive` is one active Consent read into plain values; a `ConsentRequest`
says who wants to do what with which kind of data, and when. `evaluate` applies
the rules:

* only active Consents count, and only provisions whose period covers the moment;
* within a Consent the deepest matching provision decides; a tie is deny;
  nothing matching is no answer from that Consent;
* across Consents an explicit deny overrides a permit; no permit at all is deny.

A provision's criteria are each optional; one that is given must match: the actor
(a kind of recipient, and the organisation or person if the provision names one),
the action, the purpose, the data class or code, and the security labels (any of
the provision's labels on the record). A nested provision is considered only when
its parent matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# A provision's recipient kind that stands for anyone at (or named by) its reference:
# her "never share with" list.
ANYONE = "anyone"


class Verdict(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


@dataclass(frozen=True)
class Recipient:
    """A provision's actor: a kind of recipient, and who exactly if it names one
    (a reference such as Organization/<id>, or None for anyone of that kind)."""

    kind: str
    reference: str | None = None


@dataclass(frozen=True)
class Period:
    start: datetime | None = None
    end: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment <= self.end


@dataclass(frozen=True)
class Provision:
    verdict: Verdict
    item: str = ""  # the consent form item it records
    recipients: frozenset[Recipient] = frozenset()
    actions: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    period: Period = field(default_factory=Period)
    children: tuple[Provision, ...] = ()


@dataclass(frozen=True)
class Directive:
    """One Consent, as the decision point reads it."""

    consent_id: str
    form: str
    active: bool
    provisions: tuple[Provision, ...]
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class ConsentRequest:
    """Who (as recipient kinds and references), what action, why, on which data."""

    recipients: frozenset[Recipient]
    action: str
    purpose: str
    classes: frozenset[str]
    labels: frozenset[str]
    at: datetime
    codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Finding:
    """What one Consent says about a request: its verdict and the provision that
    decided, or no verdict when nothing in it matches."""

    consent_id: str
    form: str
    verdict: Verdict | None
    item: str = ""
    depth: int = 0


@dataclass(frozen=True)
class ConsentDecision:
    permitted: bool
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        said = [f for f in self.findings if f.verdict is not None]
        if not said:
            return ("no active consent permits this",)
        return tuple(
            f"consent Consent/{f.consent_id} ({f.form}, item {f.item or '?'}) says {f.verdict}"
            for f in said
        )


def _recipient_matches(wanted: frozenset[Recipient], request: ConsentRequest) -> bool:
    if not wanted:
        return True
    for recipient in wanted:
        for who in request.recipients:
            if recipient.kind in (who.kind, ANYONE) and (
                recipient.reference is None or recipient.reference == who.reference
            ):
                return True
    return False


def matches(provision: Provision, request: ConsentRequest) -> bool:
    """Does this provision's own criteria (not its children's) match the request?"""
    return (
        provision.period.covers(request.at)
        and _recipient_matches(provision.recipients, request)
        and (not provision.actions or request.action in provision.actions)
        and (not provision.purposes or request.purpose in provision.purposes)
        and (not provision.classes or bool(provision.classes & request.classes))
        and (not provision.codes or bool(provision.codes & request.codes))
        and (not provision.labels or bool(provision.labels & request.labels))
    )


def _deepest(
    provisions: Iterable[Provision], request: ConsentRequest, depth: int
) -> list[tuple[int, Provision]]:
    """Every matching provision that has no matching child, with its depth."""
    found: list[tuple[int, Provision]] = []
    for provision in provisions:
        if not matches(provision, request):
            continue
        below = _deepest(provision.children, request, depth + 1)
        found.extend(below or [(depth, provision)])
    return found


def evaluate_one(directive: Directive, request: ConsentRequest) -> Finding:
    if not directive.active or not directive.period.covers(request.at):
        return Finding(directive.consent_id, directive.form, None)
    leaves = _deepest(directive.provisions, request, 1)
    if not leaves:
        return Finding(directive.consent_id, directive.form, None)
    depth = max(d for d, _ in leaves)
    deepest = [p for d, p in leaves if d == depth]
    # A tie between a permit and a deny at the same depth is a deny.
    decider = next((p for p in deepest if p.verdict is Verdict.DENY), deepest[0])
    return Finding(directive.consent_id, directive.form, decider.verdict, decider.item, depth)


# At most this many answers are kept with one reading of her Consents: a search
# page asks a handful of questions; an export asking at a new moment for each
# record must not hold an answer per record.
KEPT_ANSWERS = 64


class Directives(tuple[Directive, ...]):
    """Her active Consents as one unit of work read them (clinic.consent.book).

    `evaluate` is a pure function of the directives and the request, so the
    answers given on this very tuple are kept with it: the records of one search
    page, decided at one moment, put the same question to her Consents once. A
    tuple is never changed; a Consent recorded or withdrawn makes the book read a
    new tuple, with no answers kept."""

    decisions: dict[ConsentRequest, ConsentDecision]

    def __new__(cls, directives: Iterable[Directive]) -> Directives:
        made = super().__new__(cls, directives)
        made.decisions = {}
        return made


def evaluate(directives: Sequence[Directive], request: ConsentRequest) -> ConsentDecision:
    if isinstance(directives, Directives):
        found = directives.decisions.get(request)
        if found is None:
            found = _evaluate(directives, request)
            if len(directives.decisions) < KEPT_ANSWERS:
                directives.decisions[request] = found
        return found
    return _evaluate(directives, request)


def _evaluate(directives: Sequence[Directive], request: ConsentRequest) -> ConsentDecision:
    findings = tuple(evaluate_one(d, request) for d in directives)
    verdicts = {f.verdict for f in findings}
    permitted = Verdict.PERMIT in verdicts and Verdict.DENY not in verdicts
    return ConsentDecision(permitted, findings)


def denies(directives: Sequence[Directive], request: ConsentRequest) -> ConsentDecision | None:
    """The decision if some active Consent explicitly denies the request, else None.
    Used where the role's baseline grants access: only an explicit deny narrows it."""
    decision = evaluate(directives, request)
    if any(f.verdict is Verdict.DENY for f in decision.findings):
        return decision
    return None
