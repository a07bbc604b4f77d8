"""The automatic accessibility check of the browser tests can fail: the `page`
fixture runs axe-core on every HTML document the page shows, without the test
asking, and coexists with explicit assert_accessible calls. In Chromium."""

from __future__ import annotations

import pytest

from tests.browser import conftest
from tests.browser.conftest import assert_accessible, unchecked

pytestmark = pytest.mark.browser

BAD = "http://pages.test/bad"  # an image without a text alternative, a field without a label
GOOD = "http://pages.test/good"
JSON = "http://pages.test/bundle.json"

DOCUMENTS = {
    BAD: (
        "text/html",
        '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>'
        '<h1>Bad</h1><img src="data:,"><input type="text"></main></body></html>',
    ),
    GOOD: (
        "text/html",
        '<!doctype html><html lang="en"><head><title>Good</title></head><body><main>'
        '<h1>Good</h1><label for="a">Name</label><input id="a" type="text"></main></body></html>',
    ),
    JSON: ("application/json", '{"resourceType": "Bundle"}'),
}


def serve(page) -> None:  # type: ignore[no-untyped-def]
    page.route(
        "http://pages.test/**",
        lambda route: route.fulfill(
            content_type=DOCUMENTS[route.request.url][0], body=DOCUMENTS[route.request.url][1]
        ),
    )


def test_a_page_with_a_violation_fails_at_the_next_call_on_the_page(page) -> None:  # type: ignore[no-untyped-def]
    serve(page)
    page.goto(GOOD)
    assert page.title() == "Good"  # checked: no violation
    page.goto(BAD)
    with pytest.raises(AssertionError) as failure:
        page.get_by_role("heading").text_content()
    assert "image-alt" in str(failure.value)
    assert "label" in str(failure.value)
    assert BAD in str(failure.value)
    # Reported once: the same document is not failed again.
    assert page.title() == "Bad"


def test_a_locator_kept_across_a_navigation_still_triggers_the_check(page) -> None:  # type: ignore[no-untyped-def]
    serve(page)
    page.set_content('<a href="http://pages.test/bad">next</a>')
    link = page.get_by_role("link")
    heading = page.locator("h1")
    link.click()
    with pytest.raises(AssertionError, match="image-alt"):
        heading.wait_for()  # no call on the page itself since the navigation


def test_the_last_page_of_a_test_is_checked_when_its_context_closes(browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    other = context.new_page()
    serve(other)
    other.goto(GOOD)
    other.goto(BAD)
    with pytest.raises(AssertionError, match="image-alt"):
        other.context.close()


def test_json_and_documents_already_checked_are_skipped(page) -> None:  # type: ignore[no-untyped-def]
    serve(page)
    page.goto(JSON)
    assert "Bundle" in page.content()
    page.goto(GOOD)
    runs = conftest.AXE_RUNS[0]
    assert_accessible(page)  # an explicit call, as other tests make
    page.get_by_role("heading").text_content()
    assert conftest.AXE_RUNS[0] == runs + 1  # the automatic check did not run it again
    page.reload()
    page.title()
    assert conftest.AXE_RUNS[0] == runs + 2  # a new document is checked again


def test_an_explicit_check_that_fails_is_reported_once(page) -> None:  # type: ignore[no-untyped-def]
    serve(page)
    page.goto(BAD)
    unchecked(page).wait_for_load_state()
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)
    page.title()  # no second failure from the automatic check


def test_the_page_is_the_playwright_page(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import Locator, Page, expect

    serve(page)
    page.goto(GOOD)
    assert isinstance(page, Page)
    assert isinstance(page.get_by_label("Name"), Locator)
    expect(page.get_by_label("Name")).to_be_visible()
    expect(page).to_have_title("Good")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "a"


def test_an_explicit_check_while_the_page_navigates_checks_the_new_document(page) -> None:  # type: ignore[no-untyped-def]
    # A link's click returns before the next document arrives; the check that
    # follows must look at the document the page ends on, not fail half-way because
    # the one it started on went away.
    serve(page)
    page.goto(GOOD)
    page.title()
    for _ in range(5):
        unchecked(page).evaluate(f"() => setTimeout(() => {{ location.href = '{BAD}'; }}, 2)")
        with pytest.raises(AssertionError, match="image-alt"):
            check_then_look(page)
        page.goto(GOOD)
        page.title()


def check_then_look(page) -> None:  # type: ignore[no-untyped-def]
    assert_accessible(page)
    page.title()  # when the navigation came after the check, the automatic one fails
