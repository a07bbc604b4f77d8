"""Nothing typed is lost: the night examiner's session times out in the middle of
the history, the network drops as she presses Save, the warning before the timeout
lets her stay signed in. In Chromium, on a tablet-sized touch screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.access.roles import Role
from clinic.exam.resources import ACTIVITIES, ACTS
from tests.browser.conftest import after_password, assert_accessible
from tests.browser.test_evidence_journey import sign_in, sign_out
from tests.conftest import PASSWORD, World
from tests.drafts.helpers import draft_rows, expire_sessions
from tests.exam.helpers import read, start
from tests.helpers import open_case

pytestmark = pytest.mark.browser

HER_WORDS = "He came in through the kitchen door at about two and pushed me against the wall."
DEMEANOUR = "Quiet, tearful, kept her coat on."


def history_url(app: Flask, base: str) -> str:
    exam_id = start(app, open_case(app, "examiner").id)
    return f"{base}/exams/{exam_id}/history"


def exam_id_of(url: str) -> str:
    return url.split("/exams/")[1].split("/")[0]


def type_history(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("What happened, in her own words").fill(HER_WORDS)
    page.get_by_label("Demeanour").fill(DEMEANOUR)
    for label in (*ACTS.values(), *ACTIVITIES.values()):
        page.get_by_role("group", name=label, exact=True).get_by_label("Not known").check()


def assert_history_typed(page) -> None:  # type: ignore[no-untyped-def]
    assert page.get_by_label("What happened, in her own words").input_value() == HER_WORDS
    assert page.get_by_label("Demeanour").input_value() == DEMEANOUR
    for label in (*ACTS.values(), *ACTIVITIES.values()):
        group = page.get_by_role("group", name=label, exact=True)
        assert group.get_by_label("Not known").is_checked(), label


def assert_no_clinical_text_in_browser_storage(page) -> None:  # type: ignore[no-untyped-def]
    """A shared tablet: nothing she typed may stay in the browser."""
    stored = page.evaluate(
        """async () => {
            const dump = (storage) => Array.from({length: storage.length}, (_, i) =>
                storage.key(i) + "=" + storage.getItem(storage.key(i))).join("\\n");
            const databases = indexedDB.databases ? await indexedDB.databases() : [];
            const caches_ = window.caches ? await caches.keys() : [];
            return {local: dump(localStorage), session: dump(sessionStorage),
                    databases: databases.length, caches: caches_.length};
        }"""
    )
    assert HER_WORDS not in stored["local"]
    assert HER_WORDS not in stored["session"]
    assert stored == {"local": "", "session": "", "databases": 0, "caches": 0}


def test_the_session_times_out_mid_history_and_her_words_come_back_after_sign_in(
    page, live_server: str, app: Flask, engine: sa.Engine
) -> None:  # type: ignore[no-untyped-def]
    url = history_url(app, live_server)
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(url)
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert_accessible(page)
    type_history(page)

    # She was interrupted for longer than the idle timeout; the server ends the session.
    expire_sessions(app, "examiner")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.get_by_role("status").filter(has_text="What you typed is kept for you").is_visible()
    assert_accessible(page)
    assert draft_rows(engine) == [("examiner", url.removeprefix(live_server))]
    assert_no_clinical_text_in_browser_storage(page)

    # She signs in again and lands on the history, filled in as she left it; not saved.
    page.get_by_label("Username").fill("examiner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    after_password(page, "examiner")
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert page.url == url
    assert page.get_by_role("status").filter(has_text="It is not saved yet").is_visible()
    assert_history_typed(page)
    assert_accessible(page)
    assert read(app, exam_id_of(url)).text("history") == ""
    assert draft_rows(engine) == []
    assert_no_clinical_text_in_browser_storage(page)

    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="The incident", level=1).wait_for()  # the step after
    assert_accessible(page)
    record = read(app, exam_id_of(url))
    assert record.text("history") == HER_WORDS
    assert record.text("demeanour") == DEMEANOUR
    assert_no_clinical_text_in_browser_storage(page)


def test_a_colleague_signing_in_on_the_same_tablet_after_the_timeout_never_sees_it(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from clinic.accounts.services import create_user
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        create_user(
            uow,
            actor=None,
            username="examiner.night",
            display_name="Night Examiner",
            role=Role.EXAMINER,
            organization_id=world.organizations["NORTH"],
            password=PASSWORD,
        )
    url = history_url(app, live_server)
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(url)
    assert_accessible(page)
    type_history(page)
    expire_sessions(app, "examiner")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert_accessible(page)

    # The next person to pick up the tablet signs in: the same exam, an empty form.
    page.get_by_label("Username").fill("examiner.night")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    after_password(page, "examiner.night")
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert page.get_by_label("What happened, in her own words").input_value() == ""
    assert HER_WORDS not in page.content()
    assert_accessible(page)
    sign_out(page)
    assert_accessible(page)

    # Her own sign-in, later, gets it back on that page.
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(url)
    page.get_by_role("heading", name="History", exact=True).wait_for()
    assert_history_typed(page)
    assert_accessible(page)


def test_a_save_with_the_network_down_keeps_the_page_and_says_so(
    page, live_server: str, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    url = history_url(app, live_server)
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    page.goto(url)
    assert_accessible(page)
    type_history(page)

    page.context.set_offline(True)
    page.get_by_role("button", name="Save and continue").click()
    alert = page.get_by_role("alert").filter(has_text="Not saved")
    alert.wait_for()
    assert "The server cannot be reached" in alert.text_content()
    assert "Everything you typed is still here" in alert.text_content()
    assert page.url == url
    assert_history_typed(page)
    assert_accessible(page)
    assert read(app, exam_id_of(url)).text("history") == ""
    assert_no_clinical_text_in_browser_storage(page)

    page.context.set_offline(False)
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name="The incident", level=1).wait_for()  # the step after
    assert_accessible(page)
    assert read(app, exam_id_of(url)).text("history") == HER_WORDS


def test_the_warning_before_the_timeout_lets_her_stay_signed_in(
    page, live_server: str, app: Flask, engine: sa.Engine
) -> None:  # type: ignore[no-untyped-def]
    url = history_url(app, live_server)
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    # A short timeout for this test: 45 s, with the warning in the last 40 s.
    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(seconds=45)
    app.config["SESSION_WARNING_BEFORE"] = timedelta(seconds=40)
    page.goto(url)
    assert_accessible(page)
    page.get_by_label("What happened, in her own words").fill(HER_WORDS)

    warning = page.get_by_role("region", name="Your session")
    warning.locator("p:visible", has_text="Your session is about to end").wait_for(timeout=20000)
    assert warning.get_by_role("alert").is_visible()
    assert_accessible(page)

    def last_seen() -> object:
        with engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT max(last_seen_at) FROM user_sessions WHERE ended_at IS NULL"
            ).scalar()

    before = last_seen()
    warning.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden", timeout=5000)
    assert last_seen() > before  # type: ignore[operator]

    # Left alone again, the session ends: the warning says so and what to do.
    warning.locator("p:visible", has_text="Your session is about to end").wait_for(timeout=20000)
    expire_sessions(app, "examiner")
    warning.locator("p:visible", has_text="Your session has ended").wait_for(timeout=15000)
    assert "press Save, sign in again" in warning.text_content()
    assert not warning.get_by_role("button", name="Stay signed in").is_visible()
    assert_accessible(page)
    assert page.get_by_label("What happened, in her own words").input_value() == HER_WORDS
    assert_no_clinical_text_in_browser_storage(page)


def test_signed_out_in_another_tab_the_page_does_not_promise_to_keep_anything(
    page, live_server: str, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    url = history_url(app, live_server)
    sign_in(page, live_server, "examiner")
    assert_accessible(page)
    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(seconds=45)
    app.config["SESSION_WARNING_BEFORE"] = timedelta(seconds=40)
    page.goto(url)
    assert_accessible(page)
    warning = page.get_by_role("region", name="Your session")
    warning.locator("p:visible", has_text="Your session is about to end").wait_for(timeout=20000)

    other = page.context.new_page()
    other.goto(f"{live_server}/")
    sign_out(other)
    other.close()
    warning.locator("p:visible", has_text="You are signed out").wait_for(timeout=15000)
    assert "cannot be kept" in warning.text_content()
    assert not warning.get_by_role("button", name="Stay signed in").is_visible()
    assert_accessible(page)
