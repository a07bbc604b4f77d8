"""A custodian at the bench on a tablet zoomed to 200 % (1024x768 at 200 %: a
512x384 CSS viewport): the evidence table reads without scrolling sideways, a
barcode scanner finds an item by its label, and a whole kit is sealed and stored
in one action. In Chromium."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.browser.conftest import assert_accessible
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.helpers import collect_kit, open_case

pytestmark = pytest.mark.browser

ZOOMED_TABLET = {"width": 512, "height": 384}


def no_sideways_scrolling(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_the_bench_on_a_tablet_at_200_percent_with_a_barcode_scanner(
    browser, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    kit = collect_kit(
        app, "examiner", open_case(app).id, ("swab", "swab", "blood", "clothing", "hair")
    )
    south = collect_kit(app, "examiner.south", open_case(app, "examiner.south").id, ("swab",))
    context = browser.new_context(viewport=ZOOMED_TABLET, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        sign_in(page, live_server, "custodian")
        assert_accessible(page)

        # The evidence list: every column readable, nothing to scroll sideways.
        page.goto(f"{live_server}/evidence/")
        assert_accessible(page)
        assert no_sideways_scrolling(page)
        row = page.locator("table.evidence-table tbody tr").first
        cells = row.locator("td")
        assert cells.count() == 6
        for index in range(6):
            box = cells.nth(index).bounding_box()
            assert box is not None
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= ZOOMED_TABLET["width"]
        headings = cells.evaluate_all(
            "cells => cells.map(c => getComputedStyle(c, '::before').content)"
        )
        assert headings[0] == '"Label: "'
        assert headings[4] == '"Holder / location: "'

        # The scanner types the label and Enter into the search box: the item opens.
        label = kit.items[2].label
        page.get_by_role("textbox", name="Find an item by its label").click()
        page.keyboard.type(label)
        page.keyboard.press("Enter")
        page.get_by_role("heading", name=label).wait_for()
        assert_accessible(page)
        assert no_sideways_scrolling(page)

        # Another site's label, and a misread one, get the same plain answer.
        for wrong in (south.items[0].label, label[:-2] + "99"):
            page.goto(f"{live_server}/evidence/")
            assert_accessible(page)
            page.get_by_role("textbox", name="Find an item by its label").click()
            page.keyboard.type(wrong)
            page.keyboard.press("Enter")
            alert = page.get_by_role("alert").filter(has_text="label")
            alert.wait_for()
            assert alert.text_content() == "There is no item with this label at your site."
            assert_accessible(page)
            assert no_sideways_scrolling(page)

        # The kit is sealed and stored in one action: one event per item in its chain.
        page.get_by_role("textbox", name="Find an item by its label").fill(kit.kit.label)
        page.keyboard.press("Enter")
        bench = page.get_by_role("region", name="Seal and store the whole kit")
        bench.wait_for()
        assert_accessible(page)
        for number, member in enumerate([*kit.items, kit.kit], start=1):
            seal = bench.get_by_label(re.compile(rf"^Seal number for {member.label} "))
            seal.fill(f"SEAL-{number:02d}")
        bench.get_by_label("Storage location").select_option(label="Store A, freezer 2 (freezer)")
        bench.get_by_role("button", name="Seal and store the whole kit").click()
        page.get_by_role("status").filter(has_text="12 custody events recorded").wait_for()
        assert_accessible(page)
        assert page.locator("#item-state").text_content() == "stored"
        actions = page.locator("table.chain tbody tr td:nth-child(3)").all_text_contents()
        assert actions == ["collected", "sealed", "stored"]
    finally:
        context.close()
