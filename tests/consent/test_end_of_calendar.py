"""A release "until" the calendar's last day, in a clinic west of UTC: that last
second cannot be a UTC time at all. It is refused next to the field with the
five-year rule, never a server error, and no consent is recorded."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, World
from tests.consent.test_her_time import SIGNATURE, _agree_all, _consents, _post
from tests.helpers import login, open_case


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return app_config | {"CLINIC_TIMEZONE": "America/New_York"}


@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-30"])
def test_a_release_until_the_end_of_the_calendar_is_refused_by_its_field(
    app: Flask, client: FlaskClient, world: World, until: str
) -> None:
    case = open_case(app)
    before = len(_consents(app))
    login(client, "examiner", PASSWORD)
    data = _agree_all(app, "police-release") | {
        "free_choice": "y",
        "signature": SIGNATURE,
        "police_force": world.organizations["RIVERPOL"],
        "until": until,
    }
    response = _post(client, case.id, "police-release", data)
    assert response.status_code == 422
    assert "The end date may be at most five years away." in response.get_data(as_text=True)
    assert len(_consents(app)) == before
