"""A night shift on a tablet (1024 x 768): at 02:30 in the clinic's time zone a
forensic nurse signs in, registers a survivor, records her consent to examination
and treatment and to evidence collection on the consent screens, then goes through
the exam: timing, history, general examination, injuries, anogenital findings,
guidance, treatment and sign-off; collects a kit and prints the report. The clinic
is in Auckland, where 02:30 is the previous day in UTC: times are typed and read in
local time. Every page passes axe-core (the checked `page` fixture). In Chromium."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from clinic.core.clock import utcnow
from clinic.exam.timing import WINDOWS
from tests.browser.test_consent_journey import draw_signature
from tests.browser.test_evidence_journey import register_anonymous_survivor, sign_in
from tests.conftest import World
from tests.exam.helpers import read

pytestmark = pytest.mark.browser

ZONE = "Pacific/Auckland"
TABLET = {"width": 1024, "height": 768}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return app_config | {"CLINIC_TIMEZONE": ZONE}


def small_hours(now: datetime | None = None) -> datetime:
    """The latest 02:30 in the clinic's time zone that is not in the future and that
    happens: on the night the clocks go forward at 02:00 there is no 02:30 (the
    clinic refuses it), so the night before is taken. When the clocks go back,
    its first occurrence (fold=0), as the clinic reads it."""
    zone = ZoneInfo(ZONE)
    now = now or utcnow()
    day = now.astimezone(zone).date()
    while True:
        at = datetime(day.year, day.month, day.day, 2, 30, tzinfo=zone)
        happens = at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == at.replace(
            tzinfo=None
        )
        if happens and at.astimezone(UTC) <= now:
            return at
        day -= timedelta(days=1)


def test_small_hours_skips_the_night_the_clocks_go_forward() -> None:
    # Clocks went forward at 02:00 on Sunday 27 September 2026 in New Zealand.
    assert small_hours(datetime(2026, 9, 27, 0, 0, tzinfo=UTC)) == datetime(
        2026, 9, 26, 2, 30, tzinfo=ZoneInfo(ZONE)
    )
    assert small_hours(datetime(2026, 9, 28, 0, 0, tzinfo=UTC)) == datetime(
        2026, 9, 28, 2, 30, tzinfo=ZoneInfo(ZONE)
    )


def typed(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")  # as a datetime-local field takes it


def record_consent_agreeing_to_all(page, form_title: str) -> None:  # type: ignore[no-untyped-def]
    """From the case page: her consent, the form in English, every item agreed, she
    signs on the screen herself; back to the case page."""
    page.get_by_role("link", name="Her consent").click()
    page.get_by_role("region", name=form_title).get_by_role("link", name="English").click()
    page.get_by_role("heading", name=form_title).wait_for()
    for item in page.locator(".consent-item fieldset").all():
        item.get_by_label("I agree").check()
    page.get_by_label("I am making these choices freely").check()
    page.get_by_role("group", name="Who consents").get_by_label("The survivor herself").check()
    draw_signature(page, "Signature of the person consenting")
    page.get_by_role("button", name="Record her consent").click()
    assert page.locator("#consent-status").get_attribute("data-status") == "active"
    page.get_by_role("link", name="Back to her consent").click()
    page.get_by_role("link", name="Back to the case").click()


def save_and_continue(page, next_heading: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name=next_heading, exact=True).wait_for()


def test_a_night_shift_exam_on_a_tablet_from_consent_to_the_printed_report(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    page.set_viewport_size(TABLET)
    exam_at = small_hours()
    assault_at = exam_at - timedelta(hours=3)  # 23:30 the evening before, local time

    sign_in(page, live_server, "examiner")
    reference = register_anonymous_survivor(page, age=31)
    case_url = page.url

    # Her consent first, on the consent screens: examination and treatment, evidence.
    record_consent_agreeing_to_all(page, "Consent to examination and treatment")
    record_consent_agreeing_to_all(page, "Consent to evidence collection and storage")

    # Timing, typed in the clinic's local time.
    page.get_by_role("button", name="Start an exam").click()
    page.get_by_role("heading", name="Arrival and timing").wait_for()
    page.get_by_label("Time of the exam").fill(typed(exam_at))
    page.get_by_role("group", name="When did the assault happen?").get_by_label(
        "She knows the date and time"
    ).check()
    page.get_by_label("Date and time of the assault").fill(typed(assault_at))
    save_and_continue(page, "Clinical baseline")
    save_and_continue(page, "History")  # nothing of her baseline known yet
    exam_id = page.url.split("/exams/")[1].split("/")[0]
    assert "3.0 h" in str(page.locator(".elapsed").text_content())
    header = str(page.locator(".exam-header").text_content())
    assert exam_at.strftime("%H:%M") in header, header  # shown as typed, not in UTC
    stored = read(app, exam_id).exam_time
    assert stored == exam_at.astimezone(stored.tzinfo), "02:30 local is stored as that instant"

    # History.
    page.get_by_label("What happened, in her own words").fill(
        "I was walking home from the bus stop when he grabbed me."
    )
    for act in (
        "Oral penetration",
        "Vaginal penetration",
        "Anal penetration",
        "Ejaculation",
        "Condom used",
        "Strangulation or non-fatal suffocation",
        "Restraints (held down, tied)",
        "Drugs or alcohol suspected",
    ):
        answer = "Yes" if act == "Vaginal penetration" else "No"
        page.get_by_role("group", name=act, exact=True).get_by_label(answer, exact=True).check()
    page.get_by_role("group", name="Vaginal penetration: by what?").get_by_label(
        "Finger or hand"
    ).check()
    for activity in (
        "Washed, bathed or showered",
        "Changed clothes",
        "Urinated",
        "Ate or drank",
        "Brushed teeth or used mouthwash",
    ):
        page.get_by_role("group", name=activity, exact=True).get_by_label("No", exact=True).check()
    save_and_continue(page, "The incident")
    save_and_continue(page, "Non-fatal strangulation")  # none reported: left blank
    save_and_continue(page, "General examination and vital signs")

    # General examination, one injury, anogenital findings.
    page.get_by_label("Heart rate (beats per minute)").fill("104")
    save_and_continue(page, "Mental state and immediate safety")
    page.get_by_role("link", name="Injuries", exact=True).click()  # asked later
    page.get_by_role("heading", name="Injuries", exact=True).wait_for()
    page.get_by_label("Type of injury").select_option(label="Bruise")
    page.get_by_label("Body region").select_option(label="Upper arm")
    page.get_by_label("Exactly where (side and place)").fill("right upper arm, inner side")
    page.get_by_label("Length (mm)").fill("40")
    page.get_by_role("button", name="Record this injury").click()
    page.get_by_role("status").filter(has_text="Injury recorded").wait_for()
    page.get_by_role("link", name="Continue to anogenital findings").click()
    page.get_by_label("Anogenital findings in words").fill("No injuries seen.")
    save_and_continue(page, "Time-window guidance")

    # Guidance: three hours after, every window is open; she follows each.
    for window in WINDOWS:
        page.get_by_role("group", name=window.label, exact=True).get_by_label(
            "Follow the guidance"
        ).check()
    page.get_by_role("button", name="Save decisions and continue").click()
    page.get_by_role("heading", name="Laboratory tests").wait_for()
    page.get_by_role("link", name="Continue to treatment").click()

    # Treatment.
    page.get_by_role("heading", name="Treatment", exact=True).wait_for()
    page.get_by_label("Treatment", exact=True).select_option(label="Emergency contraception")
    page.get_by_label("Medicine (name and strength)").fill("Levonorgestrel 1.5 mg")
    page.get_by_label("Dose and route, in words").fill("One tablet by mouth")
    page.get_by_role("group", name="Given?").get_by_label("Given", exact=True).check()
    page.get_by_role("button", name="Record this treatment").click()
    page.get_by_role("status").filter(has_text="Treatment recorded").wait_for()

    # Sign-off.
    page.get_by_role("link", name="Continue to review and sign off").click()
    page.get_by_label("I examined the survivor and this record is complete and accurate").check()
    page.get_by_role("button", name="Sign off the exam").click()
    page.get_by_role("status").filter(has_text="Exam signed off").wait_for()
    exam_url = page.url

    # The evidence kit, collected under her evidence consent.
    page.goto(case_url)
    page.get_by_role("link", name="Collect an evidence kit").click()
    for number, (kind, name) in enumerate(
        (("Swab", "High vaginal swab"), ("Blood", "Blood, toxicology")), start=1
    ):
        row = page.get_by_role("group", name=f"Item {number}", exact=True)
        row.get_by_label("Kind").select_option(label=kind)
        row.get_by_label("Item").fill(name)
        row.get_by_label("Container").fill("tube")
    page.get_by_role("button", name="Record the kit").click()
    page.get_by_role("heading", name="Labels for kit").wait_for()
    assert len(page.locator(".label-id").all_text_contents()) == 3

    # The printed report: the case reference on every page, times in local time.
    page.goto(exam_url)
    page.get_by_role("link", name="Printable exam report").click()
    page.get_by_role("heading", name="Medical-forensic exam report").wait_for()
    page.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    page.emulate_media(media="screen")
    for number, printed in enumerate(pdf.pages, start=1):
        assert f"Case {reference}" in printed.extract_text(), f"page {number} lacks it"
    whole = " ".join(p.extract_text() for p in pdf.pages)
    assert "walking home from the bus stop" in whole
    assert "Levonorgestrel" in whole
    assert re.search(r"\b0?2[:.]30\b", whole), "the exam time is printed in local time"
