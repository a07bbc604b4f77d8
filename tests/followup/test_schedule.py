"""The follow-up schedule: the rules table loads and refuses what it cannot apply,
and due dates are calendar days in the clinic's zone, whatever daylight saving,
the time of day or the zone (property tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.fhir.profiles import ProfileRegistry
from clinic.followup.schedule import (
    Anchor,
    Interval,
    ScheduleError,
    ScheduleLibrary,
    add_interval,
    due_date,
    local_day,
    parse_schedule,
    schedule_codes,
)

# Zones with daylight saving north and south, half-hour and unusual offsets.
ZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
)
# Naive bounds are what hypothesis takes; each instant is then read as UTC.
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2060, 12, 31),  # noqa: DTZ001
).map(lambda moment: moment.replace(tzinfo=UTC))
DAYS = st.integers(min_value=1, max_value=400)
MONTHS = st.integers(min_value=1, max_value=24)


@pytest.fixture(scope="module")
def codes() -> dict[str, frozenset[str]]:
    return schedule_codes(ProfileRegistry())


def test_the_shipped_schedule_loads_and_names_its_sources() -> None:
    library = ScheduleLibrary.from_profiles(ProfileRegistry())
    schedule = library.for_site("NORTH")
    assert schedule.name == "default"
    assert {rule.code for rule in schedule.rules} >= {
        "visit-2-weeks",
        "visit-6-weeks",
        "visit-3-months",
        "visit-6-months",
        "pregnancy-test",
        "hiv-test-6-weeks",
        "hiv-test-3-months",
        "pep-adherence-check",
        "pep-completion",
    }
    assert all(rule.source and rule.label for rule in schedule.rules)
    assert schedule.rule("visit-3-months").after == Interval(months=3)  # type: ignore[union-attr]
    assert schedule.rule("pregnancy-test").anchor is Anchor.TREATMENT  # type: ignore[union-attr]


def test_a_site_file_replaces_the_default_for_that_site(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "followup_schedules/default.toml"
    (tmp_path / "default.toml").write_text(shipped.read_text())
    (tmp_path / "SOUTH.toml").write_text(
        '[[rule]]\ncode = "visit-2-weeks"\nkind = "visit"\nlabel = "Visit"\nwhen = "always"\n'
        'from = "exam"\nafter = "10 days"\nresponsible = "clinic"\nsource = "Local protocol"\n'
    )
    library = ScheduleLibrary.from_profiles(ProfileRegistry(), tmp_path)
    assert library.for_site("SOUTH").rule("visit-2-weeks").after == Interval(days=10)  # type: ignore[union-attr]
    assert library.for_site("NORTH").name == "default"


RULE = {
    "code": '"visit-2-weeks"',
    "kind": '"visit"',
    "label": '"Visit"',
    "when": '"always"',
    "from": '"exam"',
    "after": '"2 weeks"',
    "responsible": '"clinic"',
    "source": '"WHO"',
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": '"tarot-reading"'}, "not in CodeSystem followup-item"),
        ({"after": '"a fortnight"'}, "is not “N days”"),
        ({"after": '"0 days"'}, "at least 1"),
        ({"from": '"moon"'}, "'moon' is not a valid Anchor"),
        ({"from": '"treatment"'}, "needs `when` to name the treatment"),
        ({"when": '"aspirin"'}, "neither “always” nor a treatment code"),
        ({"responsible": '"nobody"'}, "is not known"),
        ({"kind": '"referral"'}, "is not visit, test, vaccine or check"),
        ({"source": '""'}, "label and source are required"),
        ({"source": None}, "source is missing"),
    ],
)
def test_a_rule_that_cannot_be_applied_is_refused(codes, changes, message) -> None:
    fields = RULE | changes
    text = "[[rule]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)
    with pytest.raises(ScheduleError, match=message) as refused:
        parse_schedule("NORTH.toml", text, **codes)
    assert "NORTH.toml, rule 1" in str(refused.value)


def test_a_code_used_twice_and_an_empty_file_are_refused(codes) -> None:
    one = "[[rule]]\n" + "".join(f"{k} = {v}\n" for k, v in RULE.items())
    with pytest.raises(ScheduleError, match="used twice"):
        parse_schedule("x.toml", one + one, **codes)
    with pytest.raises(ScheduleError, match="no rules"):
        parse_schedule("x.toml", "", **codes)
    with pytest.raises(ScheduleError, match="not TOML"):
        parse_schedule("x.toml", "[[rule]\n", **codes)


@given(INSTANTS, st.sampled_from(ZONES), DAYS)
def test_days_are_calendar_days_in_the_clinic_zone(moment, zone_name, days) -> None:
    due = due_date(moment, Interval(days=days), zone_name)
    local = moment.astimezone(ZoneInfo(zone_name))
    assert due == local.date() + timedelta(days=days)
    # Never the UTC day by mistake: the day is the one on the clinic's calendar.
    assert (due - local_day(moment, zone_name)).days == days


@given(INSTANTS, st.sampled_from(ZONES), DAYS)
def test_daylight_saving_never_moves_a_due_day(moment, zone_name, days) -> None:
    """Two instants on the same local day give the same due day, even when a clock
    change lies between them or between the instant and the due day."""
    tz = ZoneInfo(zone_name)
    local = moment.astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)
    # The last instant of that local day (a DST day may be 23 or 25 hours long).
    next_day = local.date() + timedelta(days=1)
    end = datetime(next_day.year, next_day.month, next_day.day, tzinfo=tz).astimezone(
        UTC
    ) - timedelta(microseconds=1)
    interval = Interval(days=days)
    assert due_date(start, interval, zone_name) == due_date(end, interval, zone_name)
    assert due_date(end + timedelta(microseconds=1), interval, zone_name) == due_date(
        end, interval, zone_name
    ) + timedelta(days=1)


@given(INSTANTS, st.sampled_from(ZONES), MONTHS)
def test_months_are_calendar_months_clamped_to_the_month_end(moment, zone_name, months) -> None:
    day = local_day(moment, zone_name)
    due = due_date(moment, Interval(months=months), zone_name)
    assert (due.year - day.year) * 12 + due.month - day.month == months
    assert due.day == day.day or (due.day < day.day and (due + timedelta(days=1)).day == 1)
    assert due > day


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 1, 1)), MONTHS, MONTHS)
def test_month_steps_never_go_backwards(day, first, second) -> None:
    assert add_interval(day, Interval(months=first)) <= add_interval(
        day, Interval(months=first + second)
    )


def test_known_daylight_saving_days() -> None:
    # London, clocks forward at 01:00 UTC on 29 March 2026: 00:30 local is 00:30 UTC,
    # 02:30 local is 01:30 UTC; both are 29 March, so both are due on 12 April.
    for moment in (
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    ):
        assert due_date(moment, Interval(days=14), "Europe/London") == date(2026, 4, 12)
    # 23:30 UTC on 25 October 2026 is 00:30 on the 26th in Sydney's summer time (+11):
    # the clinic's day, not UTC's, counts.
    assert due_date(
        datetime(2026, 10, 25, 23, 30, tzinfo=UTC), Interval(days=1), "Australia/Sydney"
    ) == date(2026, 10, 27)
    assert add_interval(date(2026, 1, 31), Interval(months=1)) == date(2026, 2, 28)
    assert add_interval(date(2028, 1, 31), Interval(months=1)) == date(2028, 2, 29)
