"""A live server on a free loopback port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CLINIC_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page) -> None:  # type: ignore[no-untyped-def]
    """Run axe-core (from npm, installed by scripts/test) on the page as it is now and
    fail on any violation, naming each rule and the elements it found. The script is
    evaluated through the DevTools protocol, so the page's CSP stays as served."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        if not AXE.exists():
            pytest.fail(f"axe-core is not installed at {AXE}; scripts/test runs npm ci")
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "async () => await window.axe.run(document, {resultTypes: ['violations']})"
    )
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
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    # A tablet in landscape: the examiners' usual device.
    context = browser.new_context(viewport={"width": 1180, "height": 820}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
