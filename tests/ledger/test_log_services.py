"""The stored logs: proofs from stored hashes, signed checkpoints, key rotation,
offline verification of exported proofs, tampering and concurrent appends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import rfc8785
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.audit.models import AuditEntry
from clinic.audit.services import AUDIT_LOG, audit_leaf, verify_audit_trail
from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.ledger.merkle import CompactRange, inclusion_proof, leaf_hash
from clinic.ledger.services import (
    active_signer,
    append_leaf,
    create_checkpoint,
    export_proof,
    generate_key,
    log_origin,
    prove_consistency,
    prove_inclusion,
    root_at,
)
from clinic.ledger.standalone import main as verify_main
from clinic.ledger.standalone import parse_verifier_key, verify_consistency, verify_entry
from tests.conftest import BACKEND, World
from tests.helpers import api, create, patient


def _activity(client: FlaskClient, world: World, count: int = 5) -> None:
    for index in range(count):
        create(client, world["examiner"].token, patient(f"SA-LOG-{index:04d}"))
    api(client, "GET", "/fhir/Patient", world["officer"].token)


def _checkpoint(app: Flask) -> tuple[str, str]:
    origin = log_origin(app.config, AUDIT_LOG)
    with app.app_context(), unit_of_work() as uow:
        try:
            signer = active_signer(uow.session, Path(app.instance_path), origin)
        except Exception:  # noqa: BLE001 - first key
            signer = generate_key(uow.session, Path(app.instance_path), origin)
        checkpoint = create_checkpoint(uow.session, AUDIT_LOG, origin, signer)
        return checkpoint.note, str(signer.verifier)


def _leaves(app: Flask) -> list[bytes]:
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.log_index)).all()
        return [audit_leaf(entry) for entry in entries]


def test_proofs_from_stored_hashes_equal_proofs_from_the_entries(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _activity(client, world)
    leaves = _leaves(app)
    compact, nodes, roots = CompactRange(), {}, []
    for leaf in leaves:
        nodes.update(compact.append(leaf_hash(leaf)))
        roots.append(compact.root())
    size = len(leaves)
    with app.app_context():
        for index in (0, 1, size // 2, size - 1):
            assert prove_inclusion(db.session, AUDIT_LOG, index, size) == inclusion_proof(
                index, size, lambda k: {x: nodes[x] for x in k}
            )
        assert root_at(db.session, AUDIT_LOG, size) == roots[-1]
        for old in (1, size // 3, size - 1):
            verify_consistency(
                old,
                size,
                prove_consistency(db.session, AUDIT_LOG, old, size),
                roots[old - 1],
                roots[-1],
            )


def test_an_exported_proof_verifies_offline_and_a_changed_event_does_not(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    _activity(client, world)
    _note, verifier = _checkpoint(app)
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.log_index == 3))
        assert entry is not None
        fields = entry.leaf_fields()
        proof = export_proof(db.session, AUDIT_LOG, 3)
    checkpoint = verify_entry(
        proof.text(),
        rfc8785.dumps(fields),
        [parse_verifier_key(verifier)],
        origin=log_origin(app.config, AUDIT_LOG),
    )
    assert checkpoint.size >= 6
    import json

    (tmp_path / "event.json").write_text(json.dumps(fields))
    (tmp_path / "event.tlog-proof").write_text(proof.text())
    assert (
        verify_main(
            ["--key", verifier, str(tmp_path / "event.json"), str(tmp_path / "event.tlog-proof")]
        )
        == 0
    )
    (tmp_path / "event.json").write_text(json.dumps(fields | {"outcome": "4"}))
    assert (
        verify_main(
            ["--key", verifier, str(tmp_path / "event.json"), str(tmp_path / "event.tlog-proof")]
        )
        == 1
    )
    (tmp_path / "event.json").write_text(json.dumps(fields))
    assert (
        verify_main(
            [
                "--key",
                verifier,
                "--origin",
                "elsewhere/audit",
                str(tmp_path / "event.json"),
                str(tmp_path / "event.tlog-proof"),
            ]
        )
        == 1
    )


def test_rotated_keys_keep_old_checkpoints_verifiable(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _activity(client, world, 2)
    _, first = _checkpoint(app)
    origin = log_origin(app.config, AUDIT_LOG)
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), origin)
    _activity(client, world, 2)
    _, second = _checkpoint(app)
    assert first != second
    with app.app_context():
        report = verify_audit_trail(db.session, origin)
    assert report.is_valid, report.problem
    assert report.checkpoints == 2
    keys = client.get("/.well-known/transparency-log-keys").get_data(as_text=True).splitlines()
    assert keys == [first, second]


def _tamper(engine: sa.Engine, statement: str, params: dict | None = None) -> None:  # type: ignore[type-arg]
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            connection.execute(sa.text(statement), params or {})
        else:
            tables = ("log_nodes", "log_checkpoints")
            triggers = [
                row[0]
                for row in connection.exec_driver_sql(
                    f"SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN {tables}"
                )
            ]
            for table in tables:
                connection.exec_driver_sql(f"DROP TRIGGER {table}_no_update")
                connection.exec_driver_sql(f"DROP TRIGGER {table}_no_delete")
            connection.execute(sa.text(statement), params or {})
            for sql in triggers:
                connection.exec_driver_sql(sql)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (
            "UPDATE log_checkpoints SET note = replace(note, 'audit\n', 'audit \n')",
            "does not verify",
        ),
        (
            # Always a different first byte: '00' alone changes nothing when the root
            # hash already starts with it (one checkpoint in 256).
            "UPDATE log_checkpoints SET root_hash = "
            "CASE WHEN root_hash LIKE '00%' THEN 'ff' ELSE '00' END || substr(root_hash, 3)",
            "was altered",
        ),
        (
            "UPDATE log_nodes SET hash = :zero WHERE level = 1 AND node_index = 0",
            "stored subtree hash",
        ),
        ("DELETE FROM log_nodes WHERE level = 0 AND node_index = 2", "stored subtree hash"),
    ],
)
def test_tampering_with_checkpoints_or_stored_hashes_is_detected(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine, statement: str, problem: str
) -> None:
    _activity(client, world, 3)
    _checkpoint(app)
    origin = log_origin(app.config, AUDIT_LOG)
    with app.app_context():
        assert verify_audit_trail(db.session, origin).is_valid
    _tamper(engine, statement, {"zero": bytes(32)})
    with app.app_context():
        report = verify_audit_trail(db.session, origin)
    assert not report.is_valid
    assert problem in (report.problem or "")


def test_a_checkpoint_by_an_unpublished_key_is_refused(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    from clinic.ledger.note import generate_signer, sign_note
    from clinic.ledger.standalone import Checkpoint

    _activity(client, world, 1)
    origin = log_origin(app.config, AUDIT_LOG)
    impostor = generate_signer(origin)
    with app.app_context():
        size = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        root = root_at(db.session, AUDIT_LOG, int(size or 0))
    note = sign_note(Checkpoint(origin, int(size or 0), root).text(), [impostor])
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO log_checkpoints (log_name, tree_size, root_hash, note, key_id, created_at) "
                "VALUES ('audit', :size, :root, :note, :kid, CURRENT_TIMESTAMP)"
            ),
            {"size": size, "root": root.hex(), "note": note, "kid": impostor.verifier.key_id.hex()},
        )
    with app.app_context():
        report = verify_audit_trail(db.session, origin)
    assert not report.is_valid
    assert "no signature by a trusted key" in (report.problem or "")


def test_concurrent_appends_get_contiguous_indexes(app: Flask) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for number in range(15):
                with app.app_context():
                    session = db.session
                    append_leaf(session, "concurrency", f"{name}-{number}".encode())
                    session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        from clinic.ledger.models import LogNode

        rows = db.session.execute(
            sa.select(LogNode.node_index, LogNode.hash)
            .where(LogNode.log_name == "concurrency", LogNode.level == 0)
            .order_by(LogNode.node_index)
        ).all()
        assert [index for index, _ in rows] == list(range(45))
        expected = {f"w{i}-{n}".encode() for i in range(3) for n in range(15)}
        assert {bytes(digest) for _, digest in rows} == {leaf_hash(leaf) for leaf in expected}
        compact = CompactRange()
        for _, digest in rows:
            compact.append(bytes(digest))
        assert root_at(db.session, "concurrency", 45) == compact.root()


# -- verification over many chunks ------------------------------------------------------

BULK = "bulk"
BULK_SIZE = 47  # chunks of 4 leaves: 11 full ones, a partial one of 3; tops up to level 5


def _bulk_leaves() -> list[bytes]:
    return [rfc8785.dumps({"event": index, "item": f"KIT-{index}"}) for index in range(BULK_SIZE)]


def _verify_bulk(app: Flask) -> str | None:
    from clinic.ledger.services import verify_log

    leaves = _bulk_leaves()
    with app.app_context():
        report = verify_log(
            db.session,
            BULK,
            ((index, leaf, leaf_hash(leaf)) for index, leaf in enumerate(leaves)),
        )
        db.session.rollback()
    assert report.size == BULK_SIZE or not report.is_valid
    return None if report.is_valid else report.problem


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        ([], None),
        # Two neighbours swapped: the same hashes, each at the other's place.
        (
            [
                "UPDATE log_nodes SET node_index = -1 WHERE log_name = 'bulk' AND level = 0 AND node_index = 5",
                "UPDATE log_nodes SET node_index = 5 WHERE log_name = 'bulk' AND level = 0 AND node_index = 6",
                "UPDATE log_nodes SET node_index = 6 WHERE log_name = 'bulk' AND level = 0 AND node_index = -1",
            ],
            "stored subtree hash (0, 5)",
        ),
        (
            [
                "UPDATE log_nodes SET hash = :zero WHERE log_name = 'bulk' AND level = 1 AND node_index = 22"
            ],
            "stored subtree hash (1, 22)",
        ),
        # Above the chunks: checked from the chunks' roots.
        (
            [
                "UPDATE log_nodes SET hash = :zero WHERE log_name = 'bulk' AND level = 4 AND node_index = 1"
            ],
            "stored subtree hash (4, 1)",
        ),
        (
            ["DELETE FROM log_nodes WHERE log_name = 'bulk' AND level = 2 AND node_index = 10"],
            "stored subtree hash (2, 10)",
        ),
        (
            ["INSERT INTO log_nodes VALUES ('bulk', 0, 47, :zero)"],
            "stored subtree hashes beyond the last entry",
        ),
        (
            ["INSERT INTO log_nodes VALUES ('bulk', 1, -1, :zero)"],
            "stored subtree hashes beyond the last entry",
        ),
        (
            ["INSERT INTO log_nodes VALUES ('bulk', 9, 0, :zero)"],
            "stored subtree hashes beyond the last entry",
        ),
        (
            ["INSERT INTO log_nodes VALUES ('bulk', -1, 0, :zero)"],
            "stored subtree hashes beyond the last entry",
        ),
    ],
)
def test_verification_compares_every_stored_node_across_chunks(
    app: Flask,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    statements: list[str],
    problem: str | None,
) -> None:
    """Every stored node of a log of many chunks is compared where it stands:
    inside a chunk, in the last partial chunk, above the chunks, and none may be
    stored outside the tree."""
    import clinic.ledger.services as services

    monkeypatch.setattr(services, "CHUNK_LEVEL", 2)
    with app.app_context():
        services.append_hashes(db.session, BULK, [leaf_hash(leaf) for leaf in _bulk_leaves()])
        db.session.commit()
    assert _verify_bulk(app) is None
    for statement in statements:
        _tamper(engine, statement, {"zero": bytes(32)})
    found = _verify_bulk(app)
    if problem is None:
        assert found is None
    else:
        assert problem in (found or "")


def test_a_proof_needing_a_node_that_is_not_stored_is_refused(
    app: Flask, engine: sa.Engine
) -> None:
    from clinic.ledger.services import LedgerError, append_hashes

    leaves = _bulk_leaves()
    compact, nodes = CompactRange(), {}
    for leaf in leaves:
        nodes.update(compact.append(leaf_hash(leaf)))
    with app.app_context():
        append_hashes(db.session, BULK, [leaf_hash(leaf) for leaf in leaves])
        db.session.commit()
        assert prove_inclusion(db.session, BULK, 0, BULK_SIZE) == inclusion_proof(
            0, BULK_SIZE, lambda keys: {key: nodes[key] for key in keys}
        )
        db.session.rollback()
    _tamper(
        engine, "DELETE FROM log_nodes WHERE log_name = 'bulk' AND level = 1 AND node_index = 1"
    )
    with app.app_context(), pytest.raises(LedgerError, match=r"missing stored nodes \[\(1, 1\)\]"):
        prove_inclusion(db.session, BULK, 0, BULK_SIZE)
