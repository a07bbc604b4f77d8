"""An examiner registers an anonymous survivor, records the history, two injuries
and treatment, decides the time-window guidance, signs off, prints the report
(the case reference on every page), then amends one injury with a reason. In
Chromium, on a tablet-sized touch screen."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from clinic.exam.timing import WINDOWS
from tests.browser.conftest import assert_accessible
from tests.browser.test_evidence_journey import register_anonymous_survivor, sign_in
from tests.conftest import World
from tests.exam.helpers import record_exam_consent

pytestmark = pytest.mark.browser


def local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")  # the test app's CLINIC_TIMEZONE is UTC


def test_an_exam_from_registration_to_an_amended_signed_report(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    reference = register_anonymous_survivor(page, age=24)
    assert_accessible(page)
    # Her examination and treatment consent, recorded with her before the exam.
    record_exam_consent(app, page.url.rstrip("/").rsplit("/", 1)[1])

    # Arrival and timing: she knows when; 30 hours ago.
    page.get_by_role("button", name="Start an exam").click()
    page.get_by_role("heading", name="Arrival and timing").wait_for()
    assert_accessible(page)
    now = datetime.now(UTC)
    page.get_by_label("Time of the exam").fill(local(now))
    page.get_by_role("group", name="When did the assault happen?").get_by_label(
        "She knows the date and time"
    ).check()
    page.get_by_label("Date and time of the assault").fill(local(now - timedelta(hours=30)))
    page.get_by_role("button", name="Save and continue").click()

    # History, in her words, with the acts checklist and what she did since.
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert_accessible(page)
    assert "30.0 h" in page.locator(".elapsed").text_content()
    page.get_by_label("What happened, in her own words").fill(
        "He pushed me onto the bed and held my wrists."
    )
    page.get_by_label("Demeanour").fill("Calm, spoke quietly, tearful at times.")
    yes = {"Vaginal penetration", "Restraints (held down, tied)"}
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
        answer = "Yes" if act in yes else "Not known" if act == "Ejaculation" else "No"
        page.get_by_role("group", name=act, exact=True).get_by_label(answer, exact=True).check()
    page.get_by_role("group", name="Vaginal penetration: by what?").get_by_label("Penis").check()
    for activity in (
        "Washed, bathed or showered",
        "Changed clothes",
        "Urinated",
        "Ate or drank",
        "Brushed teeth or used mouthwash",
    ):
        page.get_by_role("group", name=activity, exact=True).get_by_label("Yes").check()
    page.get_by_role("button", name="Save and continue").click()

    # General examination: a pulse; then two injuries.
    page.get_by_role("heading", name="General examination and vital signs").wait_for()
    assert_accessible(page)
    page.get_by_label("Heart rate (beats per minute)").fill("92")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="Injuries", exact=True).wait_for()
    assert_accessible(page)
    for kind, region, site, length in (
        ("Bruise", "Wrist", "left wrist, palm side", "30"),
        ("Abrasion", "Back", "lower back, right of the spine", "45"),
    ):
        page.get_by_label("Type of injury").select_option(label=kind)
        page.get_by_label("Body region").select_option(label=region)
        page.get_by_label("Exactly where (side and place)").fill(site)
        page.get_by_label("Length (mm)").fill(length)
        page.get_by_label("Colour").fill("red-purple")
        page.get_by_role("button", name="Record this injury").click()
        page.get_by_role("status").filter(has_text="Injury recorded").wait_for()
        assert_accessible(page)
    assert page.get_by_role("link", name="Change injury 2").is_visible()
    page.get_by_role("link", name="Continue to anogenital findings").click()
    page.get_by_role("heading", name="Anogenital findings").wait_for()
    assert_accessible(page)
    page.get_by_label("Anogenital findings").fill("No injuries seen.")
    page.get_by_role("button", name="Save and continue").click()

    # Guidance: at 30 h PEP and EC are within their windows; oral samples (48 h)
    # too. She declines oral samples: the examiner overrides with the reason.
    page.get_by_role("heading", name="Time-window guidance").wait_for()
    assert_accessible(page)
    hiv = page.get_by_role("region", name="HIV post-exposure prophylaxis (up to 72 h)")
    assert "Within the window" in hiv.text_content()
    for window in WINDOWS:
        group = page.get_by_role("group", name=window.label, exact=True)
        if window.code == "forensic-oral":
            group.get_by_label("Decide otherwise (say why)").check()
        else:
            group.get_by_label("Follow the guidance").check()
    page.get_by_role("button", name="Save decisions and continue").click()
    # Never silently: an override without a reason is refused next to its field.
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    page.get_by_label("Forensic samples: oral: why are you deciding otherwise?").fill(
        "She declined oral swabs after the procedure was explained."
    )
    page.get_by_role("group", name="Forensic samples: oral", exact=True).get_by_label(
        "Decide otherwise (say why)"
    ).check()
    for window in WINDOWS:
        if window.code != "forensic-oral":
            page.get_by_role("group", name=window.label, exact=True).get_by_label(
                "Follow the guidance"
            ).check()
    page.get_by_role("button", name="Save decisions and continue").click()

    # Treatment: emergency contraception given.
    page.get_by_role("heading", name="Treatment", exact=True).wait_for()
    assert_accessible(page)
    page.get_by_label("Treatment", exact=True).select_option(label="Emergency contraception")
    page.get_by_label("Medicine (name and strength)").fill("Levonorgestrel 1.5 mg")
    page.get_by_label("Dose and route, in words").fill("One tablet by mouth")
    page.get_by_role("group", name="Given?").get_by_label("Given", exact=True).check()
    page.get_by_role("button", name="Record this treatment").click()
    page.get_by_role("status").filter(has_text="Treatment recorded").wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Continue to review and sign off").click()
    page.get_by_role("heading", name="Review and sign off").wait_for()
    assert_accessible(page)

    # Sign-off.
    page.get_by_label("I examined the survivor and this record is complete and accurate").check()
    page.get_by_role("button", name="Sign off the exam").click()
    page.get_by_role("status").filter(has_text="Exam signed off").wait_for()
    assert_accessible(page)
    exam_url = page.url

    # The printed report: the case reference on every page.
    page.get_by_role("link", name="Printable exam report").click()
    page.get_by_role("heading", name="Medical-forensic exam report").wait_for()
    assert_accessible(page)
    page.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    page.emulate_media(media="screen")
    assert len(pdf.pages) >= 2
    for number, printed in enumerate(pdf.pages, start=1):
        text = printed.extract_text()
        assert f"Case {reference}" in text, f"page {number} lacks the case reference"
    whole = " ".join(p.extract_text() for p in pdf.pages)
    assert "He pushed me onto the bed" in whole
    assert "Levonorgestrel" in whole

    # An amendment: the first injury measured again. Without a reason it is refused.
    page.goto(
        exam_url.replace(exam_url.split("/exams/")[1], exam_url.split("/exams/")[1] + "/injuries")
    )
    page.get_by_role("heading", name="Injuries", exact=True).wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Amend injury 1").click()
    page.get_by_label("Length (mm)").wait_for()
    assert_accessible(page)
    page.get_by_label("Length (mm)").fill("35")
    page.get_by_role("button", name="Record the amendment").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    reason = page.get_by_label("Why are you amending the signed exam?")
    assert reason.get_attribute("aria-invalid") == "true"
    page.get_by_label("Length (mm)").fill("35")
    reason.fill("Measured again against the photo scale: 35 mm, not 30 mm.")
    page.get_by_role("button", name="Record the amendment").click()
    page.get_by_role("status").filter(has_text="Injury saved").wait_for()
    assert_accessible(page)
    row = page.get_by_role("row").filter(has_text="left wrist")
    assert "35" in row.text_content()
    page.get_by_role("link", name="Review and sign off").click()
    page.get_by_role("heading", name="Review and sign off").wait_for()
    assert_accessible(page)
    amendments = page.get_by_role("table").filter(has_text="Measured again")
    assert "examiner" in amendments.text_content()
    assert "version 1 → 2" in amendments.text_content()
