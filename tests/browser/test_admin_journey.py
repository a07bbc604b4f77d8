"""An administrator creates an account; its owner signs in and out, in Chromium."""

from __future__ import annotations

import pytest

from tests.browser.conftest import after_password, assert_accessible
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, base: str, username: str, password: str, *, factor: bool = True) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if factor:
        after_password(page, username)


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_admin_creates_a_user_who_signs_in_and_out(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "admin", PASSWORD)
    page.get_by_role("heading", name="Welcome, Admin").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users", exact=True).wait_for()

    page.get_by_label("Username").fill("new.counsellor")
    page.get_by_label("Full name").fill("Noor Counsellor")
    page.get_by_label("Role").select_option(label="Counsellor / advocate")
    page.get_by_label("Site or organisation").select_option(label="North Referral Centre (NORTH)")
    page.get_by_label("Initial password").fill("a long and private phrase")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("status").filter(has_text="new.counsellor is created").wait_for()
    assert page.get_by_role("cell", name="Noor Counsellor").is_visible()
    sign_out(page)

    sign_in(page, live_server, "new.counsellor", "a long and private phrase")
    # The administrator chose it: she chooses her own before anything else opens.
    page.get_by_role("heading", name="Change your password").wait_for()
    assert "An administrator chose your present password" in page.text_content("main")
    assert_accessible(page)
    page.goto(f"{live_server}/")
    page.get_by_role("heading", name="Change your password").wait_for()
    page.get_by_label("Current password").fill("a long and private phrase")
    page.get_by_label("New password").fill("password1234")
    page.get_by_role("button", name="Change password").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "too easy to guess" in alert.text_content()
    assert_accessible(page)
    page.get_by_label("Current password").fill("a long and private phrase")
    page.get_by_label("New password").fill("lantern orchard velvet quarry")
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Welcome, Noor Counsellor").wait_for()
    assert "Counsellor / advocate, North Referral Centre" in page.text_content("main")
    # A counsellor has no administration.
    assert page.get_by_role("link", name="Users").count() == 0
    sign_out(page)
    page.goto(f"{live_server}/")
    page.get_by_role("heading", name="Sign in").wait_for()


def test_a_form_error_is_announced_and_linked_to_its_field(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "admin", PASSWORD)
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("Username").fill("examiner")  # taken
    page.get_by_label("Full name").fill("Duplicate")
    page.get_by_label("Site or organisation").select_option(label="North Referral Centre (NORTH)")
    page.get_by_label("Initial password").fill("a long and private phrase")
    page.get_by_role("button", name="Create account").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "That username is taken." in alert.text_content()
    assert page.get_by_label("Username").get_attribute("aria-invalid") == "true"


def test_wrong_password_shows_one_message(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "admin", "not the password", factor=False)
    assert "The username or password is not right" in page.get_by_role("alert").text_content()
