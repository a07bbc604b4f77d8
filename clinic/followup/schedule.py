"""The follow-up schedule: one reviewable table of rules with their sources
(followup_schedules/*.toml), and the due dates it gives (pure functions).

Like the exam's time windows (clinic/exam/timing.py), the rules are clinical
policy: the README says who reviews them and where a site sets its own. A rule
applies always or only when a treatment was given at the exam; its due date is
counted from the exam, from when that treatment was given, or from the exposure
(the assault), in whole calendar days or months in the clinic's time zone: a due
date is a day on her calendar, so a daylight-saving change never moves it.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from clinic.core.clock import to_local
from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.profiles import ProfileRegistry
from clinic.followup.terms import ITEM_KINDS, RESPONSIBLE

SCHEDULES_DIR = Path(__file__).resolve().parent.parent.parent / "followup_schedules"
DEFAULT_SCHEDULE = "default"
ALWAYS = "always"
_AFTER = re.compile(r"^\s*(\d{1,3})\s+(day|week|month)s?\s*$")


class ScheduleError(Exception):
    """A schedule file that cannot be used; names the file and the rule."""


class Anchor(StrEnum):
    EXAM = "exam"
    TREATMENT = "treatment"
    EXPOSURE = "exposure"


@dataclass(frozen=True)
class Interval:
    days: int = 0
    months: int = 0

    def describe(self) -> str:
        if self.months:
            return f"{self.months} month{'s' if self.months != 1 else ''}"
        if self.days % 7 == 0 and self.days:
            weeks = self.days // 7
            return f"{weeks} week{'s' if weeks != 1 else ''}"
        return f"{self.days} day{'s' if self.days != 1 else ''}"


@dataclass(frozen=True)
class ScheduleRule:
    code: str  # CodeSystem followup-item
    kind: str  # terms.ITEM_KINDS
    label: str
    when: str  # ALWAYS or an exam-treatment code
    anchor: Anchor
    after: Interval
    responsible: str  # terms.RESPONSIBLE
    source: str


@dataclass(frozen=True)
class Schedule:
    name: str  # "default" or a site's code
    rules: tuple[ScheduleRule, ...]

    def rule(self, code: str) -> ScheduleRule | None:
        return next((rule for rule in self.rules if rule.code == code), None)


def add_interval(day: date, interval: Interval) -> date:
    """`day` plus whole days, or whole calendar months (clamped to the month's last
    day: 31 January + 1 month is the last day of February)."""
    if interval.months:
        month_index = day.month - 1 + interval.months
        year, month = day.year + month_index // 12, month_index % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last))
    return day + timedelta(days=interval.days)


def local_day(moment: datetime, zone_name: str) -> date:
    """The calendar day at the clinic when `moment` happened."""
    return to_local(moment, zone_name).date()


def due_date(anchor: datetime, interval: Interval, zone_name: str) -> date:
    """The day an item falls due: the clinic's calendar day of `anchor`, plus the
    interval. Counted in days, never in hours, so that 14 days after 00:30 on the
    day the clocks change is still 14 calendar days later."""
    return add_interval(local_day(anchor, zone_name), interval)


def _parse_after(text: str) -> Interval:
    match = _AFTER.match(text)
    if match is None:
        raise ValueError(f"after = {text!r} is not “N days”, “N weeks” or “N months”")
    number, unit = int(match[1]), match[2]
    if number < 1:
        raise ValueError("after must be at least 1")
    if unit == "month":
        return Interval(months=number)
    return Interval(days=number * (7 if unit == "week" else 1))


def parse_schedule(
    name: str,
    text: str,
    *,
    item_codes: frozenset[str],
    treatment_codes: frozenset[str],
) -> Schedule:
    """Read one schedule file, refusing anything it cannot apply exactly."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScheduleError(f"{name}: not TOML ({error})") from error
    rules: list[ScheduleRule] = []
    seen: set[str] = set()
    for number, entry in enumerate(document.get("rule", []), start=1):
        where = f"{name}, rule {number} ({entry.get('code', '?')})"
        try:
            rule = ScheduleRule(
                code=str(entry["code"]),
                kind=str(entry["kind"]),
                label=str(entry["label"]).strip(),
                when=str(entry["when"]),
                anchor=Anchor(entry["from"]),
                after=_parse_after(str(entry["after"])),
                responsible=str(entry["responsible"]),
                source=str(entry["source"]).strip(),
            )
        except KeyError as missing:
            raise ScheduleError(f"{where}: {missing.args[0]} is missing") from missing
        except ValueError as error:
            raise ScheduleError(f"{where}: {error}") from error
        problems = []
        if rule.code not in item_codes:
            problems.append("the code is not in CodeSystem followup-item")
        if rule.code in seen:
            problems.append("the code is used twice")
        if rule.kind not in ITEM_KINDS or rule.kind == "referral":
            problems.append(f"kind {rule.kind!r} is not visit, test, vaccine or check")
        if rule.when != ALWAYS and rule.when not in treatment_codes:
            problems.append(f"when = {rule.when!r} is neither “always” nor a treatment code")
        if rule.anchor is Anchor.TREATMENT and rule.when == ALWAYS:
            problems.append("from = “treatment” needs `when` to name the treatment")
        if rule.responsible not in RESPONSIBLE:
            problems.append(f"responsible = {rule.responsible!r} is not known")
        if not rule.label or not rule.source:
            problems.append("label and source are required")
        if problems:
            raise ScheduleError(f"{where}: " + "; ".join(problems))
        seen.add(rule.code)
        rules.append(rule)
    if not rules:
        raise ScheduleError(f"{name}: no rules")
    return Schedule(name, tuple(rules))


def schedule_codes(registry: ProfileRegistry) -> dict[str, frozenset[str]]:
    """The codes a schedule may use: CodeSystem followup-item's and the exam's
    treatments (CodeSystem exam-treatment)."""
    from clinic.followup.terms import ITEM_SYSTEM

    def codes(url: str) -> frozenset[str]:
        return frozenset(c["code"] for c in registry.code_systems[url].get("concept", []))

    return {
        "item_codes": codes(ITEM_SYSTEM),
        "treatment_codes": codes(f"{CODE_SYSTEM}/exam-treatment"),
    }


class ScheduleLibrary:
    """Every schedule in the directory: `default.toml` and one per site that has its
    own (`<SITE CODE>.toml`). Loaded and checked once, when the app starts."""

    def __init__(
        self,
        *,
        item_codes: frozenset[str],
        treatment_codes: frozenset[str],
        directory: Path = SCHEDULES_DIR,
    ) -> None:
        self.schedules: dict[str, Schedule] = {}
        for path in sorted(directory.glob("*.toml")):
            parsed = parse_schedule(
                path.name,
                path.read_text(encoding="utf-8"),
                item_codes=item_codes,
                treatment_codes=treatment_codes,
            )
            self.schedules[path.stem] = Schedule(path.stem, parsed.rules)
        if DEFAULT_SCHEDULE not in self.schedules:
            raise ScheduleError(f"{directory}: {DEFAULT_SCHEDULE}.toml is missing")

    @classmethod
    def from_profiles(
        cls, registry: ProfileRegistry, directory: Path = SCHEDULES_DIR
    ) -> ScheduleLibrary:
        codes = schedule_codes(registry)
        return cls(
            item_codes=codes["item_codes"],
            treatment_codes=codes["treatment_codes"],
            directory=directory,
        )

    def for_site(self, site_code: str) -> Schedule:
        return self.schedules.get(site_code, self.schedules[DEFAULT_SCHEDULE])
