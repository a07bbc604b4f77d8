"""Her consent governs the exam, and the printed report reads in words: the
examiner signs off an exam whose speculum part she declined, sees it shown as
declined, and prints a report numbered "Page X of Y" on every page, with the case
reference (never her name), times in words and the examiner's name, role,
registration and a signature line. In Chromium, on a tablet-sized touch screen."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import set_professional_registration
from clinic.cli import unit_of_work
from clinic.exam import services
from tests.browser.conftest import assert_accessible
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.exam.helpers import (
    INJURY,
    call,
    complete_exam,
    decide_every_window,
    record_exam_consent,
    start,
)
from tests.helpers import open_case

pytestmark = pytest.mark.browser


def register_examiner(app: Flask, username: str, registration: str) -> None:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        assert admin is not None
        assert user is not None
        from clinic.accounts.services import actor_for

        set_professional_registration(uow, user, actor=actor_for(admin), registration=registration)


def test_a_signed_report_prints_page_x_of_y_and_the_examiner_on_every_page(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    register_examiner(app, "examiner", "NMC 12A3456B")
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    # Enough injuries for the report to run over several printed pages.
    for number in range(24):
        call(
            app,
            "examiner",
            services.add_injury,
            exam_id=exam_id,
            injury=replace(INJURY, site=f"left forearm, mark {number + 2}", length_mm=Decimal(5)),
        )
    # She declined the speculum examination (her consent, recorded again): the
    # guidance on speculum samples changed, and the examiner decides again.
    record_exam_consent(app, case.id, speculum_exam=False)
    decide_every_window(app, exam_id)

    sign_in(page, live_server, "examiner")
    assert_accessible(page)

    # Another survivor, brought in unconscious: the examiner records why she could
    # not consent, and the case is flagged for review.
    other = open_case(app)
    other_exam = start(app, other.id)
    page.goto(f"{live_server}/exams/{other_exam}/consent")
    page.get_by_role("heading", name="If she cannot consent").wait_for()
    assert_accessible(page)
    page.get_by_role("group", name="Why could she not consent?").get_by_label("Unconscious").check()
    page.get_by_label("What you saw and why you examined her without her consent").fill(
        "Brought in unresponsive; head wound needed care at once."
    )
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="Arrival and timing").wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Her consent", exact=True).click()
    page.get_by_role("heading", name="She could not consent: awaiting review").wait_for()
    assert_accessible(page)
    page.goto(f"{live_server}/cases/{other.id}")
    page.get_by_text("flagged for review").wait_for()
    assert_accessible(page)
    page.goto(f"{live_server}/exams/{exam_id}/anogenital")
    page.get_by_role("heading", name="Declined: internal examination with a speculum").wait_for()
    assert page.get_by_label("Speculum examination findings (if a speculum was used)").count() == 0
    assert "record her new consent first" in page.get_by_role("main").text_content()
    assert_accessible(page)

    page.get_by_role("link", name="Her consent", exact=True).click()
    page.get_by_role("heading", name="Her consent", level=1).wait_for()
    assert "is recorded and in force" in page.get_by_role("main").text_content()
    assert_accessible(page)

    page.get_by_role("link", name="Review and sign off").click()
    page.get_by_role("heading", name="Review and sign off").wait_for()
    assert_accessible(page)
    page.get_by_label("I examined the survivor and this record is complete and accurate").check()
    page.get_by_role("button", name="Sign off the exam").click()
    page.get_by_role("status").filter(has_text="Exam signed off").wait_for()
    assert_accessible(page)

    page.get_by_role("link", name="Printable exam report").click()
    page.get_by_role("heading", name="Medical-forensic exam report").wait_for()
    assert_accessible(page)
    page.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    page.emulate_media(media="screen")
    total = len(pdf.pages)
    assert total >= 2
    for number, printed in enumerate(pdf.pages, start=1):
        text = printed.extract_text()
        assert f"Page {number} of {total}" in text, f"page {number} lacks its number"
        assert f"Case {case.reference}" in text, f"page {number} lacks the case reference"
    whole = " ".join(p.extract_text() for p in pdf.pages)
    assert "Forensic examiner" in whole
    assert "NMC 12A3456B" in whole
    assert "Signature:" in whole
    assert "Speculum: not done, she declined it." in whole
    assert re.search(
        r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) \d{1,2} \w+ 20\d\d, \d\d:\d\d \(UTC\)",
        whole,
    )
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", whole)
