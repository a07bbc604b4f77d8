"""Body maps on the tablet: an examiner marks three injuries on the body diagrams
(the first and the third by tapping the drawing, the second with the lists
alone, from the keyboard), signs off and prints the report, which shows the
annotated maps with their numbered legends. In Chromium, on a tablet-sized touch
screen; axe-core checks every page."""

from __future__ import annotations

import io

import pytest
from flask import Flask

from tests.browser.conftest import assert_accessible
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.exam.helpers import complete_exam, read
from tests.helpers import open_case

pytestmark = pytest.mark.browser

# Where a diagram point is on the screen (the drawing scales to its panel).
ON_SCREEN = """([x, y]) => {
  const svg = document.querySelector('svg.body-map-picker');
  svg.scrollIntoView({block: 'center'});
  const point = svg.createSVGPoint();
  point.x = x; point.y = y;
  const screen = point.matrixTransform(svg.getScreenCTM());
  return [screen.x, screen.y];
}"""


def tap(page, x: float, y: float) -> None:  # type: ignore[no-untyped-def]
    """A finger on the drawing at diagram point (x, y)."""
    screen_x, screen_y = page.evaluate(ON_SCREEN, [x, y])
    page.touchscreen.tap(screen_x, screen_y)


def test_three_injuries_marked_by_tap_and_by_keyboard_and_printed_on_the_maps(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    case = open_case(app)
    exam_id = complete_exam(app, case.id)  # injury 1 recorded without a mark
    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/exams/{exam_id}/injuries")
    page.get_by_role("heading", name="Injuries", exact=True).wait_for()
    assert_accessible(page)
    assert page.get_by_role("img", name="Body diagram: Adult female, front, no marks").is_visible()

    # 1. Tapped: injury 1 (a bruise on her left forearm) is marked where it is.
    page.get_by_role("link", name="Change injury 1").click()
    page.get_by_role("heading", name="Change injury 1").wait_for()
    assert_accessible(page)
    tap(page, 141.5, 180)
    status = page.locator("#mark-status")
    assert status.text_content() == (
        "Mark placed on the forearm. Describe the injury and record it."
    )
    assert page.get_by_label("Mark it on the body diagram").input_value() == "adult-female:front"
    assert page.get_by_label("Body region").input_value() == "forearm"
    assert page.locator(".body-mark-pending").count() == 1
    page.get_by_role("button", name="Save the injury").click()
    page.get_by_role("status").filter(has_text="Injury saved").wait_for()
    assert_accessible(page)
    assert page.get_by_role("img", name="Body diagram: Adult female, front, marks 1").is_visible()

    # 2. By keyboard alone: type, region, where, size, then the diagram from the list.
    page.get_by_label("Type of injury").focus()
    page.keyboard.type("Abr")  # a closed list picks the choice typed
    page.keyboard.press("Tab")
    page.keyboard.type("Bac")
    page.keyboard.press("Tab")
    page.keyboard.type("lower back, right of the spine")
    page.keyboard.press("Tab")
    page.keyboard.type("45")
    page.get_by_label("Mark it on the body diagram").focus()
    page.keyboard.press("ArrowDown")  # Adult female, front
    page.keyboard.press("ArrowDown")  # Adult female, back
    assert page.get_by_label("Body region").input_value() == "back"
    assert page.get_by_label("Mark it on the body diagram").input_value() == "adult-female:back"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Record this injury"
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Injury recorded").wait_for()
    assert_accessible(page)

    # 3. Tapped on the back: show that drawing (a list and a button, no script
    # needed), tap her right buttock; the region is filled in from the tap.
    page.get_by_label("Diagram shown").select_option(label="Adult female, back (marked: 2)")
    page.get_by_role("button", name="Show this diagram").click()
    page.get_by_role("img", name="Body diagram: Adult female, back, marks 2").wait_for()
    assert_accessible(page)
    tap(page, 5, 5)  # beside the body: nothing placed, and she is told why
    assert page.locator("#mark-status").text_content() == (
        "That is beside the body: tap on the body to place the mark."
    )
    assert page.locator("[name=mark_x]").input_value() == ""
    tap(page, 122, 222)
    assert page.get_by_label("Body region").input_value() == "buttock"
    page.get_by_label("Type of injury").select_option(label="Bruise")
    page.get_by_label("Exactly where (side and place)").fill("right buttock, upper outer part")
    page.get_by_label("Length (mm)").fill("60")
    page.get_by_label("Colour").fill("purple")
    page.get_by_role("button", name="Record this injury").click()
    page.get_by_role("status").filter(has_text="Injury recorded").wait_for()
    assert_accessible(page)

    record = read(app, exam_id)
    marks = {slot: injury.mark for slot, injury, _ in record.injuries}
    assert marks["injury:1"] is not None
    assert (marks["injury:1"].diagram, marks["injury:1"].view) == ("adult-female", "front")
    assert marks["injury:2"] is not None
    assert (marks["injury:2"].view, record.injuries[1][1].region) == ("back", "back")
    assert marks["injury:3"] is not None
    assert (marks["injury:3"].view, record.injuries[2][1].region) == ("back", "buttock")
    assert abs(float(marks["injury:3"].x) - 122) < 1.5
    assert abs(float(marks["injury:3"].y) - 222) < 1.5

    # Sign off, then the printed report with the maps and their legends.
    page.get_by_role("link", name="Review and sign off").click()
    page.get_by_role("heading", name="Review and sign off").wait_for()
    page.get_by_label("I examined the survivor and this record is complete and accurate").check()
    page.get_by_role("button", name="Sign off the exam").click()
    page.get_by_role("status").filter(has_text="Exam signed off").wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="Printable exam report").click()
    page.get_by_role("heading", name="Medical-forensic exam report").wait_for()
    assert_accessible(page)
    front = page.get_by_role("img", name="Body map, Adult female, front: injuries 1 marked")
    back = page.get_by_role("img", name="Body map, Adult female, back: injuries 2, 3 marked")
    for image in (front, back):
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 400
    legend = page.locator(".map-legend").all_text_contents()
    assert "2: Abrasion, lower back, right of the spine, 45 mm (Back)" in " ".join(legend)
    page.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    page.emulate_media(media="screen")
    whole = " ".join(p.extract_text() for p in pdf.pages)
    assert "Adult female, back" in whole
    assert "3: Bruise, right buttock, upper outer part, 60 mm (Buttock)" in whole
    assert sum(len(p.images) for p in pdf.pages) >= 2
