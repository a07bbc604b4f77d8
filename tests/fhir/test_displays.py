"""Displays identical to the code systems: every code of the project's own
CodeSystems that an example or a served resource uses is published in fhir_profiles/
with the same display (tests/validator/displays.py; the suite also checks its sample
of served resources at the end of the run, tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from clinic.fhir.profiles import PROFILES_DIR
from tests.conftest import World
from tests.consent.helpers import all_items, record, release_to
from tests.helpers import api, open_case
from tests.validator.displays import directory_display_errors, display_errors, published_codes

OURS = "https://forensic-care.org/fhir/CodeSystem"


def test_every_example_uses_our_codes_with_their_displays() -> None:
    assert directory_display_errors(PROFILES_DIR / "examples") == []


def test_the_check_finds_an_unknown_system_an_unknown_code_and_another_display() -> None:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "code": {
            "coding": [
                {"system": f"{OURS}/window-status", "code": "within", "display": "Within"},
                {"system": f"{OURS}/window-status", "code": "nowhere"},
                {"system": f"{OURS}/no-such-system", "code": "x"},
                {"system": "http://loinc.org", "code": "anything", "display": "free"},
            ]
        },
    }
    found = display_errors(resource, published_codes(), "test")
    assert len(found) == 3, found
    assert (
        "displays 'Within', the CodeSystem 'Within the window'" in found[-1] + found[0] + found[1]
    )


def test_a_served_consent_of_every_form_uses_published_codes(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The five consent forms' item systems (and statistics') are published, with the
    items as she reads them; her never-share list, the recipients, the data classes."""
    case = open_case(app, "examiner")
    forms = app.extensions["clinic.consent_forms"]
    ids = []
    for form in forms.current():
        key = f"{form.form}/v{form.version}"
        if form.form == "police-release":
            ids.append(release_to(app, case.id, "RIVERPOL", all_items(app, key)))
            continue
        extra: dict[str, Any] = {
            "person_names": {i.id: "Dr Ada Lovelace" for i in form.items if "person-name" in i.asks}
        }
        if "never-share" in form.asks:
            extra["never_share_people"] = ("Sam Example", "Alex Example")
        ids.append(record(app, case.id, key, all_items(app, key), **extra))
    codes = published_codes()
    used_systems = set()
    for consent_id in ids:
        response = api(client, "GET", f"/fhir/Consent/{consent_id}", world["examiner"].token)
        assert response.status_code == 200
        consent = response.get_json()
        assert display_errors(consent, codes, consent_id) == []
        for provision in consent["provision"].get("provision", []):
            used_systems.add(provision["extension"][0]["valueCoding"]["system"])
    assert used_systems == {f"{OURS}/consent-form/{form.form}" for form in forms.current()}
