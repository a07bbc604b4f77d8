"""An officer files a release request in the browser; it says "awaiting survivor
decision". With her, a counsellor records her release consent (the report and two
swabs, not photos), finds the request matched to her case and approves exactly
what she permits, shown in words (what leaves, what does not and why); the officer
reads in words what was released, downloads the signed bundle, verifies it
offline and prints the release report and the released exam report. She narrows
(the swabs): the officer sees "narrowed on" its date and still gets the report;
the clinic approves the narrowed set. She withdraws everything; the officer sees
the withdrawal and its date, and a further download is refused. In Chromium,
with axe-core after every navigation."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam.services import sign_off
from clinic.ledger.services import create_checkpoint, generate_key, log_origin, trusted_keys
from clinic.ledger.standalone import verify_release
from clinic.release.bundle import release_key_name
from tests.browser.conftest import assert_accessible
from tests.browser.test_consent_journey import draw_signature
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.consent.helpers import withdraw
from tests.evidence.test_retention import seal_kit
from tests.exam.helpers import call, complete_exam
from tests.helpers import collect_kit, open_case

pytestmark = pytest.mark.browser


def test_a_request_is_filed_approved_as_she_consented_and_stopped_when_she_withdraws(
    page, browser, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, case.id))
    kit = collect_kit(app, "examiner", case.id, ("swab", "swab", "clothing"))
    seal_kit(app, kit)
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
        origin = log_origin(app.config, "custody")
        create_checkpoint(
            uow.session,
            "custody",
            origin,
            generate_key(uow.session, Path(app.instance_path), origin),
        )

    officer = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
    sign_in(officer, live_server, "officer")
    officer.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Release requests"
    ).click()
    assert_accessible(officer)
    officer.get_by_label("Case reference or kit label").fill(case.reference.lower())
    officer.get_by_label("Your crime reference").fill("RP/2026/041123")
    officer.get_by_label("The exam report").check()
    officer.get_by_label("Swabs").check()
    officer.get_by_label("Non-intimate photographs").check()
    officer.get_by_role("button", name="File the request").click()
    officer.get_by_role("status").filter(has_text="awaiting survivor decision").wait_for()
    assert_accessible(officer)
    assert officer.locator("#request-status").text_content() == "awaiting survivor decision"
    request_url = officer.url

    # With her, a counsellor records her decision: the report (not her own
    # account) and the swabs; no photographs, no identity.
    sign_in(page, live_server, "counsellor")
    page.goto(f"{live_server}/cases/{case.id}/consent/police-release/record?lang=en")
    assert_accessible(page)
    answers = {
        "The police may receive my exam report.": "I agree",
        "That includes my own account of what happened.": "I decline",
        "The police may receive the swabs.": "I agree",
        "The police may receive my clothing.": "I decline",
        "The police may receive hair, fingernail": "I decline",
        "The police may receive my blood and urine": "I decline",
        "The police may receive photographs": "I decline",
        "The police may receive my name": "I decline",
    }
    for question, answer in answers.items():
        page.get_by_role("group", name=question).get_by_label(answer).check()
    page.get_by_label("Police force").select_option(label="Riverside Police")
    page.get_by_label("Until").fill((utcnow().date() + timedelta(days=90)).isoformat())
    page.get_by_label("I am making these choices freely").check()
    page.get_by_role("group", name="Who consents").get_by_label("The survivor herself").check()
    draw_signature(page, "Signature of the person consenting")
    page.get_by_role("button", name="Record her consent").click()
    page.locator("#consent-status").wait_for()
    assert_accessible(page)  # the form as signed
    consent_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{live_server}/")
    assert_accessible(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Police requests").click()
    assert_accessible(page)
    row = page.locator("tr").filter(has_text=case.reference)
    row.get_by_role("link").first.click()
    page.get_by_role("heading", name="Request from Riverside Police").wait_for()
    assert_accessible(page)
    # In words: what leaves the building, and what does not and why.
    releasable = page.locator("#releasable").text_content() or ""
    assert "The signed exam report, signed by Examiner" in releasable
    assert "without her own account" in releasable
    swabs = [item for item in kit.items if item.kind == "swab"]
    for swab in swabs:
        assert swab.label in releasable
    assert "Specimen/" not in page.content()
    assert "Composition/" not in page.content()
    not_releasable = page.locator("#not-releasable").text_content() or ""
    assert "Her own account of the assault" in not_releasable
    assert "she declined" in not_releasable
    page.get_by_role("button", name="Approve this release").click()
    page.get_by_role("status").filter(has_text="Release approved").wait_for()
    assert_accessible(page)
    assert "approved" in (page.locator("#request-status").text_content() or "")

    officer.goto(request_url)
    assert_accessible(officer)
    assert officer.locator("#request-status").text_content() == "approved"
    outcome = officer.locator("#outcome").text_content() or ""
    assert "The exam report: released." in outcome
    assert "Swabs: released" in outcome
    assert "Non-intimate photographs: not released." in outcome

    # The officer downloads the signed bundle and checks it offline.
    with officer.expect_download() as downloaded:
        officer.get_by_role("link", name="Download the release").click()
    bundle = json.loads(Path(downloaded.value.path()).read_text())
    with app.app_context():
        keys = trusted_keys()
    checked = verify_release(bundle, keys)
    assert checked[2].startswith("4 custody events proven")  # collected and sealed, two swabs
    assert "Patient" not in {e["resource"]["resourceType"] for e in bundle["entry"]}
    officer.get_by_role("link", name="Release report").click()
    officer.get_by_role("heading", name="Release report").wait_for()
    assert_accessible(officer)
    # Each released record by its hash (the first entry, the release's Provenance,
    # is new with each assembly: its time and id).
    assert bundle["entry"][1]["extension"][0]["valueString"] in officer.content()
    assert "Not released" in officer.content()
    officer.go_back()
    officer.get_by_role("link", name="Released exam report").click()
    officer.get_by_role("heading", name="Released exam report").wait_for()
    assert_accessible(officer)
    assert "Examiner, Forensic examiner" in (officer.locator("#signed-by").text_content() or "")
    assert "held me down" not in officer.content()
    officer.go_back()

    # She narrows: no more swabs. The report she still permits stays released.
    narrowed = withdraw(app, case.id, consent_id, items=("swabs",))
    officer.reload()
    assert_accessible(officer)
    # The day in the reader's locale and the clinic's time zone (e.g. "Dec 6, 2026").
    status = officer.locator("#request-status").text_content() or ""
    assert re.fullmatch(r"approved; narrowed on [A-Z][a-z]{2} \d{1,2}, \d{4}.*", status), status
    assert "Swabs: not released." in (officer.locator("#outcome").text_content() or "")
    assert not any(swab.label in officer.content() for swab in swabs)
    assert officer.get_by_role("link", name="Download the release").count() == 1
    # The clinic sees who recorded it and when, and approves the narrowed set.
    page.reload()
    assert_accessible(page)
    assert "recorded by counsellor" in (page.locator("#request-status").text_content() or "")
    assert not any(
        swab.label in (page.locator("#releasable").text_content() or "") for swab in swabs
    )
    page.get_by_role("button", name="Approve this release").click()
    page.get_by_role("status").filter(has_text="Release approved").wait_for()
    assert_accessible(page)

    # She withdraws everything: nothing more leaves.
    withdraw(app, case.id, narrowed)
    officer.reload()
    assert_accessible(officer)
    status = officer.locator("#request-status").text_content() or ""
    assert re.fullmatch(r"consent withdrawn on [A-Z][a-z]{2} \d{1,2}, \d{4}.*", status), status
    assert officer.get_by_role("link", name="Download the release").count() == 0
    officer.goto(request_url + "/bundle.json")
    officer.get_by_role("alert").filter(has_text="consent withdrawn on").wait_for()
    assert_accessible(officer)
    officer.context.close()
