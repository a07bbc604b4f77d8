"""HEAD is GET without a body: a form page that saves on POST never runs its saving
branch for a HEAD (as it did on the exam steps, which answered HEAD with the
refused-form page of a POST)."""

from __future__ import annotations

from flask import Flask

from tests.conftest import PASSWORD
from tests.exam.helpers import record_exam_consent, start
from tests.helpers import login, open_case


def _form_pages_of(app: Flask, prefix: str) -> list[str]:
    """Every route that serves a page on GET and saves on POST, under `prefix`."""
    return sorted(
        str(rule.rule)
        for rule in app.url_map.iter_rules()
        if {"GET", "POST"} <= (rule.methods or set()) and str(rule.rule).startswith(prefix)
    )


def test_head_on_every_exam_step_answers_as_get_and_saves_nothing(app: Flask) -> None:
    opened = open_case(app)
    record_exam_consent(app, opened.id)
    exam_id = start(app, opened.id)
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    pages = _form_pages_of(app, "/exams/<exam_id>/")
    assert len(pages) >= 10  # the steps: if they move, this test must follow them
    shown = 0
    for page in pages:
        if "<" in page.removeprefix("/exams/<exam_id>/"):
            continue  # a page of one injury or window: needs more than the exam
        path = page.replace("<exam_id>", exam_id)
        got = client.get(path)
        head = client.head(path)
        # The same answer (a page before sign-off, the follow-up plan only after).
        assert head.status_code == got.status_code, path
        assert head.data == b"", path
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
        shown += got.status_code == 200
    assert shown >= 10
    # Nothing was saved: the exam's first step still needs its timing.
    assert "Saved" not in client.get(f"/exams/{exam_id}/timing").get_data(as_text=True)


def test_head_never_passes_the_csrf_check_or_saves_a_form(app: Flask) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    for path in ("/account/password", "/login", "/cases/new"):
        head = client.head(path, data={"new_password": "x" * 20})
        assert head.status_code in (200, 302), path
        assert head.data == b""
