"""A live server on a free loopback port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CLINIC_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


# Set on a document once axe-core has looked at it, so the automatic check below
# never runs twice on one document (nor after an explicit assert_accessible).
CHECKED_MARK = "__clinicAxeChecked"
AXE_RUNS = [0]  # how many times axe-core ran in this process (a test proves it is cheap)


def assert_accessible(page) -> None:  # type: ignore[no-untyped-def]
    """Run axe-core (from npm, installed by scripts/test) on the page as it is now and
    fail on any violation, naming each rule and the elements it found. The script is
    evaluated through the DevTools protocol, so the page's CSP stays as served.

    Every page a browser test visits is also checked automatically (see CheckedPage);
    an explicit call checks the page as it is at that moment, e.g. after a script
    changed it, and spares the automatic check that document."""
    from playwright.sync_api import Error as PlaywrightError

    page = unchecked(page)
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}; scripts/test runs npm ci")
    result = None
    for _attempt in range(ATTEMPTS):
        try:
            result = _run_axe(page)
        except PlaywrightError as error:
            # A click that navigates returns before the next document arrives; when
            # it replaces the document axe-core is looking at, check the new one.
            if not went_away(error):
                raise
        if result is not None:
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"{page.url} kept navigating; it could not be checked")
    violations = [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                " ".join(n["target"]) if isinstance(n["target"], list) else n["target"]
                for n in v["nodes"]
            ][:5],
        }
        for v in result["violations"]
    ]
    assert not violations, f"axe-core on {page.url}:\n" + json.dumps(violations, indent=1)


ATTEMPTS = 20
# What Chromium says when the document being looked at is replaced mid-way.
WENT_AWAY = (
    "Execution context was destroyed",
    "because of a navigation",
    "of null (reading 'documentElement')",
    "Cannot find context with specified id",
    "frame was detached",
)
ATTEMPT_MARK = "__clinicAxeAttempt"


def went_away(error: Exception) -> bool:
    return any(words in str(error) for words in WENT_AWAY)


def _run_axe(page) -> Any:  # type: ignore[no-untyped-def]
    """axe-core's findings on the page's document, or None when the document was
    replaced between the calls of this attempt (each call may reach another
    document: the last one runs only on the document the first one marked)."""
    page.wait_for_load_state("load")
    attempt = secrets.token_hex(8)
    page.evaluate(f"(attempt) => {{ window.{ATTEMPT_MARK} = attempt; }}", attempt)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        f"""async (attempt) => {{
            if (window.{ATTEMPT_MARK} !== attempt || typeof window.axe === 'undefined') {{
                return null;
            }}
            // Marked before it runs: a document that fails is reported once.
            window.{CHECKED_MARK} = true;
            return await window.axe.run(document, {{resultTypes: ['violations']}});
        }}""",
        attempt,
    )
    if result is not None:
        AXE_RUNS[0] += 1
    return result


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8") + "\n;undefined"


def unchecked(obj: Any) -> Any:
    """The Playwright object behind a checked proxy (or the object itself)."""
    return obj.__dict__.get("_target", obj) if isinstance(obj, _Checked) else obj


class _Checked:
    """A transparent proxy: every attribute access first lets the owning page check
    a document it has navigated to since the last check, then goes through to the
    Playwright object. Locators, keyboard, mouse and the context it hands out are
    proxied the same way, so a locator kept across a navigation still triggers the
    check. `isinstance` and Playwright's `expect` see the real class."""

    def __init__(self, target: Any, owner: CheckedPage | None) -> None:
        self.__dict__["_target"] = target
        self.__dict__["_owner"] = owner

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self.__dict__["_target"])

    def _flush(self) -> None:
        owner = self.__dict__["_owner"]
        if owner is not None:
            owner.check_now()

    def __getattr__(self, name: str) -> Any:
        self._flush()
        return self._wrap(getattr(self.__dict__["_target"], name))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__dict__["_target"], name, value)

    def __repr__(self) -> str:
        return repr(self.__dict__["_target"])

    def __eq__(self, other: object) -> bool:
        return bool(self.__dict__["_target"] == unchecked(other))

    def __hash__(self) -> int:
        return hash(self.__dict__["_target"])

    def _wrap(self, value: Any) -> Any:
        from playwright.sync_api import FrameLocator, Keyboard, Locator, Mouse, Touchscreen

        owner = self.__dict__["_owner"]
        if isinstance(value, (Locator, FrameLocator, Keyboard, Mouse, Touchscreen)):
            return _Checked(value, owner)
        if isinstance(value, list) and value and isinstance(value[0], Locator):
            return [_Checked(item, owner) for item in value]
        if callable(value) and not isinstance(value, type):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(value(*args, **kwargs))

            call.__doc__ = value.__doc__
            return call
        return value


class CheckedPage(_Checked):
    """The Playwright page the browser tests get: whenever the main frame has
    navigated to a new document since the last check, the next call on the page
    (or on anything it handed out) first waits for that document to load and runs
    `assert_accessible` on it; the last document is checked when the page's context
    is closed or the test ends. Documents that are not HTML (a JSON bundle, a PDF)
    and documents already checked (an explicit assert_accessible) are skipped."""

    def __init__(self, page: Any, context: CheckedContext | None = None) -> None:
        super().__init__(page, self)
        self.__dict__["_pending"] = False
        self.__dict__["_checking"] = False
        self.__dict__["_context"] = context
        page.on("framenavigated", self._navigated)
        page.on("load", lambda _page: self._navigated(page.main_frame))
        _OPEN_PAGES.append(self)

    def _navigated(self, frame: Any) -> None:
        if frame == self.__dict__["_target"].main_frame:
            self.__dict__["_pending"] = True

    def check_now(self) -> None:
        """Check the current document now if it is new since the last check."""
        from playwright.sync_api import Error as PlaywrightError

        page = self.__dict__["_target"]
        if not self.__dict__["_pending"] or self.__dict__["_checking"] or page.is_closed():
            return
        self.__dict__["_checking"] = True
        try:
            for _attempt in range(5):
                self.__dict__["_pending"] = False
                try:
                    page.wait_for_load_state("load")
                    url = page.url
                    kind, seen = page.evaluate(
                        f"() => [document.contentType, window.{CHECKED_MARK} === true]"
                    )
                    if seen or kind not in HTML or not url.startswith(("http:", "https:")):
                        return
                    assert_accessible(page)
                    return
                except PlaywrightError as error:
                    # The page navigated again while we looked: check the new document.
                    if not went_away(error):
                        raise
            raise AssertionError(f"{page.url} kept navigating; it could not be checked")
        finally:
            self.__dict__["_checking"] = False

    @property
    def context(self) -> Any:
        self.check_now()
        context = self.__dict__["_context"]
        return context if context is not None else self.__dict__["_target"].context


HTML = ("text/html", "application/xhtml+xml")
# The checked pages of the running test, checked a last time at its end.
_OPEN_PAGES: list[CheckedPage] = []


class CheckedContext(_Checked):
    """A browser context whose new pages are checked pages; closing it checks the
    last document of each of its pages first."""

    def __init__(self, context: Any) -> None:
        super().__init__(context, None)

    def new_page(self, *args: Any, **kwargs: Any) -> CheckedPage:
        return CheckedPage(self.__dict__["_target"].new_page(*args, **kwargs), self)

    def close(self, *args: Any, **kwargs: Any) -> None:
        for checked in list(_OPEN_PAGES):
            if checked.__dict__["_context"] is self:
                checked.check_now()
        self.__dict__["_target"].close(*args, **kwargs)


class CheckedBrowser(_Checked):
    """The browser the tests get: contexts and pages made from it are checked too."""

    def __init__(self, browser: Any) -> None:
        super().__init__(browser, None)

    def new_context(self, *args: Any, **kwargs: Any) -> CheckedContext:
        return CheckedContext(self.__dict__["_target"].new_context(*args, **kwargs))

    def new_page(self, *args: Any, **kwargs: Any) -> CheckedPage:
        return self.new_context(*args, **kwargs).new_page()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def _check_the_last_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of a browser test, the documents its pages show last are checked
    too (unless the test already failed: one failure is enough)."""
    _OPEN_PAGES.clear()
    yield
    pages = list(_OPEN_PAGES)
    _OPEN_PAGES.clear()
    if not request.node.stash.get(_CALL_FAILED, True):
        for checked in pages:
            checked.check_now()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; scripts/test installs Debian's chromium"
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield CheckedBrowser(instance)
        instance.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A checked page (see CheckedPage) on a tablet in landscape, the examiners'
    usual device; axe-core checks every document it shows."""
    context = browser.new_context(viewport={"width": 1180, "height": 820}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    if not request.node.stash.get(_CALL_FAILED, True):
        page.check_now()
    unchecked(context).close()


def draw_signature(within, name: str, *, mouse=None) -> None:  # type: ignore[no-untyped-def]
    """Sign on the signature pad named `name` with a zigzag, as a finger would.
    `within` is the page, or a region of it (then pass the page's `mouse`)."""
    pad = within.get_by_role("img", name=name)
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    mouse = mouse or within.mouse
    mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    mouse.down()
    for step in range(1, 12):
        mouse.move(box["x"] + 20 + step * 30, box["y"] + box["height"] * (0.3 if step % 2 else 0.7))
    mouse.up()


# The last time step of each (server, username) whose code a test typed: each step
# signs in once, so a second sign-in soon after types the next step's code.
_TYPED_STEPS: dict[tuple[str, str], int] = {}


def app_code(page, username: str, secret: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """The next code of the person's app (the World's key for `username`, or
    `secret`) that this server has not seen typed: each step signs in once."""
    from tests.helpers import totp_code, totp_secret

    base = page.url.split("/login")[0]
    code, step = totp_code(
        secret or totp_secret(username), after_step=_TYPED_STEPS.get((base, username), -1)
    )
    _TYPED_STEPS[(base, username)] = step
    return code


def second_factor(page, username: str, secret: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """The second step of signing in, after the password: the code of the person's
    app typed as they would."""
    page.get_by_role("heading", name="Second step of signing in").wait_for()
    code = app_code(page, username, secret)
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Continue").click()


def enrol_second_factor(page, username: str) -> str:  # type: ignore[no-untyped-def]
    """First sign-in: set up the app with the key the page shows (as typed by hand),
    keep the recovery codes, continue. Answers the key, for later sign-ins."""
    from tests.helpers import totp_code

    page.get_by_role("heading", name="Set up your second factor").wait_for()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    base = page.url.split("/login")[0]
    code, step = totp_code(secret)
    _TYPED_STEPS[(base, username)] = step
    page.get_by_label("The 6-digit code your app shows now").fill(code)
    page.get_by_role("button", name="Set up").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    page.get_by_role("link", name="I have kept my recovery codes: continue").click()
    return str(secret)


def after_password(page, username: str) -> None:  # type: ignore[no-untyped-def]
    """After the password: the code, or the enrolment of an account with no app yet."""
    import re

    heading = page.get_by_role(
        "heading", name=re.compile("^(Second step of signing in|Set up your second factor)$")
    )
    heading.wait_for()
    if heading.inner_text() == "Set up your second factor":
        enrol_second_factor(page, username)
    else:
        second_factor(page, username)
