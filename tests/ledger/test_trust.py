"""The verifier keys are trusted from a file outside the database: a key someone
inserts into `signing_keys` is never used to sign, publish or verify."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.evidence.services import CUSTODY_LOG, verify_custody_log
from clinic.ledger.files import LogFiles, TrustFileError
from clinic.ledger.models import LogCheckpoint, SigningKey
from clinic.ledger.note import generate_signer, sign_note
from clinic.ledger.services import (
    LedgerError,
    active_signer,
    create_checkpoint,
    generate_key,
    latest_checkpoint,
    log_origin,
    root_at,
)
from clinic.ledger.standalone import Checkpoint
from tests.conftest import World
from tests.helpers import api, collect_kit, open_case


def _custody_checkpoint(app: Flask) -> str:
    origin = log_origin(app.config, CUSTODY_LOG)
    with app.app_context(), unit_of_work() as uow:
        signer = generate_key(uow.session, Path(app.instance_path), origin)
        return create_checkpoint(uow.session, CUSTODY_LOG, origin, signer).note


def _plant_key_and_checkpoint(app: Flask, engine: sa.Engine) -> str:
    """What a database-only attacker does: publish their own key in signing_keys
    and sign the current custody tree with it (a newer row than the real one)."""
    origin = log_origin(app.config, CUSTODY_LOG)
    impostor = generate_signer(origin)
    with app.app_context():
        size = int(db.session.scalar(sa.text("SELECT size FROM log_heads WHERE name = 'custody'")))
        root = root_at(db.session, CUSTODY_LOG, size)
    note = sign_note(Checkpoint(origin, size, root).text(), [impostor])
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.update(SigningKey).where(SigningKey.key_name == origin).values(retired_at=now)
        )
        connection.execute(
            sa.insert(SigningKey).values(
                key_name=origin,
                key_id=impostor.verifier.key_id.hex(),
                verifier_key=str(impostor.verifier),
                created_at=now,
            )
        )
        connection.execute(
            sa.insert(LogCheckpoint).values(
                log_name=CUSTODY_LOG,
                tree_size=size,
                root_hash=root.hex(),
                note=note,
                key_id=impostor.verifier.key_id.hex(),
                created_at=now,
            )
        )
    return str(impostor.verifier)


def test_a_key_inserted_into_the_database_is_not_published_used_or_believed(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app, "examiner")
    kit = collect_kit(app, "examiner", case.id)
    real = _custody_checkpoint(app)
    planted = _plant_key_and_checkpoint(app, engine)

    published = client.get("/.well-known/transparency-log-keys").get_data(as_text=True)
    assert planted not in published
    assert published.count("\n") == 1
    with app.app_context():
        handed_out = latest_checkpoint(db.session, CUSTODY_LOG)
        assert handed_out is not None
        assert handed_out.note == real
        report = verify_custody_log(db.session, log_origin(app.config, CUSTODY_LOG))
    assert not report.is_valid
    assert f"the database lists signing key {planted}" in (report.problem or "")
    custody = api(client, "GET", f"/fhir/Specimen/{kit.kit.id}/$custody", world["examiner"].token)
    checkpoint = custody.get_json()["parameter"][0]
    assert checkpoint == {"name": "checkpoint", "valueString": real}
    # The real key, retired in the database by the attacker, now signs nothing:
    # refusing is the safe failure, and says why.
    with app.app_context(), unit_of_work() as uow:
        origin = log_origin(app.config, CUSTODY_LOG)
        with pytest.raises(LedgerError, match="not the published, current key"):
            active_signer(uow.session, Path(app.instance_path), origin)


def test_a_private_key_not_in_the_trusted_file_signs_nothing(app: Flask) -> None:
    origin = log_origin(app.config, CUSTODY_LOG)
    files: LogFiles = app.extensions["clinic.log_files"]
    with app.app_context(), unit_of_work() as uow:
        signer = generate_key(uow.session, Path(app.instance_path), origin)
    files.verifier_keys_file.write_text("# emptied\n")
    with app.app_context(), unit_of_work() as uow:
        with pytest.raises(LedgerError, match="not in the trusted keys file"):
            active_signer(uow.session, Path(app.instance_path), origin)
        with pytest.raises(LedgerError, match="not in the trusted keys file"):
            create_checkpoint(uow.session, CUSTODY_LOG, origin, signer)


def test_rotation_keeps_the_retired_key_trusted_and_the_file_is_written_by_keygen(
    app: Flask, client: FlaskClient
) -> None:
    origin = log_origin(app.config, CUSTODY_LOG)
    files: LogFiles = app.extensions["clinic.log_files"]
    assert not files.verifier_keys_file.exists()  # a fresh instance: no key, no file
    with app.app_context(), unit_of_work() as uow:
        first = generate_key(uow.session, Path(app.instance_path), origin)
        create_checkpoint(uow.session, CUSTODY_LOG, origin, first)
    with app.app_context(), unit_of_work() as uow:
        second = generate_key(uow.session, Path(app.instance_path), origin)
        assert (
            active_signer(uow.session, Path(app.instance_path), origin).verifier == second.verifier
        )
    assert files.trusted_keys() == [first.verifier, second.verifier]
    published = client.get("/.well-known/transparency-log-keys").get_data(as_text=True)
    assert published == f"{first.verifier}\n{second.verifier}\n"
    with app.app_context():
        assert verify_custody_log(db.session, origin).is_valid


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not a key\n", "line 1, is not a verifier key"),
        ("# comment\n\nclinic+zz+AAAA\n", "line 3, is not a verifier key"),
    ],
)
def test_a_damaged_trusted_keys_file_is_reported(app: Flask, content: str, problem: str) -> None:
    files: LogFiles = app.extensions["clinic.log_files"]
    files.verifier_keys_file.write_text(content)
    with pytest.raises(TrustFileError, match=problem):
        files.trusted_keys()
    with app.app_context():
        report = verify_custody_log(db.session)
    assert not report.is_valid
    assert problem in (report.problem or "")


def test_a_torn_or_forged_export_file_is_reported(app: Flask) -> None:
    note = _custody_checkpoint(app)
    files: LogFiles = app.extensions["clinic.log_files"]
    export = files.export_path(CUSTODY_LOG)
    export.write_text(note + "\n" + note.split("\n\n")[0])  # a second one cut short
    with app.app_context():
        report = verify_custody_log(db.session)
    assert not report.is_valid
    assert "ends with an incomplete checkpoint" in (report.problem or "")
    forged = note.replace(note.split("\n")[2], "A" * 43 + "=")  # another root, same signature
    export.write_text(note + "\n" + forged + "\n")
    with app.app_context():
        report = verify_custody_log(db.session)
    assert not report.is_valid
    assert "exported checkpoint 2" in (report.problem or "")
    assert "does not verify" in (report.problem or "")


def test_the_export_location_is_a_setting(app_config: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from clinic import create_app

    elsewhere = tmp_path / "shipped"
    app = create_app(
        {
            **app_config,
            "LOG_CHECKPOINT_EXPORT": str(elsewhere / "{log}.checkpoints"),
            "LOG_VERIFIER_KEYS": str(tmp_path / "operator" / "trusted.keys"),
        }
    )
    _custody_checkpoint(app)
    assert (elsewhere / "custody.checkpoints").read_text().startswith("clinic.invalid/custody\n")
    assert (
        (tmp_path / "operator" / "trusted.keys").read_text().startswith("clinic.invalid/custody+")
    )
    with pytest.raises(SystemExit, match=r"must contain \{log\}"):
        create_app({**app_config, "LOG_CHECKPOINT_EXPORT": str(elsewhere / "one.log")})


def test_a_server_does_not_start_on_a_damaged_trusted_keys_file(
    app_config: dict[str, Any],
) -> None:
    from clinic import create_app

    keys_file = Path(app_config["INSTANCE_PATH"]) / "log-verifier-keys.txt"
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text("not a key\n")
    with pytest.raises(SystemExit, match="line 1, is not a verifier key"):
        create_app(app_config)
    # The command line starts, so that `clinic audit verify` can say what is wrong.
    cli_app = create_app({**app_config, "FOR_CLI": True, "CHECK_SCHEMA": False})
    with cli_app.app_context():
        report = verify_custody_log(db.session)
    assert not report.is_valid
    assert "is not a verifier key" in (report.problem or "")
    db.dispose(cli_app)
