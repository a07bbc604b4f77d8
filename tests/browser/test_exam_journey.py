"""An examiner registers an anonymous survivor, records her clinical baseline, the
history, the incident, the strangulation she reports, her mental state and
safety, her clothing, two injuries, the anogenital examination by site, the
laboratory tests and treatment, decides the time-window guidance, reviews what
she will sign, signs off, prints the report (the case reference on every page),
then amends one injury with a reason, adds a laboratory result and retracts an
injury recorded twice. In Chromium, on a tablet-sized touch screen."""

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

    # Clinical baseline. A last period in the future is refused next to its field.
    page.get_by_role("heading", name="Clinical baseline").wait_for()
    assert_accessible(page)
    lmp = page.get_by_label("First day of the last menstrual period")
    lmp.fill((now + timedelta(days=3)).strftime("%Y-%m-%d"))
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    assert lmp.get_attribute("aria-invalid") == "true"
    assert "cannot be after the exam" in page.locator("#baseline__lmp-error").text_content()
    lmp.fill((now - timedelta(days=12)).strftime("%Y-%m-%d"))
    page.get_by_role("group", name="Contraception in use").get_by_label("Condom").check()
    page.get_by_role("group", name="Known to be pregnant").get_by_label("No", exact=True).check()
    page.get_by_label("Pregnancy test today").select_option(label="Negative")
    page.get_by_label("Allergies").fill("None known")
    page.get_by_label("Hepatitis B vaccination").select_option(label="Complete")
    page.get_by_role("button", name="Save and continue").click()

    # History, in her words, with the acts checklist and what she did since.
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert_accessible(page)
    assert "30.0 h" in page.locator(".elapsed").text_content()
    page.get_by_label("What happened, in her own words").fill(
        "He pushed me onto the bed and held my wrists."
    )
    page.get_by_label("Demeanour").fill("Calm, spoke quietly, tearful at times.")
    yes = {
        "Vaginal penetration",
        "Restraints (held down, tied)",
        "Strangulation or non-fatal suffocation",
    }
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

    # The incident, with one assailant and the scratch she left on him.
    page.get_by_role("heading", name="The incident").wait_for()
    assert_accessible(page)
    page.get_by_label("Kind of place").select_option(label="Her home")
    page.get_by_label("Area (town, district, landmark)").fill("Northside, near the station")
    page.get_by_label("Number of assailants").fill("1")
    page.get_by_role("group", name="Weapons used or shown").get_by_label("No", exact=True).check()
    assailant = page.get_by_role("group", name="Assailant 1", exact=True)
    assailant.get_by_label("Relationship to her").select_option(label="Former partner")
    assailant.get_by_label("Sex").select_option(label="Male")
    assailant.get_by_label("Approximate age (years)").fill("34")
    page.get_by_role("group", name="She scratched the assailant").get_by_label("Yes").check()
    page.get_by_role("button", name="Save and continue").click()

    # Strangulation: what she reports, the signs, and the advice she is given.
    page.get_by_role("heading", name="Non-fatal strangulation").wait_for()
    assert_accessible(page)
    assert "Return at once" in page.get_by_role("region", name="Advice to give her").text_content()
    page.get_by_role("group", name="Method", exact=True).get_by_label("Hands").check()
    page.get_by_role("group", name="Voice changes").get_by_label("Yes").check()
    page.get_by_role("group", name="Loss of consciousness").get_by_label("Not known").check()
    page.get_by_role("group", name="Petechiae (face, eyes, neck)").get_by_label(
        "No", exact=True
    ).check()
    page.get_by_role("button", name="Save and continue").click()

    # General examination: a pulse; then two injuries.
    page.get_by_role("heading", name="General examination and vital signs").wait_for()
    assert_accessible(page)
    page.get_by_label("Heart rate (beats per minute)").fill("92")
    page.get_by_role("button", name="Save and continue").click()

    # Mental state and immediate safety: every safety question answered.
    page.get_by_role("heading", name="Mental state and immediate safety").wait_for()
    assert_accessible(page)
    page.get_by_role("group", name="Mood").get_by_label("Anxious").check()
    page.get_by_role("group", name="Thoughts of harming herself").get_by_label(
        "No", exact=True
    ).check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    for question, answer in (
        ("Thoughts of harming herself", "No"),
        ("Thoughts of harming others", "No"),
        ("A safe place to go tonight", "Yes"),
        ("Immediate risk from the assailant", "Yes"),
    ):
        page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()
    page.get_by_role("button", name="Save and continue").click()

    # Clothing, collected and packaged.
    page.get_by_role("heading", name="Clothing", exact=True).wait_for()
    assert_accessible(page)
    page.get_by_role("group", name="Wearing the clothes she wore at the time").get_by_label(
        "Yes"
    ).check()
    page.get_by_role("group", name="State", exact=True).get_by_label("Torn").check()
    page.get_by_role("group", name="Clothing collected as evidence").get_by_label("Yes").check()
    page.get_by_label("How packaged").select_option(label="Paper bag, sealed")
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
    fourchette = page.get_by_role("group", name="Posterior fourchette", exact=True)
    fourchette.get_by_label("Tear (laceration)").check()
    page.get_by_role("button", name="Save and continue").click()
    # A finding without how it was seen is refused next to the site's methods.
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    assert (
        "say how the site was examined"
        in page.locator("#site_posterior_fourchette_methods-error").text_content()
    )
    fourchette = page.get_by_role("group", name="Posterior fourchette", exact=True)
    fourchette.get_by_label("Direct view").check()
    fourchette.get_by_label("Colposcope").check()
    fourchette.get_by_label("Posterior fourchette: note (position, size)").fill("6 o'clock, 3 mm")
    page.get_by_role("group", name="Hymen", exact=True).get_by_label("No injury seen").check()
    page.get_by_role("group", name="Hymen", exact=True).get_by_label("Direct view").check()
    page.get_by_label("Anogenital findings in words").fill("No other injuries seen.")
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

    # Laboratory tests: HIV requested, to the regional laboratory.
    page.get_by_role("heading", name="Laboratory tests").wait_for()
    assert_accessible(page)
    page.get_by_label("HIV: requested").check()
    page.get_by_label("HIV: sent to").fill("Regional virology laboratory")
    page.get_by_role("button", name="Save and continue").click()

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
    # The review page shows what she will sign, not only "recorded".
    review = page.get_by_role("region", name="Anogenital findings").text_content()
    assert "Posterior fourchette: Tear (laceration)" in review
    assert (
        "Assailant 1: Relationship to her: Former partner"
        in page.get_by_role("region", name="The incident").text_content()
    )

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
    flowing = " ".join(whole.split())  # lines as printed, rejoined
    assert "Return at once" in flowing  # the strangulation advice, printed
    assert "HIV: requested, sent to Regional virology laboratory" in flowing

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

    # Weeks later the HIV result arrives: added, with who and when, no amendment.
    page.get_by_role("link", name="Laboratory tests").click()
    page.get_by_role("heading", name="Laboratory tests").wait_for()
    assert_accessible(page)
    page.get_by_label("Result").select_option(label="Negative")
    page.get_by_role("button", name="Add the HIV result").click()
    page.get_by_role("status").filter(has_text="HIV: result added").wait_for()
    assert_accessible(page)
    assert "Negative — added" in page.get_by_role("region", name="HIV").text_content()

    # Injury 2 was recorded twice: retracted, kept, shown retracted.
    page.get_by_role("link", name="Injuries", exact=True).click()
    page.get_by_role("link", name="Amend injury 2").click()
    page.get_by_role("heading", name="Retract injury 2").wait_for()
    assert_accessible(page)
    page.get_by_label("Why retract this injury?").fill("Recorded twice: same as injury 1.")
    page.get_by_role("button", name="Retract injury 2").click()
    page.get_by_role("status").filter(has_text="Injury 2 retracted").wait_for()
    assert_accessible(page)
    assert (
        "Retracted: Recorded twice"
        in page.get_by_role("row").filter(has_text="Retracted").text_content()
    )
