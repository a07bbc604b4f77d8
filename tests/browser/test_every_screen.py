"""Every screen each role can reach passes axe-core: for each role, sign in and
follow every link of the application from the home page (one page per kind of
address), with a case that has a signed exam, a draft exam, a sealed kit, her
consents and a police request on record, and a follow-up plan with an appointment,
a contact attempt and a counselling note. The checked `page` fixture runs axe-core
on each of them. In Chromium."""

from __future__ import annotations

import re
from collections import Counter, deque
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam.services import add_injury, sign_off
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.consent.helpers import all_items, record, release_to
from tests.evidence.test_retention import seal_kit
from tests.exam.helpers import INJURY, call, complete_exam, start
from tests.followup.helpers import agreed_plan, signed_exam
from tests.followup.test_appointments import book as book_appointment
from tests.followup.test_contact import attempt as contact_attempt
from tests.followup.test_notes import write as write_note
from tests.helpers import collect_kit, open_case
from tests.release.helpers import file as file_release_request

pytestmark = pytest.mark.browser

ROLES = ("examiner", "counsellor", "custodian", "officer", "admin", "auditor")
# Not screens: the FHIR API, downloads, images, signing out.
NOT_SCREENS = re.compile(r"^/(fhir|static|\.well-known|healthz)|\.(json|pdf|png|svg)$|/signature")
MOST = 120  # pages per role: far more than the application has
# Forms that take input, by their index in document.forms: sent as they are shown,
# usually incomplete, so the page comes back with its errors.
FORMS = """() => Array.from(document.forms).flatMap((form, index) =>
  form.method === 'post' && form.querySelector(
    'textarea, select, input:not([type=hidden]):not([type=checkbox]):not([type=radio])'
  ) ? [index] : [])"""
EACH = 2  # visits per kind of address: the signed exam's case and the draft's


def kind_of(path: str, query: str) -> str:
    """One visit per kind of address: ids and numbers stand for any."""
    path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|SA-[A-Z0-9-]+|\d+", "{}", path)
    keys = sorted(part.split("=")[0] for part in query.split("&") if part)
    return path + "?" + "&".join(keys)


def records(app: Flask, client: FlaskClient, world: World) -> None:
    signed = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, signed.id))
    seal_kit(app, collect_kit(app, "examiner", signed.id, ("swab", "blood")))
    record(app, signed.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    release_to(app, signed.id, "RIVERPOL", all_items(app, "police-release/v1"))
    file_release_request(client, world["officer"].token, signed.reference)
    draft = open_case(app)
    call(app, "examiner", add_injury, exam_id=start(app, draft.id), injury=INJURY)
    # A follow-up plan agreed with her, with an appointment, a contact and a note.
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id))
    book_appointment(app, plan_id, "visit-2-weeks")
    contact_attempt(app, plan_id, "call", "reached")
    write_note(app, plan_id, "First session.")


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_a_role_reaches_has_no_axe_violation(
    page, live_server: str, app: Flask, client: FlaskClient, world: World, role: str
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import Error as PlaywrightError

    records(app, client, world)
    sign_in(page, live_server, role)
    # The home page, an error page, and a screen a link reaches only further down.
    queue = deque([f"{live_server}/", f"{live_server}/cases/no-such-case"])
    if role == "admin":
        queue.append(f"{live_server}/admin/organizations/{world.organizations['NORTH']}/retention")
    seen: Counter[str] = Counter()
    visited: list[str] = []
    sent: list[str] = []
    while queue and len(visited) < MOST:
        url = queue.popleft()
        parts = urlsplit(url)
        kind = kind_of(parts.path, parts.query)
        if seen[kind] >= EACH or url in visited or NOT_SCREENS.search(parts.path):
            continue
        seen[kind] += 1
        try:
            response = page.goto(url)
        except PlaywrightError as error:  # a download
            if "Download is starting" not in str(error):
                raise
            continue
        visited.append(url)
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            continue
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            if href.startswith(live_server):
                queue.append(href.split("#")[0])
        if seen[kind] == 1:
            for number, index in enumerate(page.evaluate(FORMS)):
                if number:
                    page.goto(url)
                with page.expect_navigation():
                    page.evaluate("index => document.forms[index].submit()", index)
                sent.append(f"{url} form {index}: {page.title()}")
    print(role, len(visited), *visited, *sent, sep="\n  ")
    assert len(visited) >= 3, visited


def test_a_refused_retention_form_marks_only_the_field_in_error(
    page, live_server: str, world: World
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/admin/organizations/{world.organizations['NORTH']}/retention")
    months = page.get_by_label("Reported, adult: months", exact=True)
    months.fill("12")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("alert").wait_for()  # the page in error is checked by axe-core too
    months = page.get_by_label("Reported, adult: months", exact=True)
    assert months.get_attribute("aria-invalid") == "true"
    described = str(months.get_attribute("aria-describedby"))
    assert page.locator(f"#{described}").text_content()
    years = page.get_by_label("Reported, adult: years", exact=True)
    assert years.get_attribute("aria-invalid") is None
    assert years.get_attribute("aria-describedby") is None
