"""Consent forms that respect her time, in Chromium: a blank submit shows every
error at once and her drawn signature is still on the pad after a refused submit;
a consent completed with the keyboard alone, signed by her typed name confirmed by
a named witness. axe-core after every navigation."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.browser.conftest import assert_accessible
from tests.browser.test_consent_journey import draw_signature
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.helpers import open_case

pytestmark = pytest.mark.browser

INK = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  return inked;
}"""


def test_a_blank_submit_shows_every_error_and_her_drawn_signature_stays(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    form = app.extensions["clinic.consent_forms"].newest("police-release")
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(f"{live_server}/cases/{case.id}/consent/police-release/record")
    assert_accessible(page)

    # She signs first, then the form is sent with nothing answered.
    draw_signature(page, "Signature of the person consenting")
    pad = page.locator("#signature-pad")
    drawn = pad.evaluate(INK)
    assert drawn > 0
    page.get_by_role("button", name="Record her consent").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    assert_accessible(page)

    # Every error at once: one per item, next to it, and each linked from the summary.
    asked = [item for item in form.items if item.within is None]
    for item in asked:
        assert page.locator(f"#item_{item.id} .error").count() == 1, item.id
    assert page.locator("#free_choice-error").count() == 1
    links = summary.get_by_role("link")
    assert links.count() == len(asked) + 1  # every item, and her free choice
    links.nth(len(asked) - 1).click()
    assert page.evaluate("location.hash") == f"#item_{asked[-1].id}"

    # Her signature is still on the pad, kept, with a way to clear it.
    assert page.locator("#signature-pad[data-restored=true]").count() == 1
    assert pad.evaluate(INK) > 0
    assert page.locator("#signature").input_value().startswith("data:image/png;base64,")
    page.get_by_role("status").filter(has_text="Her signature is kept").wait_for()
    assert page.get_by_role("button", name="Clear the signature").is_visible()

    # She answers (declining every item) and it is recorded with that signature.
    for item in asked:
        page.get_by_role("group", name=item.text["en"]).get_by_label("I decline").check()
    page.get_by_label("I am making these choices freely").check()
    page.get_by_role("button", name="Record her consent").click()
    page.locator("#consent-status").wait_for()
    assert_accessible(page)
    signature = page.get_by_role("img", name="Signature of the person consenting")
    assert signature.evaluate("image => image.naturalWidth") > 0
    assert page.locator("#signed-how").get_attribute("data-method") == "drawn"

    # Clearing a kept signature wipes it: refused again, nothing kept.
    page.goto(f"{live_server}/cases/{case.id}/consent/statistics/record")
    assert_accessible(page)
    draw_signature(page, "Signature of the person consenting")
    page.get_by_role("button", name="Record her consent").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Clear the signature").click()
    assert page.locator("#signature-pad").evaluate(INK) == 0
    assert page.locator("#signature-kept").is_hidden()
    page.get_by_role("group", name="Who consents").get_by_label("The survivor herself").check()
    page.locator(".consent-item input[value=agree]").check()
    page.get_by_label("I am making these choices freely").check()
    page.get_by_role("button", name="Record her consent").click()
    page.get_by_role("alert").filter(has_text="signs on the screen").wait_for()
    assert_accessible(page)


def test_a_consent_completed_with_the_keyboard_alone_signed_by_her_typed_name(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    form = app.extensions["clinic.consent_forms"].newest("exam-treatment")
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(f"{live_server}/cases/{case.id}/consent/exam-treatment/record?lang=es")
    assert_accessible(page)

    # Tab through the page; answer with Space, arrow keys and typing only.
    answered: set[str] = set()
    submitted = False
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
              const e = document.activeElement;
              return {tag: e.tagName, type: e.type || '', name: e.name || '',
                      checked: !!e.checked, text: (e.textContent || '').trim()};
            }"""
        )
        name = focused["name"]
        if focused["type"] == "radio" and name.startswith("item_") and name not in answered:
            page.keyboard.press("Space")  # the first choice: she agrees
            answered.add(name)
        elif focused["type"] == "radio" and name == "signature_method":
            page.keyboard.press("ArrowDown")  # from "draws" to "types her name"
        elif focused["type"] == "checkbox" and name == "free_choice" and not focused["checked"]:
            page.keyboard.press("Space")
        elif name == "typed_name":
            page.keyboard.type("Sofía Ejemplo")
        elif name == "signature_witness":
            page.keyboard.type("Sam Nurse, forensic nurse")
        elif focused["tag"] == "BUTTON" and focused["text"] == "Record her consent":
            page.keyboard.press("Enter")
            submitted = True
            break
    assert submitted
    assert answered == {f"item_{item.id}" for item in form.items}

    page.locator("#consent-status").wait_for()
    assert_accessible(page)
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("#signed-how").get_attribute("data-method") == "typed-witnessed"
    assert page.locator("#typed-signature").text_content() == "Sofía Ejemplo"
    assert page.locator("#signature-witness").text_content() == "Sam Nurse, forensic nurse"
    assert "Examinadora forense" in page.locator("#taken-by").text_content()
    assert page.get_by_text("Acepto").count() == len(form.items)
