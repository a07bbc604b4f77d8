"""$custody: the chain of custody as FHIR, with proofs anyone can check offline."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from clinic.fhir.validation import validate_resource
from clinic.ledger.standalone import VerificationError, parse_verifier_key, verify_entry
from tests.browser.test_evidence_journey import checkpoint_custody_log
from tests.conftest import World
from tests.evidence.test_custody import S, bring_to
from tests.helpers import api, collect_kit, open_case


def _custody(client: FlaskClient, token: str, item_id: str) -> Any:
    return api(client, "GET", f"/fhir/Specimen/{item_id}/$custody", token)


def test_custody_lists_the_events_as_tasks_with_proofs_that_verify_offline(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    bring_to(app, world, kit.kit.id, S.RETURNED)
    before = _custody(client, world["custodian"].token, kit.kit.id).get_json()
    assert [p["name"] for p in before["parameter"]] == ["event"] * 5  # no checkpoint yet: no proofs
    checkpoint_custody_log(app)
    result = _custody(client, world["examiner"].token, kit.kit.id).get_json()
    assert result["resourceType"] == "Parameters"
    checkpoint = result["parameter"][0]
    assert checkpoint["name"] == "checkpoint"
    events = [p["part"] for p in result["parameter"][1:]]
    tasks = [next(part["resource"] for part in e if part["name"] == "task") for e in events]
    assert [t["code"]["coding"][0]["code"] for t in tasks] == [
        "collected",
        "sealed",
        "stored",
        "transferred",
        "returned",
    ]
    registry = app.extensions["clinic.profiles"]
    for task in tasks:
        validate_resource(task, registry)
        assert task["focus"]["reference"] == f"Specimen/{kit.kit.id}"
    keys = [
        parse_verifier_key(line)
        for line in client.get("/.well-known/transparency-log-keys")
        .get_data(as_text=True)
        .splitlines()
    ]
    for parts in events:
        leaf = base64.b64decode(next(p["valueBase64Binary"] for p in parts if p["name"] == "leaf"))
        proof = next(p["valueString"] for p in parts if p["name"] == "proof")
        assert verify_entry(proof, leaf, keys).size == 8  # the kit and 3 items collected, 4 actions
        tampered = leaf.replace(b"Dr Lee", b"Dr Lie") if b"Dr Lee" in leaf else leaf + b" "
        try:
            verify_entry(proof, tampered, keys)
        except VerificationError:
            continue
        raise AssertionError("a changed leaf verified")
    transfer = tasks[3]
    assert transfer["owner"]["display"] == "Forensic Laboratory"
    assert {i["type"]["coding"][0]["code"] for i in transfer["input"]} >= {
        "seal-number",
        "seal-intact",
        "receiver",
    }


def test_custody_is_refused_like_an_unknown_item_to_other_sites_and_police(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    for intruder in ("examiner.south", "officer", "officer.hill"):
        hidden = _custody(client, world[intruder].token, kit.kit.id)
        unknown_id = str(uuid.uuid4())
        unknown = _custody(client, world[intruder].token, unknown_id)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.get_data(as_text=True).replace(kit.kit.id, "ID") == unknown.get_data(
            as_text=True
        ).replace(unknown_id, "ID")
    assert _custody(client, world["counsellor"].token, kit.kit.id).status_code == 403
    assert (
        api(
            client, "GET", f"/fhir/Patient/{case.patient_id}/$custody", world["examiner"].token
        ).status_code
        == 404
    )
