"""Time since the assault and the time windows it decides (pure functions).

The assault time is known (`exact`), a range (`range`, earliest to latest), or
not known (`unknown`). Hours elapsed are reckoned to the time of the exam; for a
range they are themselves a range. A window is *within* when every possible
assault time is within its limit (the limit itself counts as within: "up to
72 h"), *outside* when every possible time is beyond it, and *uncertain* when the
time is unknown or the range straddles the limit. Guidance is only guidance: the
examiner confirms or overrides each window, with a reason (services.py).

The limits below follow widely used guidance for adults (emergency contraception
up to 120 h, HIV PEP up to 72 h; forensic sampling and toxicology windows as in
the UK FFLM recommendations). They are clinical policy: review them against your
jurisdiction's guidance; the README says where they are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from clinic.consent.words import MONTHS
from clinic.core.clock import to_local
from clinic.i18n import N_
from clinic.i18n.sentences import Number, Sentence, sentence


class TimingKind(StrEnum):
    EXACT = "exact"
    RANGE = "range"
    UNKNOWN = "unknown"


class WindowStatus(StrEnum):
    WITHIN = "within"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"
    NOT_INDICATED = "not-indicated"  # the history rules it out
    NOT_POSSIBLE = "not-possible"  # she declined the part it needs


@dataclass(frozen=True)
class AssaultTiming:
    kind: TimingKind
    at: datetime | None = None  # exact
    earliest: datetime | None = None  # range
    latest: datetime | None = None  # range

    @classmethod
    def unknown(cls) -> AssaultTiming:
        return cls(TimingKind.UNKNOWN)


@dataclass(frozen=True)
class Elapsed:
    """Hours from the assault to the exam: `least` to `most` (equal when exact)."""

    least: float
    most: float

    @property
    def is_exact(self) -> bool:
        return self.least == self.most

    def describe(self) -> str:
        """In English (as records keep it), said in the reader's language: "20.5 h"."""
        if self.is_exact:
            return sentence("%(hours)s h", hours=Number(self.least))
        return sentence(
            "between %(least)s h and %(most)s h", least=Number(self.least), most=Number(self.most)
        )


@dataclass(frozen=True)
class TimeWindow:
    code: str  # from CodeSystem time-window
    label: str
    hours: int
    within: str  # what the guidance says inside the window
    outside: str  # and beyond it
    # Acts of the history (assault-act codes) it samples for: when every one is
    # answered "no", the window is not indicated.
    indicated_by: tuple[str, ...] = ()
    # Parts of the exam (consent-exam-part codes) it needs: when she declined one,
    # it is not possible.
    needs_parts: tuple[str, ...] = ()


WINDOWS: tuple[TimeWindow, ...] = (
    TimeWindow(
        "emergency-contraception",
        "Emergency contraception",
        120,
        N_("Offer emergency contraception (up to 120 h)."),
        N_(
            "More than 120 h: oral emergency contraception is outside its window; "
            "consider other options under local protocol."
        ),
    ),
    TimeWindow(
        "hiv-pep",
        "HIV post-exposure prophylaxis",
        72,
        N_("Assess for HIV PEP and start the starter pack if indicated (up to 72 h)."),
        N_("More than 72 h: HIV PEP is not started; arrange follow-up testing."),
    ),
    TimeWindow(
        "forensic-oral",
        "Forensic samples: oral",
        48,
        N_("Take oral samples (up to 48 h)."),
        N_("More than 48 h: oral samples are not usually taken."),
        indicated_by=("oral-penetration",),
    ),
    TimeWindow(
        "forensic-vaginal",
        "Forensic samples: vaginal",
        168,
        N_("Take vaginal samples (up to 7 days)."),
        N_("More than 7 days: vaginal samples are not usually taken."),
        indicated_by=("vaginal-penetration",),
        needs_parts=("anogenital-exam",),
    ),
    TimeWindow(
        "forensic-endocervical",
        "Forensic samples: endocervical (speculum)",
        168,
        N_("Take endocervical samples with a speculum (up to 7 days)."),
        N_("More than 7 days: endocervical samples are not usually taken."),
        indicated_by=("vaginal-penetration",),
        needs_parts=("anogenital-exam", "speculum-exam"),
    ),
    TimeWindow(
        "forensic-anal",
        "Forensic samples: anal",
        72,
        N_("Take anal and rectal samples (up to 72 h)."),
        N_("More than 72 h: anal samples are not usually taken."),
        indicated_by=("anal-penetration",),
        needs_parts=("anogenital-exam",),
    ),
    TimeWindow(
        "forensic-skin",
        "Forensic samples: skin",
        48,
        N_("Take skin swabs where she was licked, kissed or bitten (up to 48 h)."),
        N_("More than 48 h: skin swabs are not usually taken."),
    ),
    TimeWindow(
        "toxicology-blood",
        "Toxicology: blood",
        72,
        N_("If drugs or alcohol are suspected, take blood for toxicology (up to 72 h)."),
        N_("More than 72 h: blood toxicology is unlikely to help."),
        indicated_by=("drugs-alcohol-suspected",),
    ),
    TimeWindow(
        "toxicology-urine",
        "Toxicology: urine",
        120,
        N_("If drugs or alcohol are suspected, take urine for toxicology (up to 120 h)."),
        N_("More than 120 h: urine toxicology is unlikely to help."),
        indicated_by=("drugs-alcohol-suspected",),
    ),
)
WINDOWS_BY_CODE = {window.code: window for window in WINDOWS}

UNCERTAIN_ADVICE = N_(
    "The time of the assault is not known well enough to tell: decide and say why."
)
NOT_INDICATED_ADVICE = N_(
    "Not indicated: the history says no to what these samples are for. If you have "
    "reason to take them, decide otherwise and say why."
)
NOT_POSSIBLE_ADVICE = N_(
    "Not possible: she declined the part of the examination these samples need. Only "
    "if she records a new consent can they be taken; otherwise follow this."
)


def elapsed(timing: AssaultTiming, exam_time: datetime) -> Elapsed | None:
    """Hours from the assault to the exam; None when the time is unknown."""
    if timing.kind is TimingKind.EXACT and timing.at is not None:
        hours = _hours(timing.at, exam_time)
        return Elapsed(hours, hours)
    if timing.kind is TimingKind.RANGE and timing.earliest and timing.latest:
        return Elapsed(_hours(timing.latest, exam_time), _hours(timing.earliest, exam_time))
    return None


def window_status(window: TimeWindow, timing: AssaultTiming, exam_time: datetime) -> WindowStatus:
    hours = elapsed(timing, exam_time)
    if hours is None:
        return WindowStatus.UNCERTAIN
    if hours.most <= window.hours:
        return WindowStatus.WITHIN
    if hours.least > window.hours:
        return WindowStatus.OUTSIDE
    return WindowStatus.UNCERTAIN


def guidance_status(
    window: TimeWindow,
    timing: AssaultTiming,
    exam_time: datetime,
    *,
    answered_no: frozenset[str] = frozenset(),
    declined: frozenset[str] = frozenset(),
) -> WindowStatus:
    """The window's guidance, reading the history and her consent as well as the
    time: a part she declined makes it not possible; a history that answers "no"
    to every act it samples for makes it not indicated; otherwise the time decides."""
    if any(part in declined for part in window.needs_parts):
        return WindowStatus.NOT_POSSIBLE
    if window.indicated_by and all(act in answered_no for act in window.indicated_by):
        return WindowStatus.NOT_INDICATED
    return window_status(window, timing, exam_time)


def advice(window: TimeWindow, status: WindowStatus) -> Sentence:
    """The guidance in English (as records keep it), said in the reader's language."""
    if status is WindowStatus.NOT_INDICATED:
        return Sentence(NOT_INDICATED_ADVICE)
    if status is WindowStatus.NOT_POSSIBLE:
        return Sentence(NOT_POSSIBLE_ADVICE)
    if status is WindowStatus.WITHIN:
        return Sentence(window.within)
    if status is WindowStatus.OUTSIDE:
        return Sentence(window.outside)
    return Sentence(UNCERTAIN_ADVICE)


def _hours(since: datetime, until: datetime) -> float:
    return (until - since).total_seconds() / 3600


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = MONTHS["en"]


def in_words(moment: datetime, zone_name: str) -> str:
    """A time as the report prints it, in the clinic's zone and named:
    "Saturday 5 December 2026, 23:40 (Europe/London)". Never an ISO string:
    a court reads it, and a date like 05/12 is read two ways."""
    local = to_local(moment, zone_name)
    return (
        f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
        f"{local:%H:%M} ({zone_name})"
    )
