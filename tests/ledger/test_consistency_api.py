"""GET /fhir/$log-consistency: consistency proofs between two sizes of a log, for the
roles the decision point lets read that log's proofs; checked offline with the
standalone verifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.audit.models import AuditEntry
from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.evidence.services import CUSTODY_LOG
from clinic.fhir.validation import parse_structure
from clinic.ledger.note import sign_note
from clinic.ledger.services import active_signer, create_checkpoint, generate_key, log_origin
from clinic.ledger.standalone import Checkpoint, parse_checkpoint, split_note
from clinic.ledger.standalone import main as verify_main
from tests.conftest import World
from tests.evidence.test_custody import S, bring_to
from tests.helpers import api, collect_kit, open_case

ROLES = ("examiner", "counsellor", "custodian", "officer", "admin", "auditor", "expert")
READERS = {
    "custody": {"examiner", "custodian", "officer", "auditor"},
    "audit": {"auditor"},
}


def _sign(app: Flask, log_name: str) -> str:
    origin = log_origin(app.config, log_name)
    with app.app_context(), unit_of_work() as uow:
        try:
            signer = active_signer(uow.session, Path(app.instance_path), origin)
        except Exception:  # noqa: BLE001 - the first checkpoint makes the key
            signer = generate_key(uow.session, Path(app.instance_path), origin)
        return create_checkpoint(uow.session, log_name, origin, signer).note


def _consistency(client: FlaskClient, token: str, query: str) -> Any:
    return api(client, "GET", f"/fhir/$log-consistency?{query}", token)


def _parameter(body: dict[str, Any], name: str) -> Any:
    found = [p for p in body["parameter"] if p["name"] == name]
    if not found:
        return None
    return next(value for key, value in found[0].items() if key.startswith("value"))


@pytest.fixture
def custody_checkpoints(app: Flask, world: World) -> tuple[str, str]:
    """Custody checkpoints at 4 entries and at 8."""
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    old = _sign(app, CUSTODY_LOG)
    bring_to(app, world, kit.items[0].id, S.RETURNED)
    return old, _sign(app, CUSTODY_LOG)


@pytest.mark.parametrize("log_name", ["custody", "audit"])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_a_logs_consistency_proofs(
    client: FlaskClient,
    world: World,
    custody_checkpoints: tuple[str, str],
    role: str,
    log_name: str,
) -> None:
    response = _consistency(client, world[role].token, f"log={log_name}&old=1&new=2")
    if role in READERS[log_name]:
        assert response.status_code == 200, response.get_json()
    else:
        # Police refusals look like absence, as everywhere.
        assert response.status_code == (404 if role == "officer" else 403)
        assert response.get_json()["resourceType"] == "OperationOutcome"
        assert "oldSize" not in response.get_data(as_text=True)


def test_a_proof_over_http_verifies_offline_and_the_read_is_audited(
    app: Flask,
    client: FlaskClient,
    world: World,
    custody_checkpoints: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held, newest = custody_checkpoints
    response = _consistency(client, world["officer"].token, "log=custody&old=4")
    assert response.status_code == 200
    body = response.get_json()
    parse_structure(body)  # valid R4B Parameters
    assert _parameter(body, "log") == "clinic.invalid/custody"
    assert (_parameter(body, "oldSize"), _parameter(body, "newSize")) == (4, 8)  # newest signed
    assert _parameter(body, "oldCheckpoint") == held
    assert _parameter(body, "newCheckpoint") == newest
    (tmp_path / "old").write_text(held)
    (tmp_path / "new").write_text(_parameter(body, "newCheckpoint"))
    (tmp_path / "proof").write_text(_parameter(body, "proof"))
    keys = client.get("/.well-known/transparency-log-keys").get_data(as_text=True)
    paths = [str(tmp_path / name) for name in ("old", "new", "proof")]
    assert verify_main(["consistency", "--key", keys, *paths]) == 0
    assert "VALID: clinic.invalid/custody at 8 entries extends" in capsys.readouterr().out
    with app.app_context():
        audited = db.session.scalars(
            sa.select(AuditEntry.entities).where(AuditEntry.channel == "fhir")
        ).all()
    assert any("LogConsistency/custody/4/8" in str(e) for e in audited)


def test_a_forged_old_root_fails_the_standalone_verifier_over_http(
    app: Flask,
    client: FlaskClient,
    world: World,
    custody_checkpoints: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held, _ = custody_checkpoints
    body = _consistency(client, world["custodian"].token, "log=custody&old=4&new=8").get_json()
    keys = client.get("/.well-known/transparency-log-keys").get_data(as_text=True)
    real = parse_checkpoint(split_note(held)[0])
    forged_root = Checkpoint(real.origin, real.size, bytes(32)).text()
    # Signed with the clinic's real key (as by someone who rewrote the log), and not.
    with app.app_context(), unit_of_work() as uow:
        signer = active_signer(uow.session, Path(app.instance_path), real.origin)
    resigned = sign_note(forged_root, [signer])
    unsigned = forged_root + "\n" + held.split("\n\n")[1]  # the real signature, another root
    (tmp_path / "new").write_text(_parameter(body, "newCheckpoint"))
    (tmp_path / "proof").write_text(_parameter(body, "proof"))
    for forged, expected in ((resigned, "the log was rewritten"), (unsigned, "older checkpoint")):
        (tmp_path / "old").write_text(forged)
        paths = [str(tmp_path / name) for name in ("old", "new", "proof")]
        assert verify_main(["consistency", "--key", keys, *paths]) == 1
        assert expected in capsys.readouterr().out


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("log=custody", "old is required"),
        ("log=custody&old=", "old is required"),
        ("old=1&new=2", "log is required"),
        ("log=secrets&old=1&new=2", "there is no log 'secrets'"),
        ("log=custody&old=0&new=4", "at least 1"),
        ("log=custody&old=5&new=4", "larger than the newer size"),
        ("log=custody&old=1&new=9", "has 8 entries, fewer than 9"),
        ("log=custody&old=1&new=" + "9" * 40, "larger than any log"),
        ("log=custody&old=" + "9" * 19 + "&new=4", "larger than the newer size"),
        ("log=custody&old=abc&new=4", "old must be a whole number"),
        ("log=custody&old=-1&new=4", "old must be a whole number"),
        ("log=custody&old=1.5&new=4", "old must be a whole number"),
        ("log=custody&old=1&new=%C2%B2", "new must be a whole number"),
        ("log=custody&old=1&new=0x8", "new must be a whole number"),
    ],
)
def test_bad_sizes_get_a_clear_400(
    client: FlaskClient,
    world: World,
    custody_checkpoints: tuple[str, str],
    query: str,
    message: str,
) -> None:
    response = _consistency(client, world["custodian"].token, query)
    assert response.status_code == 400, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert message in outcome["issue"][0]["diagnostics"]


def test_no_checkpoint_yet_and_equal_sizes(app: Flask, client: FlaskClient, world: World) -> None:
    case = open_case(app, "examiner")
    collect_kit(app, "examiner", case.id)
    refused = _consistency(client, world["custodian"].token, "log=custody&old=1")
    assert refused.status_code == 400
    assert "no signed checkpoint yet" in refused.get_json()["issue"][0]["diagnostics"]
    same = _consistency(client, world["custodian"].token, "log=custody&old=3&new=3").get_json()
    assert _parameter(same, "proof") is None  # an empty proof: the same tree
    assert _parameter(same, "newCheckpoint") is None  # none signed at that size
