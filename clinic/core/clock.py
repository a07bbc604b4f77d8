"""Time in one place: every timestamp the system records is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from clinic.core.errors import DomainError


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """FHIR instant: UTC with milliseconds and a `Z`, always the same width."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def zone(name: str) -> tzinfo:
    """The clinic's time zone (CLINIC_TIMEZONE): times are entered and shown in it."""
    return UTC if name == "UTC" else ZoneInfo(name)


class LocalTimeRefused(DomainError, ValueError):
    """A wall-clock time that does not exist at the clinic (the hour skipped when
    clocks go forward) or that cannot be a time at all (beyond the calendar)."""


def from_local(moment: datetime, zone_name: str) -> datetime:
    """A wall-clock time typed at the clinic, as an aware UTC datetime.

    A time in the hour skipped when clocks go forward never happens: it is refused
    (LocalTimeRefused), never silently moved. A time in the hour that happens twice
    when clocks go back is taken as its first occurrence (`fold=0`, still summer
    time): an appointment is then never later than the person booking it meant."""
    from clinic.i18n.sentences import sentence

    clinic_zone = zone(zone_name)
    typed = f"{moment:%Y-%m-%d %H:%M}"
    local = moment.replace(tzinfo=clinic_zone, fold=0)
    try:
        instant = local.astimezone(UTC)
        back = instant.astimezone(clinic_zone)
    except OverflowError:
        raise LocalTimeRefused(
            sentence(
                "%(moment)s is too far from today to be a time the clinic keeps.",
                moment=typed,
            )
        ) from None
    if back.replace(tzinfo=None) != moment.replace(tzinfo=None, fold=0):
        raise LocalTimeRefused(
            sentence(
                "%(moment)s does not exist in %(zone)s: the clocks go forward at that hour. "
                "Choose another time.",
                moment=typed,
                zone=zone_name,
            )
        )
    return instant


def to_local(moment: datetime, zone_name: str) -> datetime:
    return moment.astimezone(zone(zone_name))
