"""Parsing FHIR search and history parameters into store criteria.

Unknown parameters, modifiers and prefixes are refused with a 400 that names
them: a search is never silently broadened by a parameter we ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from clinic.core.numbers import small_whole_number
from clinic.fhir.outcome import FhirError
from clinic.fhir.search_params import CONTROL_PARAMS, SearchParam, params_for
from clinic.fhir.store import (
    Criterion,
    DateCriterion,
    IdCriterion,
    ReferenceCriterion,
    TokenCriterion,
    decode_cursor,
)

_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?"
    r"(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.(?P<fraction>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
# Parameter values recorded on the audit trail; others are replaced by a marker
# because they may identify a person (identifiers, case references).
_AUDITED_VALUES = frozenset(
    {
        "_id",
        "_count",
        "_lastUpdated",
        "_since",
        "subject",
        "patient",
        "date",
        "entity",
        "outcome",
        "subtype",
        "altid",
    }
)


@dataclass
class PageRequest:
    count: int
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None


@dataclass
class SearchRequest:
    criteria: list[Criterion]
    page: PageRequest
    # The parameters applied, for the self link and the audit trail.
    applied: list[tuple[str, str]] = field(default_factory=list)
    since: datetime | None = None

    def audit_query(self) -> str:
        return "&".join(
            f"{name}={value if name in _AUDITED_VALUES else '[redacted]'}"
            for name, value in self.applied
        )


def parse_count(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()):
        raise FhirError.single(400, "invalid", "_count must be a whole number", "_count")
    number = small_whole_number(value)  # None: more digits than any maximum
    return max(1, min(maximum if number is None else number, maximum))


def parse_cursor(
    value: str | None, width: int
) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
    if not value:
        return None, None
    direction, _, token = value.partition(".")
    if direction not in ("a", "b") or not token:
        raise FhirError.single(
            400, "invalid", "_cursor is not a cursor this server issued", "_cursor"
        )
    key = decode_cursor(token, width)
    return (key, None) if direction == "a" else (None, key)


def parse_search(
    resource_type: str, args: Iterable[tuple[str, str]], *, default_count: int, max_count: int
) -> SearchRequest:
    known = params_for(resource_type)
    criteria: list[Criterion] = []
    applied: list[tuple[str, str]] = []
    controls: dict[str, str] = {}
    for raw_name, value in args:
        name, _, modifier = raw_name.partition(":")
        if name in CONTROL_PARAMS:
            if name in controls:
                raise FhirError.single(400, "invalid", f"{name} is given more than once", name)
            if name == "_format" and value not in (
                "json",
                "application/json",
                "application/fhir+json",
            ):
                raise FhirError.single(406, "not-supported", "only JSON is supported", "_format")
            controls[name] = value
            continue
        param = known.get(name)
        if param is None:
            raise FhirError.single(
                400,
                "not-supported",
                f"search parameter {raw_name} is not supported for {resource_type}; "
                f"supported: {', '.join(sorted(known))}",
                raw_name,
            )
        if modifier:
            raise FhirError.single(
                400, "not-supported", f"modifier :{modifier} is not supported", raw_name
            )
        if value == "":
            raise FhirError.single(400, "invalid", f"{name} has no value", name)
        if not value.isprintable():
            # A NUL byte (which PostgreSQL refuses in text) or another control
            # character is no value anyone searches for: refused, on every database.
            raise FhirError.single(400, "invalid", f"{name} holds a control character", name)
        criteria.append(_criterion(param, value))
        applied.append((name, value))
    count = parse_count(controls.get("_count"), default_count, max_count)
    after, before = parse_cursor(controls.get("_cursor"), 2)
    applied.append(("_count", str(count)))
    return SearchRequest(criteria, PageRequest(count, after, before), applied)


def parse_history(
    args: Iterable[tuple[str, str]], *, default_count: int, max_count: int
) -> SearchRequest:
    controls: dict[str, str] = {}
    for name, value in args:
        if name not in ("_count", "_cursor", "_since", "_format"):
            raise FhirError.single(
                400,
                "not-supported",
                f"{name} is not supported on _history; use _count and _since",
                name,
            )
        controls[name] = value
    since = None
    applied = []
    if "_since" in controls:
        since = parse_instant(controls["_since"], "_since")
        applied.append(("_since", controls["_since"]))
    count = parse_count(controls.get("_count"), default_count, max_count)
    applied.append(("_count", str(count)))
    after, before = parse_cursor(controls.get("_cursor"), 3)
    return SearchRequest([], PageRequest(count, after, before), applied, since)


def parse_instant(value: str, name: str) -> datetime:
    lower, _ = date_range(value, name)
    return lower


def date_range(value: str, name: str) -> tuple[datetime, datetime]:
    """The [start, end) interval a FHIR date/dateTime value of any precision covers."""
    match = _DATE.match(value)
    if not match or match.group("prefix"):
        raise FhirError.single(
            400, "invalid", f"{name}: {value!r} is not a FHIR date or dateTime", name
        )
    parts = match.groupdict()
    if parts["hour"] is not None and parts["tz"] is None:
        raise FhirError.single(
            400, "invalid", f"{name}: a time needs a time zone (Z or +hh:mm)", name
        )
    tz: tzinfo = UTC
    if parts["tz"] and parts["tz"] != "Z":
        sign = 1 if parts["tz"][0] == "+" else -1
        hours, minutes = map(int, parts["tz"][1:].split(":"))
        if hours * 60 + minutes > 14 * 60 or minutes > 59:
            # FHIR's dateTime allows offsets up to 14:00 either way, as the world does.
            raise FhirError.single(
                400,
                "invalid",
                f"{name}: {parts['tz']} is not a time zone offset (at most 14:00 either way)",
                name,
            )
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            start = datetime(year, 1, 1, tzinfo=tz)
            return start, start.replace(year=year + 1)
        month = int(parts["month"])
        if parts["day"] is None:
            start = datetime(year, month, 1, tzinfo=tz)
            end = (
                start.replace(year=year + 1, month=1)
                if month == 12
                else start.replace(month=month + 1)
            )
            return start, end
        day = int(parts["day"])
        if parts["hour"] is None:
            start = datetime(year, month, day, tzinfo=tz)
            return start, start + timedelta(days=1)
        hour, minute = int(parts["hour"]), int(parts["minute"])
        if parts["second"] is None:
            start = datetime(year, month, day, hour, minute, tzinfo=tz)
            return start, start + timedelta(minutes=1)
        second = int(parts["second"])
        fraction = parts["fraction"]
        if fraction is None:
            start = datetime(year, month, day, hour, minute, second, tzinfo=tz)
            return start, start + timedelta(seconds=1)
        micro = int(fraction.ljust(6, "0"))
        start = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        return start, start + timedelta(microseconds=10 ** (6 - len(fraction)))
    except ValueError as error:
        raise FhirError.single(
            400, "invalid", f"{name}: {value!r} is not a real date ({error})", name
        ) from error
    except OverflowError as error:
        raise FhirError.single(
            400, "invalid", f"{name}: {value!r} is beyond the dates this server compares", name
        ) from error


_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def date_criterion(param: str, value: str) -> DateCriterion:
    prefix, rest = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("eq", value)
    if prefix in ("ne", "ap"):
        raise FhirError.single(
            400, "not-supported", f"{param}: prefix {prefix} is not supported", param
        )
    start, end = date_range(rest, param)
    if prefix == "eq":
        return DateCriterion(param, start, end)
    if prefix in ("gt", "sa"):
        return DateCriterion(param, end, None)
    if prefix == "ge":
        return DateCriterion(param, start, None)
    if prefix in ("lt", "eb"):
        return DateCriterion(param, None, start)
    return DateCriterion(param, None, end)  # le


def _criterion(param: SearchParam, value: str) -> Criterion:
    values = value.split(",")
    if param.name == "_id":
        return IdCriterion(tuple(values))
    if param.type == "date":
        if len(values) > 1:
            raise FhirError.single(
                400,
                "not-supported",
                f"{param.name}: repeat the parameter instead of using commas",
                param.name,
            )
        return date_criterion(param.name, value)
    if param.type == "token":
        tokens: list[tuple[str | None, str]] = []
        for item in values:
            if "|" in item:
                system, _, code = item.partition("|")
                if not code:
                    raise FhirError.single(
                        400,
                        "not-supported",
                        f"{param.name}: system| without a value is not supported",
                        param.name,
                    )
                tokens.append((system, code))
            else:
                tokens.append((None, item))
        return TokenCriterion(param.name, tuple(tokens))
    targets: list[tuple[str, str]] = []
    for item in values:
        parts = item.rstrip("/").split("/")
        if len(parts) == 1:
            if len(param.target_types) != 1:
                raise FhirError.single(400, "invalid", f"{param.name}: give Type/id", param.name)
            targets.append((param.target_types[0], parts[0]))
        else:
            target_type, target_id = parts[-2], parts[-1]
            if target_type not in param.target_types and param.target_types:
                raise FhirError.single(
                    400,
                    "invalid",
                    f"{param.name} refers to {', '.join(param.target_types)}, not {target_type}",
                    param.name,
                )
            targets.append((target_type, target_id))
    return ReferenceCriterion(param.name, tuple(targets))
