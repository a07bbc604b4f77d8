"""Time-window guidance at its edges: the limit itself is within, a moment past it
is outside, and an unknown time or a range across the limit is for the examiner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.exam.timing import (
    WINDOWS,
    WINDOWS_BY_CODE,
    AssaultTiming,
    TimingKind,
    WindowStatus,
    elapsed,
    window_status,
)

EXAM = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def exact(hours: float) -> AssaultTiming:
    return AssaultTiming(TimingKind.EXACT, at=EXAM - timedelta(hours=hours))


@pytest.mark.parametrize(
    ("window", "hours", "status"),
    [
        ("hiv-pep", 71.9, WindowStatus.WITHIN),
        ("hiv-pep", 72.0, WindowStatus.WITHIN),
        ("hiv-pep", 72.1, WindowStatus.OUTSIDE),
        ("emergency-contraception", 119.9, WindowStatus.WITHIN),
        ("emergency-contraception", 120.0, WindowStatus.WITHIN),
        ("emergency-contraception", 120.1, WindowStatus.OUTSIDE),
        ("toxicology-blood", 72.1, WindowStatus.OUTSIDE),
        ("toxicology-urine", 119.9, WindowStatus.WITHIN),
        ("forensic-vaginal", 167.9, WindowStatus.WITHIN),
        ("forensic-oral", 48.1, WindowStatus.OUTSIDE),
    ],
)
def test_windows_at_their_edges(window: str, hours: float, status: WindowStatus) -> None:
    assert window_status(WINDOWS_BY_CODE[window], exact(hours), EXAM) is status


def test_an_unknown_time_leaves_every_window_to_the_examiner() -> None:
    unknown = AssaultTiming.unknown()
    assert elapsed(unknown, EXAM) is None
    assert {window_status(w, unknown, EXAM) for w in WINDOWS} == {WindowStatus.UNCERTAIN}


def test_a_range_across_a_limit_is_uncertain_and_its_hours_are_a_range() -> None:
    timing = AssaultTiming(
        TimingKind.RANGE,
        earliest=EXAM - timedelta(hours=80),
        latest=EXAM - timedelta(hours=60),
    )
    hours = elapsed(timing, EXAM)
    assert hours is not None
    assert (hours.least, hours.most) == (60, 80)
    assert hours.describe() == "between 60.0 h and 80.0 h"
    assert window_status(WINDOWS_BY_CODE["hiv-pep"], timing, EXAM) is WindowStatus.UNCERTAIN
    assert (
        window_status(WINDOWS_BY_CODE["emergency-contraception"], timing, EXAM)
        is WindowStatus.WITHIN
    )
    assert window_status(WINDOWS_BY_CODE["forensic-oral"], timing, EXAM) is WindowStatus.OUTSIDE


@given(
    st.floats(min_value=0, max_value=400, allow_nan=False),
    st.floats(min_value=0, max_value=400, allow_nan=False),
)
def test_a_range_is_never_more_certain_than_its_ends(a: float, b: float) -> None:
    """Within only if both ends are within; outside only if both are outside."""
    least, most = sorted((a, b))
    if least == most:
        return
    timing = AssaultTiming(
        TimingKind.RANGE,
        earliest=EXAM - timedelta(hours=most),
        latest=EXAM - timedelta(hours=least),
    )
    for window in WINDOWS:
        ends = {window_status(window, exact(least), EXAM), window_status(window, exact(most), EXAM)}
        status = window_status(window, timing, EXAM)
        if len(ends) == 1:
            assert status is ends.pop()
        else:
            assert status is WindowStatus.UNCERTAIN
