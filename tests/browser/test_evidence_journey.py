"""An examiner is refused a kit before her evidence-collection consent, records
it, collects a kit of three items, prints its labels and seals it; a custodian stores it, transfers it to a laboratory and takes it back; the chain of
custody shows every step and verifies against a signed checkpoint. In Chromium."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from clinic.consent.words import date_in_words
from tests.browser.conftest import after_password, assert_accessible, draw_signature
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.browser


def sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    after_password(page, username)
    page.get_by_role("heading", name="Welcome").wait_for()


def record_evidence_consent(page) -> None:  # type: ignore[no-untyped-def]
    """From her case page: her evidence-collection consent, every item agreed and
    signed on screen, as the nurse records it before collecting; back to the case."""
    case_url = page.url
    page.get_by_role("link", name="Her consent").click()
    assert_accessible(page)
    section = page.get_by_role("region", name="Consent to evidence collection and storage")
    section.get_by_role("link", name="English").click()
    page.get_by_role("heading", name="Consent to evidence collection and storage").wait_for()
    assert_accessible(page)
    items = page.locator(".consent-item")
    for index in range(items.count()):
        items.nth(index).get_by_label("I agree").check()
    page.get_by_label("I am making these choices freely").check()
    draw_signature(page, "Signature of the person consenting")
    page.get_by_role("button", name="Record her consent").click()
    page.locator("#consent-status").wait_for()
    assert_accessible(page)  # the form as signed
    page.goto(case_url)
    assert_accessible(page)


def register_anonymous_survivor(page, *, age: int) -> str:  # type: ignore[no-untyped-def]
    """Register an anonymous survivor from the case list; returns her case reference
    (the case page is then open)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    page.get_by_role("link", name="Register a survivor").click()
    page.get_by_role("group", name="How is the survivor registered?").get_by_label(
        "Anonymous"
    ).check()
    page.get_by_role("group", name="Reporting mode").get_by_label("Anonymous").check()
    page.get_by_label("Age in years").fill(str(age))
    page.get_by_role("button", name="Open the case").click()
    heading = page.get_by_role("heading", name="Case SA-")
    heading.wait_for()
    return str(heading.text_content()).removeprefix("Case ").strip()


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def checkpoint_custody_log(app: Flask) -> None:
    from clinic.cli import unit_of_work
    from clinic.ledger.services import create_checkpoint, generate_key, log_origin

    origin = log_origin(app.config, "custody")
    with app.app_context(), unit_of_work() as uow:
        signer = generate_key(uow.session, Path(app.instance_path), origin)
        create_checkpoint(uow.session, "custody", origin, signer)


def test_a_kit_from_collection_to_the_lab_and_back(
    page, live_server: str, app: Flask, world: World, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The examiner registers an anonymous survivor and opens her case.
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    reference = register_anonymous_survivor(page, age=29)
    assert_accessible(page)
    case_url = page.url

    # Her evidence-collection consent first: without it nothing can be collected.
    page.get_by_role("link", name="Collect an evidence kit").click()
    assert_accessible(page)
    row = page.get_by_role("group", name="Item 1", exact=True)
    row.get_by_label("Kind").select_option(label="Swab")
    page.get_by_role("button", name="Record the kit").click()
    assert "has not given evidence-collection consent for swabs" in str(
        page.locator("#items-error").text_content()
    )
    assert_accessible(page)
    page.goto(case_url)
    record_evidence_consent(page)

    # She collects three items for the case and prints the labels. (A bigger kit
    # gets more rows, there and then: the first new one has focus.)
    page.get_by_role("link", name="Collect an evidence kit").click()
    assert_accessible(page)
    page.get_by_role("button", name="Add more rows").click()
    assert page.locator("fieldset.item-row").count() == 9
    assert page.evaluate("() => document.activeElement.id") == "items-6-kind"
    assert_accessible(page)
    assert page.get_by_label("Case reference").locator("option:checked").text_content() == reference
    for number, (kind, name) in enumerate(
        (("Swab", "Swab 1"), ("Swab", "Swab 2"), ("Blood", "Blood, toxicology")), start=1
    ):
        row = page.get_by_role("group", name=f"Item {number}", exact=True)
        row.get_by_label("Kind").select_option(label=kind)
        row.get_by_label("Item").fill(name)
        row.get_by_label("Container").fill("tube")
    page.get_by_role("button", name="Record the kit").click()
    page.get_by_role("heading", name="Labels for kit").wait_for()
    assert_accessible(page)
    labels = page.locator(".label-id").all_text_contents()
    assert len(labels) == 4
    kit_label = labels[0]
    assert all(label.startswith(kit_label) for label in labels)
    assert page.locator(".evidence-label svg").count() == 4
    page.emulate_media(media="print")
    page.pdf(path=str(tmp_path / "labels.pdf"))
    assert (tmp_path / "labels.pdf").stat().st_size > 1000
    assert not page.get_by_role("heading", name="Labels for kit").is_visible()
    page.emulate_media(media="screen")

    # ... and seals the kit.
    page.get_by_role("link", name="Go to the kit").click()
    assert_accessible(page)
    sealing = page.get_by_role("region", name="Seal", exact=True)
    sealing.get_by_label("Seal number").fill("SEAL-0042")
    sealing.get_by_role("button", name="Seal").click()
    page.get_by_role("status").filter(has_text="recorded as custody event").wait_for()
    assert_accessible(page)
    assert page.locator("#item-state").text_content() == "sealed"
    # The date in the reader's words, the exact day in <time datetime>.
    disposal_due = page.locator("#disposal-due time")
    disposal = disposal_due.get_attribute("datetime") or ""
    assert re.fullmatch(r"20\d\d-\d\d-\d\d", disposal), disposal
    assert not re.search(r"\d{4}-\d\d", disposal_due.text_content() or "")
    kit_url = page.url

    # The survivor's card carries the case reference and the disposal date, not a name.
    page.goto(case_url)
    assert_accessible(page)
    page.get_by_role("link", name="Print the survivor's case card").click()
    assert_accessible(page)
    card = page.locator("article.case-card").text_content()
    assert reference in card
    # The date in words, so 06/02 cannot be read two ways.
    assert date_in_words(date.fromisoformat(disposal), "en") in card
    sign_out(page)
    assert_accessible(page)

    # The custodian stores it, sends it to the lab, and records its return.
    sign_in(page, live_server, "custodian")
    assert_accessible(page)
    page.goto(kit_url)
    assert_accessible(page)
    store = page.get_by_role("region", name="Store", exact=True)
    store.get_by_label("Seal number").fill("SEAL-0042")
    store.get_by_label("Storage location").select_option(label="Store A, freezer 2 (freezer)")
    store.get_by_role("button", name="Store").click()
    page.get_by_role("status").filter(has_text="recorded").wait_for()
    assert_accessible(page)

    transfer = page.get_by_role("region", name="Transfer to a laboratory")
    transfer.get_by_label("Seal number").fill("SEAL-0042")
    transfer.get_by_label("Receiving organisation").select_option(label="Forensic Laboratory")
    transfer.get_by_label("Received by").fill("Dr Ana Lee")
    # Without a signature the transfer is refused, with the reason next to the pad.
    transfer.get_by_role("button", name="Transfer to a laboratory").click()
    assert_accessible(page)
    assert (
        "signs on the screen"
        in page.get_by_role("region", name="Transfer to a laboratory").text_content()
    )
    assert page.locator("#item-state").text_content() == "stored"
    transfer = page.get_by_role("region", name="Transfer to a laboratory")
    transfer.get_by_label("Seal number").fill("SEAL-0042")
    transfer.get_by_label("Receiving organisation").select_option(label="Forensic Laboratory")
    transfer.get_by_label("Received by").fill("Dr Ana Lee")
    draw_signature(transfer, "Receiver's signature", mouse=page.mouse)
    transfer.get_by_role("button", name="Transfer to a laboratory").click()
    page.get_by_role("status").filter(has_text="recorded").wait_for()
    assert_accessible(page)
    assert page.locator("#item-state").text_content() == "transferred"

    back = page.get_by_role("region", name="Record return")
    back.get_by_label("Seal number").fill("LAB-SEAL-77")
    back.get_by_role("button", name="Record return").click()
    page.get_by_role("status").filter(has_text="recorded").wait_for()
    assert_accessible(page)
    assert page.locator("#item-state").text_content() == "returned"

    # The chain shows every step, and verifies once the log is checkpointed.
    actions = page.locator("table.chain tbody tr td:nth-child(3)").all_text_contents()
    assert actions == ["collected", "sealed", "stored", "transferred", "returned"]
    assert "Dr Ana Lee" in page.locator("table.chain").text_content()
    signature = page.get_by_role("link", name="signature")
    signed = page.request.get(live_server + str(signature.get_attribute("href")))
    assert signed.status == 200
    assert signed.body()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Not yet in a signed checkpoint" in page.locator("#chain-status").text_content()
    checkpoint_custody_log(app)
    page.reload()
    assert_accessible(page)
    assert (
        "Every event below is in the custody log and verifies"
        in page.locator("#chain-status").text_content()
    )

    # A storage mistake is caught: the wrong seal number stops the action.
    store = page.get_by_role("region", name="Store", exact=True)
    store.get_by_label("Seal number").fill("SEAL-0042")
    store.get_by_label("Storage location").select_option(label="Fridge 1 (fridge)")
    store.get_by_role("button", name="Store").click()
    assert_accessible(page)
    assert "does not match" in page.get_by_role("alert").first.text_content()
    assert page.locator("#item-state").text_content() == "returned"
