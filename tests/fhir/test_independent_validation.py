"""An independent validator (@medplum/core with the official R4 and R4B definitions
from npm, tests/validator/validate.mjs) finds no error in what we publish: every
shipped example and every definition in fhir_profiles/. What the suite is served
is checked by the same validator at the end of the run (tests/conftest.py); release
bundles in tests/release/test_bundle.py."""

from __future__ import annotations

import json
from pathlib import Path

from clinic.fhir.profiles import PROFILES_DIR
from tests.validator import errors, validate


def test_every_example_and_definition_we_publish_is_valid_r4_and_r4b() -> None:
    report = validate([PROFILES_DIR])  # with examples/
    published = len(list(PROFILES_DIR.glob("*.json"))) + len(
        list((PROFILES_DIR / "examples").glob("*.json"))
    )
    assert report["checked"] >= 2 * published  # both versions, each resource
    assert errors(report) == []


def test_the_validator_finds_what_release_bundles_once_got_wrong(tmp_path: Path) -> None:
    """The validator can fail: a Bundle with extensions and a list of signatures (as
    release bundles were once assembled) and an Observation without its status."""
    (tmp_path / "bundle.json").write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "extension": [{"url": "https://example.org/x", "valueInteger": 1}],
                "signature": [
                    {
                        "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2"}],
                        "when": "2026-01-01T00:00:00Z",
                        "who": {"display": "x"},
                    }
                ],
            }
        )
    )
    (tmp_path / "observation.json").write_text(
        json.dumps({"resourceType": "Observation", "code": {"text": "x"}})
    )
    found = "\n".join(errors(validate([tmp_path])))
    for version in ("R4", "R4B"):
        assert f"{version} {tmp_path / 'bundle.json'}: Invalid additional property" in found
        assert f"{version} {tmp_path / 'bundle.json'}: Expected single value" in found
        assert f"{version} {tmp_path / 'observation.json'}: Missing required property" in found
