"""Every StructureDefinition we publish carries a snapshot generated from its
differential (scripts/write_snapshots.py, clinic/fhir/snapshots.py), and the
independent validator (@medplum/core, which reads only snapshots) checks our
examples against the profiles through them."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from clinic.fhir.profiles import PROFILES_DIR
from clinic.fhir.snapshots import SnapshotError, SnapshotGenerator, snapshotted, text
from tests.validator import ValidatorMissing, errors, validate

CASE = "https://forensic-care.org/fhir/StructureDefinition/fc-case"


def _definition(url: str) -> dict[str, Any]:
    name = url.rsplit("/", 1)[1]
    document: dict[str, Any] = json.loads(
        (PROFILES_DIR / f"StructureDefinition-{name}.json").read_text()
    )
    return document


def test_the_checked_in_snapshots_are_the_generated_ones() -> None:
    """Edit a differential without running scripts/write_snapshots.py and this fails."""
    stale = [
        path.name
        for path, document in snapshotted(PROFILES_DIR).items()
        if path.read_text() != text(document)
    ]
    assert stale == [], "run scripts/write_snapshots.py"


def test_a_changed_differential_changes_the_snapshot() -> None:
    case = _definition(CASE)
    generator = SnapshotGenerator({CASE: case})
    before = {e["id"]: e for e in generator.with_snapshot(case)["snapshot"]["element"]}
    assert before["EpisodeOfCare.period.start"]["min"] == 1  # unfolded from Period
    assert before["EpisodeOfCare.identifier"]["max"] == "1"
    assert {"fc-case-1", "dom-2"} <= {c["key"] for c in before["EpisodeOfCare"]["constraint"]}
    changed = copy.deepcopy(case)
    next(e for e in changed["differential"]["element"] if e["id"] == "EpisodeOfCare.identifier")[
        "max"
    ] = "3"
    after = {e["id"]: e for e in generator.with_snapshot(changed)["snapshot"]["element"]}
    assert after["EpisodeOfCare.identifier"]["max"] == "3"


def test_slices_of_a_complex_extension_are_placed_after_the_sliced_element() -> None:
    url = "https://forensic-care.org/fhir/StructureDefinition/fc-case-proxy"
    ids = [e["id"] for e in _definition(url)["snapshot"]["element"]]
    sliced = ids.index("Extension.extension")
    assert ids[sliced + 1 : sliced + 3] == [
        "Extension.extension:relationship",
        "Extension.extension:relationship.id",
    ]
    assert ids.index("Extension.extension:reason.value[x]") < ids.index("Extension.url")


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"id": "EpisodeOfCare.nothing", "path": "EpisodeOfCare.nothing"}, "not an element"),
        (
            {"id": "EpisodeOfCare.status", "path": "EpisodeOfCare.status", "maxLength": 3},
            "maxLength",
        ),
        (
            {"id": "EpisodeOfCare.status:x", "path": "EpisodeOfCare.status", "sliceName": "x"},
            "not sliced",
        ),
    ],
)
def test_what_the_generator_cannot_express_is_refused(
    element: dict[str, Any], message: str
) -> None:
    case = _definition(CASE)
    case["differential"]["element"].append(element)
    with pytest.raises(SnapshotError, match=message):
        SnapshotGenerator({CASE: case}).with_snapshot(case)


def test_the_independent_validator_checks_examples_against_our_profiles() -> None:
    report = validate([PROFILES_DIR / "examples"], profiles=PROFILES_DIR)
    assert errors(report) == []
    examples = len(list((PROFILES_DIR / "examples").glob("*.json")))
    assert report["checked"] >= 2 * 2 * examples  # base and profile, R4 and R4B


def test_the_independent_validator_finds_a_profile_violation(tmp_path: Path) -> None:
    """Valid R4B, but not an fc-case: no period (the profile's min 1) and two
    reporting modes (its invariant fc-case-1)."""
    case = json.loads((PROFILES_DIR / "examples/EpisodeOfCare-example-case.json").read_text())
    del case["period"]
    case["extension"] = case["extension"] + [
        e for e in case["extension"] if e["url"].endswith("fc-reporting-mode")
    ]
    (tmp_path / "case.json").write_text(json.dumps(case))
    found = errors(validate([tmp_path], profiles=PROFILES_DIR))
    assert found, "the profile's rules were not applied"
    assert all(f" as {CASE}:" in line for line in found), found  # base R4/R4B: valid
    assert any("EpisodeOfCare.period" in line for line in found), found
    assert any("fc-case-1" in line for line in found), found


def test_without_a_snapshot_the_profile_cannot_be_used(tmp_path: Path) -> None:
    """The fault the snapshots fix: Medplum refuses a profile with a differential only."""
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES_DIR, profiles, ignore=shutil.ignore_patterns("examples"))
    path = profiles / "StructureDefinition-fc-case.json"
    document = json.loads(path.read_text())
    del document["snapshot"]
    path.write_text(json.dumps(document))
    example = PROFILES_DIR / "examples/EpisodeOfCare-example-case.json"
    with pytest.raises(
        ValidatorMissing, match="No snapshot defined for StructureDefinition 'FcCase'"
    ):
        validate([example], profiles=profiles)
