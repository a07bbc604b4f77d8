"""An examiner completes the history step of an exam with the keyboard alone: Tab
through the page in document order, type her words, answer each question with
Space and the arrow keys, tick what applies with Space, and save with Enter. Every
control that takes focus shows it clearly (a focus ring of at least 2 px with 3:1
contrast against what surrounds it). In Chromium."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from clinic.exam.resources import ACTIVITIES, ACTS, ASSAULT_ACT, POST_ASSAULT_ACTIVITY
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.exam.helpers import read, start
from tests.helpers import open_case

pytestmark = pytest.mark.browser

NARRATIVE = "He came in through the kitchen door.\nHe held my arms."
DEMEANOUR = "Quiet, answered every question."
ANSWERS = {"yes": 0, "no": 1, "unknown": 2}  # the choices' order on screen
ACT_ANSWERS = {code: "no" for code in ACTS} | {
    "vaginal-penetration": "yes",
    "restraints": "yes",
    "ejaculation": "unknown",
}
MEANS = {"means_vaginal-penetration": {"penis", "finger"}}
ACTIVITY_ANSWERS = {code: "yes" for code in ACTIVITIES} | {"urinated": "unknown"}

FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  let around = element.parentElement, background = 'rgb(255, 255, 255)';
  while (around) {
    const colour = getComputedStyle(around).backgroundColor;
    if (colour !== 'transparent' && !colour.endsWith(', 0)')) { background = colour; break; }
    around = around.parentElement;
  }
  const box = element.getBoundingClientRect();
  return {
    tag: element.tagName.toLowerCase(), type: element.type || '', name: element.name || '',
    value: element.value || '', id: element.id,
    position: Array.from(document.querySelectorAll('*')).indexOf(element),
    focusVisible: element.matches(':focus-visible'),
    outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
    outlineColour: style.outlineColor, background: background,
    onScreen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight,
  };
}"""


def luminance(colour: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", colour)[:3])

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


class Keyboard:
    """The page driven by the keyboard only; every focus it moves is checked."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.positions: list[int] = []

    def focused(self) -> dict[str, object]:
        now: dict[str, object] = self.page.evaluate(FOCUSED)
        where = f"{now['tag']} {now['name'] or now['id']} {now['value']}"
        assert now["focusVisible"], f"{where}: focus is not visible"
        assert now["outlineStyle"] != "none", f"{where}: no focus ring"
        assert float(str(now["outlineWidth"])) >= 2, f"{where}: focus ring thinner than 2 px"
        ratio = contrast(str(now["outlineColour"]), str(now["background"]))
        assert ratio >= 3, f"{where}: focus ring contrast {ratio:.2f}:1 against {now['background']}"
        assert now["onScreen"], f"{where}: focused but scrolled out of view"
        return now

    def press(self, key: str) -> dict[str, object]:
        self.page.keyboard.press(key)
        now = self.focused()
        if key == "Tab":
            # A logical order: each Tab moves forward through the page as it reads.
            assert not self.positions or int(str(now["position"])) > self.positions[-1], (
                f"Tab went back to {now}"
            )
            self.positions.append(int(str(now["position"])))
        return now


def test_the_history_step_is_completed_with_the_keyboard_alone(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    exam_id = start(app, case.id)
    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/exams/{exam_id}/history")
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert (
        page.locator("[tabindex]").evaluate_all(
            "elements => elements.filter(e => e.tabIndex > 0).length"
        )
        == 0
    ), "a positive tabindex breaks the reading order"

    keys = Keyboard(page)
    # The first Tab reaches the skip link; Enter jumps past the site's navigation.
    skip = keys.press("Tab")
    assert skip["tag"] == "a"
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    keys.positions.clear()

    typed = 0
    for _ in range(120):
        now = keys.press("Tab")
        name = str(now["name"])
        if name == "narrative":
            page.keyboard.type(NARRATIVE)
            typed += 1
        elif name == "demeanour":
            page.keyboard.type(DEMEANOUR)
            typed += 1
        elif now["type"] == "radio":
            code = name.removeprefix("act_").removeprefix("activity_")
            answer = (ACT_ANSWERS if name.startswith("act_") else ACTIVITY_ANSWERS)[code]
            assert now["value"] == "yes", f"{name}: Tab should land on its first choice"
            if ANSWERS[answer] == 0:
                page.keyboard.press("Space")
            for _step in range(ANSWERS[answer]):
                moved = keys.press("ArrowDown")  # moves to the next choice and selects it
                assert moved["name"] == name
            assert page.evaluate("() => document.activeElement.checked")
        elif now["type"] == "checkbox" and now["value"] in MEANS.get(name, set()):
            page.keyboard.press("Space")
            assert page.evaluate("() => document.activeElement.checked")
        elif now["tag"] == "button":
            assert page.evaluate("() => document.activeElement.textContent") == (
                "Save and continue"
            )
            page.keyboard.press("Enter")
            break
    else:
        pytest.fail("Tab never reached the Save and continue button")
    assert typed == 2

    page.get_by_role("heading", name="The incident", level=1).wait_for()  # the step after
    record = read(app, exam_id)
    # Enter in her account is a new line, not a submit (forms send lines as CRLF).
    assert record.text("history").replace("\r\n", "\n") == NARRATIVE
    assert record.text("demeanour") == DEMEANOUR
    assert {c: a.value for c, a in record.answers("acts", ASSAULT_ACT).items()} == ACT_ANSWERS
    assert {
        c: a.value for c, a in record.answers("post-assault", POST_ASSAULT_ACTIVITY).items()
    } == ACTIVITY_ANSWERS
    assert record.means["vaginal-penetration"] == {"penis", "finger"}
    assert not record.means.get("oral-penetration")
