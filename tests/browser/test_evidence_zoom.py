"""The evidence list is usable at 200 % zoom on the tablet: at 1024 x 768 zoomed to
200 % (a 512 x 384 CSS-pixel viewport at twice the pixel density) the page does not
scroll sideways, every column of the table fits and nothing in it is cut off, and
the filters are on screen. In Chromium."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.evidence.test_retention import seal_kit
from tests.helpers import collect_kit, open_case

pytestmark = pytest.mark.browser

ZOOMED = {"width": 1024 // 2, "height": 768 // 2}

LAYOUT = """() => {
  const cut = [];
  for (const cell of document.querySelectorAll('main th, main td, main td *')) {
    if (cell.scrollWidth > cell.clientWidth + 1 && getComputedStyle(cell).overflowX !== 'visible')
      cut.push(cell.textContent.trim());
    const box = cell.getBoundingClientRect();
    if (box.right > innerWidth + 1) cut.push('off screen: ' + cell.textContent.trim());
  }
  return {page: document.documentElement.scrollWidth, view: innerWidth, cut: cut};
}"""


@pytest.mark.parametrize("username", ["custodian", "examiner"])
def test_the_evidence_list_at_200_percent_zoom(
    browser, live_server: str, app: Flask, world: World, username: str
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    kit = collect_kit(app, "examiner", case.id, ("swab", "swab", "blood", "clothing"))
    seal_kit(app, kit)
    context = browser.new_context(viewport=ZOOMED, device_scale_factor=2, has_touch=True)
    page = context.new_page()
    sign_in(page, live_server, username)
    page.goto(f"{live_server}/evidence/")
    page.get_by_role("heading", name="Evidence", exact=True).wait_for()
    layout = page.evaluate(LAYOUT)
    assert layout["page"] <= layout["view"], f"the page scrolls sideways: {layout}"
    assert not layout["cut"], layout["cut"]
    rows = page.locator("main table tbody tr")
    assert rows.count() == 5  # the kit and its four items
    # Still a table to a screen reader: rows, and cells under their column headers.
    table = page.get_by_role("table")
    assert table.get_by_role("row").count() == 6
    assert table.get_by_role("columnheader", name="Seal").count() == 1
    assert table.get_by_role("cell", name="I-SEAL-0").count() == 1
    for row in rows.all():
        box = row.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= ZOOMED["width"]
    for control in (
        page.get_by_label("State"),
        page.get_by_label("Only overdue", exact=False),
        page.get_by_role("button", name="Show"),
    ):
        box = control.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= ZOOMED["width"]
    context.close()
