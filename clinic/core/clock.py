"""Time in one place: every timestamp the system records is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo


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


def from_local(moment: datetime, zone_name: str) -> datetime:
    """A wall-clock time typed at the clinic, as an aware UTC datetime."""
    return moment.replace(tzinfo=zone(zone_name)).astimezone(UTC)


def to_local(moment: datetime, zone_name: str) -> datetime:
    return moment.astimezone(zone(zone_name))
