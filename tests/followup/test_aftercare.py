"""What her aftercare sheet says follows what was given and what is still open, not
the items the plan happened to keep: a PEP course given is on it when the HIV
clinic follows her PEP, and a test or dose she has not had yet stays on it after
its day, as soon as she can."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from clinic.core.clock import utcnow
from clinic.followup import services
from clinic.followup.take_home_words import TAKE_HOME_WORDS
from tests.conftest import PASSWORD
from tests.followup.helpers import agreed_plan, call, keep_all, signed_exam
from tests.helpers import login, open_case

ENGLISH = TAKE_HOME_WORDS["en"]


def _sheet(client: FlaskClient, plan_id: str) -> str:
    page = client.get(f"/followup/plans/{plan_id}/aftercare")
    assert page.status_code == 200
    return page.get_data(as_text=True).split('<article class="take-home aftercare"', 1)[1]


def test_the_medicines_given_are_on_her_sheet_whatever_items_were_kept(
    app: Flask, client: FlaskClient
) -> None:
    exam_id = signed_exam(app, open_case(app).id)  # emergency contraception and HIV PEP
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    review = keep_all(proposal)
    # The HIV clinic follows her PEP, and she will test for pregnancy with her GP.
    visits_only = [
        dataclasses.replace(item, keep=item.code.startswith("visit")) for item in review.items
    ]
    assert any(item.keep for item in visits_only)
    assert not all(item.keep for item in visits_only)
    plan = call(
        app,
        "examiner",
        services.agree_plan,
        exam_id=exam_id,
        review=dataclasses.replace(review, items=visits_only),
    )
    login(client, "counsellor", PASSWORD)
    sheet = _sheet(client, plan.id)
    assert ENGLISH["med_hiv-pep-starter"] in sheet
    assert ENGLISH["med_emergency-contraception"] in sheet
    assert ENGLISH["no_medicines"] not in sheet


def test_the_emergency_contraception_words_say_what_to_do_if_she_is_sick() -> None:
    for language, words in TAKE_HOME_WORDS.items():
        text = words["med_emergency-contraception"]
        assert "3" in text, language  # within 3 hours: another tablet
        assert "7" in text, language  # a period more than 7 days late


def test_an_open_item_past_its_day_stays_on_her_sheet_as_soon_as_she_can(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id))
    login(client, "counsellor", PASSWORD)
    before = _sheet(client, plan_id)
    assert ENGLISH["asap"] not in before
    coming = before.count("<dt>")
    assert coming > 1
    # A year later, she has not come: every item is still open, and still printed.
    later = utcnow() + timedelta(days=365)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    after = _sheet(client, plan_id)
    assert after.count("<dt>") == coming
    assert after.count(ENGLISH["asap"]) == coming
    assert ENGLISH["nothing_due"] not in after
