"""Follow-up, end to end in Chromium on a tablet-sized touch screen: an exam signed
with emergency contraception and HIV PEP -> her plan shows the due tests and visits,
agreed with her (calls only) -> the counsellor's caseload shows them due -> a text
attempt is refused because she allows calls only -> a call is recorded -> a
referral to a refuge carries only what she agreed to share (her name and contact,
not her treatment), is accepted and attended -> the 6-week visit is booked and missed, which puts her back on the caseload, first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.cases.models import ReportingMode
from clinic.cases.services import SafeContact
from clinic.core.clock import utcnow
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.followup.helpers import signed_exam
from tests.followup.referral_helpers import add_service, shares
from tests.followup.test_appointments import time_passes
from tests.helpers import open_case

pytestmark = pytest.mark.browser


def test_follow_up_from_sign_off_to_a_missed_visit(
    page, live_server: str, app: Flask, world: World, engine: sa.Engine
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(
        app,
        is_anonymous=False,
        reporting_mode=ReportingMode.UNREPORTED,
        age_years=None,
        name="Maria Example",
        birth_date=date(1994, 5, 1),
        phone="+44 7700 900123",
        safe_contact=SafeContact(
            may_call=True,
            may_text=False,
            may_leave_message=False,
            code_word="lighthouse",
            instructions="Weekday mornings only",
        ),
    )
    exam_id = signed_exam(app, case.id)  # emergency contraception and HIV PEP given
    # She agreed that an advocate may have her name and contact details; not her GP.
    shares(app, case.id, advocate=True, gp=False)
    add_service(app, world, "NORTH", "refuge", "Harbour House")

    # The examiner: from the signed exam to her plan, gone through with her.
    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/exams/{exam_id}")
    page.get_by_role("link", name="her follow-up plan").click()
    page.get_by_role("heading", name="Her follow-up plan").wait_for()
    plan_table = page.get_by_role("table", name="Items proposed from what was given")
    for item in (
        "Follow-up visit (about 2 weeks)",
        "Follow-up visit (about 6 weeks)",
        "HIV test (6 weeks after the assault)",
        "HIV test (3 months after the assault)",
        "Pregnancy test if her period is late",
        "PEP check: side effects and adherence",
        "PEP course completed (28 days)",
    ):
        plan_table.get_by_role("rowheader", name=item).wait_for()
    # What she said at registration: calls only, mornings, a code word.
    contact = page.get_by_role("group", name="How she agrees to be contacted about it")
    assert contact.get_by_label("Phone call").is_checked()
    assert not contact.get_by_label("Text message").is_checked()
    assert page.get_by_label("When it is safe to contact her").input_value() == (
        "Weekday mornings only"
    )
    page.get_by_role("group", name="Referrals she wants").get_by_label("Refuge or shelter").check()
    page.get_by_label("I went through this plan with her and she agrees to it").check()
    page.get_by_role("button", name="Record the plan she agreed to").click()
    page.get_by_role("status").filter(has_text="Her follow-up plan is agreed").wait_for()
    page.get_by_role("heading", name="Follow-up plan").wait_for()
    plan_url = page.url
    page.get_by_role("button", name="Sign out").click()

    # The counsellor: the caseload shows her, with what is due next.
    sign_in(page, live_server, "counsellor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Caseload").click()
    page.get_by_role("heading", name="Caseload").wait_for()
    row = page.get_by_role("row").filter(has_text=case.reference)
    assert "PEP check: side effects and adherence" in row.inner_text()  # due first (3 days)
    assert "Phone call" in row.inner_text()
    row.get_by_role("link", name=case.reference).click()
    page.get_by_role("heading", name="Follow-up plan").wait_for()
    assert page.get_by_role("row").filter(has_text="HIV test (6 weeks").inner_text().count("Due")

    # Contact: what she allowed comes first; a text is refused; a call is recorded.
    page.get_by_role("link", name="Contact her").click()
    page.get_by_role("heading", name="Before you contact her").wait_for()
    assert "phone call" in page.get_by_role("region", name="Before you contact her").inner_text()
    page.get_by_role("group", name="How you tried to contact her").get_by_label(
        "Text message"
    ).check()
    page.get_by_role("group", name="What came of it").get_by_label("No answer").check()
    page.get_by_role("button", name="Record the attempt").click()
    page.get_by_role("alert").filter(
        has_text="She has not agreed to be contacted by text message"
    ).wait_for()
    page.get_by_role("group", name="How you tried to contact her").get_by_label(
        "Phone call"
    ).check()
    page.get_by_role("group", name="What came of it").get_by_label("Reached her").check()
    page.get_by_role("button", name="Record the attempt").click()
    page.get_by_role("status").filter(has_text="Contact attempt recorded: reached her").wait_for()
    page.get_by_role("table", name="Attempts to contact her").get_by_role(
        "cell", name="Reached her"
    ).wait_for()

    # A referral to a refuge, carrying only what she agreed to share; the letter is
    # printed for them (no account here); accepted, then attended.
    page.goto(plan_url)
    page.get_by_role("link", name="Referrals").click()
    page.get_by_role("heading", name="Referrals", exact=True).wait_for()
    page.get_by_role("group", name="Partner service").get_by_label("Harbour House").check()
    page.get_by_label("What she wants from them (optional)").fill("A safe place tonight")
    page.get_by_role("button", name="Make the referral").click()
    page.get_by_role("status").filter(has_text="Referral sent").wait_for()
    row = page.get_by_role("table", name="Her referrals, newest first").get_by_role("row").nth(1)
    assert "her name, date of birth and contact details" in row.inner_text()
    assert "treatment" not in row.inner_text()
    row.get_by_role("link", name="Print the letter to Harbour House").click()
    letter = page.locator("article.referral-letter")
    letter.wait_for()
    assert "Maria Example" in letter.inner_text()
    assert "Treatment she received" not in letter.inner_text()
    page.get_by_role("link", name="Back to her referrals").click()
    for status in ("Accepted", "Attended"):
        page.get_by_label("What became of it").select_option(label=status)
        page.get_by_role("button", name="Save").click()
        page.get_by_role("status").filter(has_text=f"Referral: {status.lower()}").wait_for()
    assert "Attended" in page.locator("td.referral-status").inner_text()
    page.goto(plan_url)

    # The 6-week visit, booked, then missed: she is back on the caseload, first.
    page.get_by_role("link", name="Book Follow-up visit (about 6 weeks)").click()
    page.get_by_role("heading", name="Book: Follow-up visit (about 6 weeks)").wait_for()
    when = datetime.now(UTC) + timedelta(days=40)
    page.get_by_label("Date and time").fill(when.strftime("%Y-%m-%dT%H:%M"))  # zone is UTC
    page.get_by_role("button", name="Book the appointment").click()
    page.get_by_role("status").filter(has_text="Appointment booked").wait_for()
    with engine.connect() as connection:
        appointment_id = connection.exec_driver_sql(
            "SELECT id FROM followup_appointments"
        ).scalar_one()
    time_passes(engine, appointment_id)  # forty days later
    page.goto(plan_url)
    page.get_by_label(
        "What happened at the appointment for Follow-up visit (about 6 weeks)"
    ).select_option(label="Missed")
    page.get_by_role("button", name="Record", exact=True).click()
    page.get_by_role("status").filter(has_text="Appointment recorded as missed").wait_for()
    page.get_by_role("note").filter(has_text="Missed appointment: contact her").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Caseload").click()
    first = (
        page.get_by_role("table", name="Her site's survivors in follow-up")
        .get_by_role("row")
        .nth(1)
    )
    assert case.reference in first.inner_text()
    assert "Missed appointment: contact her" in first.inner_text()
    page.get_by_label("Only those who need action").check()
    page.get_by_role("button", name="Show").click()
    page.get_by_role("row").filter(has_text=case.reference).wait_for()
    assert utcnow()  # the journey ran against the live server's clock
