"""Someone with the database (not the instance folder, not the exported checkpoints,
not a third party's copy) rewrites the custody log: events changed, every leaf hash
and the whole tree recomputed, the checkpoint rows deleted and the tree re-signed
with the clinic's real key. `clinic custody verify` and `clinic-verify consistency`
must both say so."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.evidence.models import CustodyEvent
from clinic.evidence.services import CUSTODY_LOG, custody_leaf, verify_custody_log
from clinic.ledger.files import LogFiles
from clinic.ledger.merkle import leaf_hash
from clinic.ledger.services import (
    active_signer,
    create_checkpoint,
    generate_key,
    integrate_all,
    latest_checkpoint,
    log_origin,
    prove_log_consistency,
)
from clinic.ledger.standalone import main as verify_main
from tests.conftest import World
from tests.evidence.test_custody import S, bring_to
from tests.helpers import collect_kit, open_case
from tests.ledger.attacker import as_database_owner


def _sign(app: Flask, files: LogFiles | None = None) -> str:
    """Sign the custody log's head with the clinic's real key (made on first use)."""
    origin = log_origin(app.config, CUSTODY_LOG)
    with app.app_context(), unit_of_work() as uow:
        try:
            signer = active_signer(uow.session, Path(app.instance_path), origin)
        except Exception:  # noqa: BLE001 - the first checkpoint makes the key
            signer = generate_key(uow.session, Path(app.instance_path), origin)
        return create_checkpoint(uow.session, CUSTODY_LOG, origin, signer, files=files).note


def _rewrite(app: Flask, engine: sa.Engine, item_id: str) -> None:
    """Change the item's collection event, recompute its leaf hash, rebuild the
    custody tree from the (changed) events and drop every custody checkpoint."""
    with app.app_context():
        collected = db.session.scalar(
            sa.select(CustodyEvent).where(
                CustodyEvent.item_id == item_id, CustodyEvent.action == "collected"
            )
        )
        assert collected is not None
        collected.note = "collected at another clinic"
        forged_id, forged_hash = collected.id, leaf_hash(custody_leaf(collected)).hex()
        db.session.rollback()

    def work(connection: sa.Connection) -> None:
        connection.execute(
            sa.text(
                "UPDATE custody_events SET note = 'collected at another clinic', leaf_hash = :h "
                "WHERE id = :id"
            ),
            {"h": forged_hash, "id": forged_id},
        )
        connection.execute(sa.text("UPDATE custody_events SET log_index = NULL"))
        connection.execute(sa.text("UPDATE photos SET log_index = NULL"))
        for statement in (
            "DELETE FROM log_nodes WHERE log_name = 'custody'",
            "DELETE FROM log_checkpoints WHERE log_name = 'custody'",
            "DELETE FROM log_heads WHERE name = 'custody'",
        ):
            connection.execute(sa.text(statement))

    as_database_owner(engine, work)
    with app.app_context():
        integrate_all(db.session)


@pytest.fixture
def rewritten(app: Flask, world: World, engine: sa.Engine, tmp_path: Path) -> dict[str, str]:
    """A custody log checkpointed at 4 entries (a copy held by a third party) and 8,
    then rewritten and re-signed at 8 by someone who cannot reach the export file."""
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    held = _sign(app)  # the kit and its three items
    bring_to(app, world, kit.items[0].id, S.RETURNED)
    _sign(app)
    with app.app_context():
        assert verify_custody_log(db.session).is_valid
    _rewrite(app, engine, kit.items[0].id)
    real = app.extensions["clinic.log_files"]
    elsewhere = LogFiles(real.verifier_keys_file, str(tmp_path / "attacker" / "{log}.log"))
    resigned = _sign(app, elsewhere)
    return {"held": held, "resigned": resigned, "export": str(real.export_path(CUSTODY_LOG))}


def test_a_rewritten_custody_log_fails_verify_against_the_exported_checkpoints(
    app: Flask, rewritten: dict[str, str]
) -> None:
    with app.app_context():
        report = verify_custody_log(db.session, log_origin(app.config, CUSTODY_LOG))
        # What the database holds alone is consistent: only the export tells.
        stored = latest_checkpoint(db.session, CUSTODY_LOG)
        assert stored is not None
        assert stored.note == rewritten["resigned"]
    assert not report.is_valid
    assert f"exported checkpoint 1 in {rewritten['export']} (size 4)" in (report.problem or "")
    assert "was rewritten" in (report.problem or "")


def test_a_rewritten_custody_log_fails_clinic_verify_with_an_earlier_checkpoint(
    app: Flask, rewritten: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with app.app_context():
        proof = prove_log_consistency(db.session, CUSTODY_LOG, 4, 8)
    keys = app.extensions["clinic.log_files"].verifier_keys_file
    (tmp_path / "old.checkpoint").write_text(rewritten["held"])
    (tmp_path / "new.checkpoint").write_text(rewritten["resigned"])
    (tmp_path / "proof").write_text(proof.text())
    arguments = [str(tmp_path / name) for name in ("old.checkpoint", "new.checkpoint", "proof")]
    assert verify_main(["consistency", "--key", str(keys), *arguments]) == 1
    assert "NOT VALID: the log was rewritten" in capsys.readouterr().out


def test_an_untouched_custody_log_passes_both(
    app: Flask, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    held = _sign(app)
    bring_to(app, world, kit.items[0].id, S.RETURNED)
    newer = _sign(app)
    with app.app_context():
        report = verify_custody_log(db.session, log_origin(app.config, CUSTODY_LOG))
        proof = prove_log_consistency(db.session, CUSTODY_LOG, 4, 8)
    assert report.is_valid, report.problem
    assert (report.checkpoints, report.exported) == (2, 2)
    (tmp_path / "old").write_text(held)
    (tmp_path / "new").write_text(newer)
    (tmp_path / "proof").write_text(proof.text())
    keys = app.extensions["clinic.log_files"].verifier_keys_file
    paths = [str(tmp_path / name) for name in ("old", "new", "proof")]
    assert verify_main(["consistency", "--key", str(keys), *paths]) == 0
    assert "VALID" in capsys.readouterr().out
    # The export file is the operator's alone, and holds both checkpoints.
    export = app.extensions["clinic.log_files"].export_path(CUSTODY_LOG)
    assert export.stat().st_mode & 0o777 == 0o600
    assert export.read_text() == f"{held}\n{newer}\n"
