"""Break-glass in Chromium on a tablet: an examiner of another site states why she
must open a case, reads it under a visible banner; an auditor reviews the access.
axe-core checks every page on the way (tests/browser/conftest.py)."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.browser.conftest import assert_accessible
from tests.browser.test_admin_journey import sign_in, sign_out
from tests.conftest import PASSWORD
from tests.helpers import open_case

pytestmark = pytest.mark.browser

REASON = "Brought in unconscious at South; her allergies and medicines are needed now."


def test_an_examiner_breaks_the_glass_and_an_auditor_reviews_it(  # type: ignore[no-untyped-def]
    page, live_server: str, app: Flask
) -> None:
    case = open_case(app, "examiner")  # a case of NORTH
    sign_in(page, live_server, "examiner.south", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Break-glass").click()
    page.get_by_role("heading", name="Break-glass: open a case in an emergency").wait_for()
    page.get_by_label("Case reference").fill(case.reference)
    page.get_by_label("Why you must open this case now").fill("urgent")
    page.get_by_role("button", name="Break the glass and open the case").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "at least 20 characters" in alert.text_content()
    assert page.get_by_label("Why you must open this case now").get_attribute("aria-invalid") == (
        "true"
    )
    assert_accessible(page)
    page.get_by_label("Why you must open this case now").fill(REASON)
    page.get_by_role("button", name="Break the glass and open the case").click()

    page.get_by_role("heading", name=f"Case {case.reference}").wait_for()
    banner = page.locator("#break-glass-banner")
    assert banner.is_visible()
    assert "You opened this case in an emergency" in banner.text_content()
    assert "North Referral Centre" in page.text_content("main")
    assert_accessible(page)
    sign_out(page)

    sign_in(page, live_server, "auditor", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Break-glass reviews"
    ).click()
    page.get_by_role("heading", name="Break-glass reviews").wait_for()
    assert REASON in page.text_content("main")
    page.get_by_role("link", name=f"Review examiner.south {case.reference}").click()
    page.get_by_role("heading", name="Review a break-glass access").wait_for()
    assert f"Patient/{case.patient_id}" in page.text_content("main")  # what was read
    page.get_by_role("button", name="Record the review").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    page.get_by_label("Justified", exact=True).check()
    page.get_by_label("Note").fill("Confirmed with the South duty consultant: emergency care.")
    page.get_by_role("button", name="Record the review").click()
    page.get_by_role("status").filter(has_text="The review is recorded.").wait_for()
    reviewed = page.get_by_role("table").nth(1)
    assert "Confirmed with the South duty consultant" in reviewed.text_content()
    sign_out(page)

    # Her care team at NORTH sees the case flagged, and who opened it, why, what was read.
    sign_in(page, live_server, "examiner", PASSWORD)
    page.goto(f"{live_server}/cases/{case.id}")
    flag = page.locator("#break-glass-flag")
    assert "opened by break-glass 1 time" in flag.text_content()
    flag.get_by_role("link", name="Who, when, why and what was read").click()
    page.get_by_role("heading", name="Break-glass accesses to this case").wait_for()
    assert REASON in page.text_content("main")
    assert "examiner.south" in page.text_content("main")
