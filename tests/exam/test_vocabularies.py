"""The exam's lists and their CodeSystems: the committed files are what the lists
say, and every code the exam writes in one of our systems exists there with the
display it carries."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam import services
from clinic.exam.code_systems import code_system, value_set
from clinic.exam.lists import VOCABULARIES, VOCABULARIES_BY_ID
from clinic.exam.resources import Answer
from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.code_system_versions import content_hash, recorded, silent_changes
from clinic.fhir.profiles import PROFILES_DIR
from tests.conftest import PASSWORD, World
from tests.exam.helpers import call, complete_exam, history
from tests.exam.test_structured_steps import fill_every_step
from tests.helpers import csrf_token, login, open_case


def test_the_committed_code_systems_are_what_the_lists_say() -> None:
    """Run scripts/write_exam_vocabularies.py after extending a list."""
    for vocabulary in VOCABULARIES:
        for kind, build in (("CodeSystem", code_system), ("ValueSet", value_set)):
            path = PROFILES_DIR / f"{kind}-{vocabulary.id}.json"
            assert path.exists(), path.name
            assert json.loads(path.read_text()) == build(vocabulary), path.name


def _our_codings(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if str(node.get("system", "")).startswith(f"{CODE_SYSTEM}/") and "code" in node:
            found.append(node)
        for value in node.values():
            found.extend(_our_codings(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_our_codings(item))
    return found


def test_every_code_the_exam_writes_exists_in_its_system_with_its_display(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    systems = {}
    for path in PROFILES_DIR.glob("CodeSystem-*.json"):
        document = json.loads(path.read_text())
        systems[document["url"]] = {c["code"]: c.get("display") for c in document["concept"]}
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES, oral_penetration=Answer.YES),
    )
    login(client, "examiner", PASSWORD)
    fill_every_step(app, client, exam_id)
    token = csrf_token(client, f"/exams/{exam_id}/anogenital")
    saved = client.post(
        f"/exams/{exam_id}/anogenital",
        data={
            "site_anus_findings": ["abrasion"],
            "site_anus_methods": ["direct-view", "toluidine-blue"],
            "csrf_token": token,
        },
    )
    assert saved.status_code == 302
    from tests.exam.helpers import decide_every_window

    decide_every_window(app, exam_id)
    call(
        app,
        "examiner",
        services.request_lab_tests,
        exam_id=exam_id,
        requested={"hiv": "Virology", "pregnancy": "Clinic"},
    )
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(app, "examiner", services.add_lab_result, exam_id=exam_id, test="hiv", result="negative")
    with engine.connect() as connection:
        contents = [
            json.loads(row)
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE resource_type IN "
                    "('Encounter', 'Observation', 'MedicationAdministration', 'Composition')"
                )
            ).scalars()
        ]
    checked = 0
    wrong = set()
    for content in contents:
        for coding in _our_codings(content):
            concepts = systems.get(coding["system"], {})
            if coding["code"] not in concepts or (
                "display" in coding and coding["display"] != concepts[coding["code"]]
            ):
                wrong.add(
                    (
                        coding["system"],
                        coding["code"],
                        coding.get("display"),
                        concepts.get(coding["code"]),
                    )
                )
            checked += 1
    assert not wrong, sorted(wrong)
    assert checked > 100


def test_every_code_system_version_says_what_was_recorded_for_it() -> None:
    """A display (or a code) changed without bumping the CodeSystem's version fails
    here; bump it and run scripts/record_code_system_versions.py."""
    assert silent_changes() == []


def test_a_display_changed_without_a_version_bump_is_caught(tmp_path: Path) -> None:
    for path in PROFILES_DIR.glob("CodeSystem-*.json"):
        shutil.copy(path, tmp_path / path.name)
    changed = tmp_path / "CodeSystem-lab-result.json"
    document = json.loads(changed.read_text())
    document["concept"][0]["display"] = "Negative (none found)"
    changed.write_text(json.dumps(document))
    assert silent_changes(tmp_path) == [("lab-result", "0.1.0", "changed without a version bump")]
    document["version"] = "0.2.0"
    changed.write_text(json.dumps(document))
    assert silent_changes(tmp_path) == [("lab-result", "0.2.0", "version not recorded")]
    # The same through a list: a display changed in clinic/exam/lists.py and written
    # out with the version it had does not match what that version recorded.
    vocabulary = VOCABULARIES_BY_ID["lab-result"]
    edited = replace(vocabulary, terms=vocabulary.terms | {"negative": "Negative (none found)"})
    recorded_hash = recorded()[("lab-result", vocabulary.version)]
    assert content_hash(code_system(vocabulary)) == recorded_hash
    assert content_hash(code_system(edited)) != recorded_hash


def test_a_version_is_recorded_once(tmp_path: Path) -> None:
    manifest = tmp_path / "CODE-SYSTEM-VERSIONS"
    manifest.write_text(f"{'0' * 64}  mood 0.1.0\n{'1' * 64}  mood 0.1.0\n")
    with pytest.raises(ValueError, match=r"mood 0\.1\.0 twice"):
        recorded(manifest)
