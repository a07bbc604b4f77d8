"""Safety for an intimate-partner case, end to end in Chromium on a tablet-sized touch
screen (axe-core checks every page): the counsellor opens her plan -> the safety
assessment, offered because her partner is the assailant, with her exam's answers
marked -> a question left unanswered is refused next to it -> every question
answered, a safety plan written -> high risk: the flag on her plan and the
caseload -> her appointment card and aftercare sheet print without a word about
the assault, the aftercare sheet with the advice after pressure on the neck."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from clinic.core.clock import utcnow
from clinic.followup import services
from clinic.followup.safety_checklist import QUESTIONS
from tests.browser.test_evidence_journey import sign_in
from tests.followup.helpers import call as followup_call
from tests.followup.safety_helpers import partner_plan
from tests.helpers import open_case

pytestmark = pytest.mark.browser


def test_a_counsellor_assesses_her_safety_and_prints_what_she_takes_home(
    page, live_server: str, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    record = followup_call(app, "counsellor", services.read_plan, plan_id=plan_id)
    visit = next(n for n, item in enumerate(record.items) if item.kind == "visit")
    followup_call(
        app,
        "counsellor",
        services.book_appointment,
        plan_id=plan_id,
        position=visit,
        starts_at=utcnow() + timedelta(days=12),
        minutes=30,
    )

    sign_in(page, live_server, "counsellor")
    page.goto(f"{live_server}/followup/plans/{plan_id}")
    page.get_by_role("link", name="Safety assessment and safety plan").click()
    page.get_by_role("heading", name="Safety assessment", exact=True).wait_for()
    page.get_by_role("note").filter(has_text="offer her this assessment").wait_for()
    strangled = page.get_by_role("group", name=QUESTIONS[17].text)
    assert "from the exam" in strangled.inner_text()
    assert strangled.get_by_label("Yes", exact=True).is_checked()

    # One question left unanswered: refused, shown next to it, nothing recorded.
    page.get_by_role("button", name="Record the assessment and safety plan").click()
    page.get_by_role("alert").wait_for()
    assert "yes, no, or not asked" in page.get_by_role("alert").inner_text()

    for number, question in enumerate(QUESTIONS):
        group = page.get_by_role("group", name=question.text)
        group.get_by_label("Yes" if number < 15 else "Not asked", exact=True).check()
    page.get_by_label("Safe places she can go (one per line)").fill("Her sister's flat")
    page.get_by_label("People she can call (one per line)").fill("Her sister")
    page.get_by_label("A charged phone").check()
    page.get_by_role("button", name="Record the assessment and safety plan").click()
    page.get_by_role("status").filter(
        has_text="Safety assessment and safety plan recorded"
    ).wait_for()
    page.get_by_text("15 of 27 answered yes (high risk at 14)").wait_for()

    page.goto(f"{live_server}/followup/plans/{plan_id}")
    page.get_by_role("note").filter(has_text="High risk").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Caseload").click()
    page.get_by_role("row").filter(has_text=case.reference).filter(
        has_text="High risk (safety assessment)"
    ).wait_for()

    page.goto(f"{live_server}/followup/plans/{plan_id}")
    page.get_by_role("link", name="Print her appointment card").click()
    card = page.locator("article.appointment-card").inner_text()
    assert "Health clinic" in card
    assert "Your next appointments" in card
    assert case.reference not in card
    page.go_back()
    page.get_by_role("link", name="Print her aftercare sheet").click()
    sheet = page.locator("article.aftercare").inner_text()
    assert "After pressure on the neck" in sheet
    for word in ("assault", "strangl", "partner", "HIV", "sexual"):
        assert word.lower() not in sheet.lower(), word
