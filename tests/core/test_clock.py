"""Wall-clock times typed at the clinic: a time in the hour skipped when clocks go
forward is refused, never moved; a time in the hour that happens twice is its first
occurrence; every other time comes back as typed (property tests across zones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.core.clock import LocalTimeRefused, from_local, to_local

ZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a half-hour change
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
)
WALL_TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2060, 12, 31),  # noqa: DTZ001
).map(lambda moment: moment.replace(second=0, microsecond=0))


def _exists(moment: datetime, zone_name: str) -> bool:
    """Whether some instant shows this wall time in the zone (searched minute by
    minute, independently of from_local)."""
    zone = ZoneInfo(zone_name)
    guess = moment.replace(tzinfo=UTC)
    for minutes in range(-15 * 60, 15 * 60 + 1, 15):
        local = (guess + timedelta(minutes=minutes)).astimezone(zone)
        if local.replace(tzinfo=None) == moment:
            return True
    return False


@given(WALL_TIMES, st.sampled_from(ZONES))
def test_a_typed_time_is_kept_or_refused_never_moved(moment: datetime, zone_name: str) -> None:
    if _exists(moment, zone_name):
        instant = from_local(moment, zone_name)
        assert instant.tzinfo is UTC
        assert to_local(instant, zone_name).replace(tzinfo=None) == moment
    else:
        with pytest.raises(LocalTimeRefused, match="does not exist"):
            from_local(moment, zone_name)


@given(WALL_TIMES, st.sampled_from(ZONES))
def test_a_time_that_happens_twice_is_its_first_occurrence(
    moment: datetime, zone_name: str
) -> None:
    if not _exists(moment, zone_name):
        return
    instant = from_local(moment, zone_name)
    # Half an hour or an hour earlier never shows the same wall time: that earlier
    # instant would have been the first occurrence.
    for minutes in (30, 60):
        earlier = instant - timedelta(minutes=minutes)
        assert to_local(earlier, zone_name).replace(tzinfo=None) != moment


def test_known_gap_and_fold_in_london() -> None:
    with pytest.raises(LocalTimeRefused, match="clocks go forward"):
        from_local(datetime(2027, 3, 28, 1, 30), "Europe/London")  # noqa: DTZ001
    # 01:30 on 31 October 2027 happens twice: the first is still summer time.
    first = from_local(datetime(2027, 10, 31, 1, 30), "Europe/London")  # noqa: DTZ001
    assert first == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_a_time_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(LocalTimeRefused):
        from_local(datetime(1, 1, 1, 0, 0), "Asia/Kolkata")  # noqa: DTZ001
    with pytest.raises(LocalTimeRefused):
        from_local(datetime(9999, 12, 31, 23, 59), "America/New_York")  # noqa: DTZ001
