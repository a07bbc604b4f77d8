"""On a tablet, an examiner opens the account of the medical expert a survivor
named in her photo consent; the expert signs in, sees only her intimate image,
blurred, and opens it with a reason. Every page passes axe-core."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from clinic.core.clock import utcnow
from tests.browser.conftest import after_password, assert_accessible
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import PASSWORD, World
from tests.exam.helpers import complete_exam
from tests.helpers import open_case
from tests.media.helpers import EXPERT, camera_jpeg, record_photo_consent, take

pytestmark = pytest.mark.browser


def test_the_expert_she_names_opens_her_intimate_image_with_a_reason(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    (plain,) = take(app, exam_id, [("a.jpg", camera_jpeg(seed=61))])
    (intimate,) = take(
        app, exam_id, [("b.jpg", camera_jpeg(seed=62))], intimate=True, region="other", site="vulva"
    )

    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/cases/{case.id}")
    page.get_by_role("link", name="Medical expert she names: open an account").click()
    page.get_by_role("heading", name="Medical expert's account").wait_for()
    assert_accessible(page)
    page.get_by_label("The expert's name, as written in her photo consent").fill("Dr Someone Else")
    page.get_by_label("Username for the expert").fill("dr.lovelace")
    page.get_by_label("First password (give it to the expert in person)").fill(PASSWORD)
    page.get_by_label("Last day the expert may sign in").fill(
        (utcnow().date() + timedelta(days=14)).isoformat()
    )
    page.get_by_role("button", name="Open the account").click()
    page.get_by_text("This is not the person her photo consent names").first.wait_for()
    assert_accessible(page)
    page.get_by_label("The expert's name, as written in her photo consent").fill(EXPERT)
    page.get_by_label("First password (give it to the expert in person)").fill(PASSWORD)
    page.get_by_role("button", name="Open the account").click()
    page.get_by_text("Account dr.lovelace opened for the medical expert.").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Sign out").click()

    # The examiner chose the expert's first password: the expert chooses their own
    # before anything else opens.
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("dr.lovelace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    after_password(page, "dr.lovelace")
    page.get_by_role("heading", name="Change your password").wait_for()
    assert_accessible(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("lantern orchard velvet quarry")
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Welcome").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Photographs").click()
    page.get_by_role("heading", name="Photographs", exact=True).wait_for()
    assert_accessible(page)
    assert page.locator(f'img[src="/photos/{plain}/thumbnail"]').count() == 0
    blurred = page.get_by_role("img", name="Photograph 2, intimate image, blurred")
    assert blurred.get_attribute("src") == f"/photos/{intimate}/thumbnail"
    page.get_by_label("Why are you opening photograph 2?").fill("Opinion on healing for the court")
    page.get_by_role("button", name="Open photograph 2").click()
    page.get_by_role("heading", name="Photograph 2 · intimate image").wait_for()
    assert_accessible(page)
    assert "Opened for: Opinion on healing for the court" in page.text_content("main")
    opened = page.get_by_role("img", name="Photograph 2, intimate image, opened")
    assert (opened.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
    assert page.get_by_role("button", name="Download the original").count() == 0
