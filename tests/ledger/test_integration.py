"""Records are written in their request's transaction without touching the Merkle
tree; an integrator sequences them afterwards. Nothing is lost in between, even
when the process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from clinic.audit.models import AuditEntry
from clinic.audit.services import AUDIT_LOG, verify_audit_trail
from clinic.cli import cli
from clinic.core.db import db
from clinic.evidence.models import CustodyEvent
from clinic.ledger.models import LogHead
from clinic.ledger.services import NotYetIntegrated, export_proof, integrate_all, log_size
from tests.conftest import World
from tests.helpers import api, collect_kit, create, open_case, patient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "LOG_INTEGRATE_ON_COMMIT": False}


def _indexes(app: Flask) -> list[int | None]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry.log_index).order_by(AuditEntry.id)))


def _custody_indexes(app: Flask) -> list[int | None]:
    with app.app_context():
        return list(db.session.scalars(sa.select(CustodyEvent.log_index).order_by(CustodyEvent.id)))


def _head(app: Flask) -> int:
    with app.app_context():
        return log_size(db.session, AUDIT_LOG)


def test_a_request_writes_its_audit_record_without_touching_the_tree(
    app: Flask, client: FlaskClient, world: World
) -> None:
    before = _head(app)
    create(client, world["examiner"].token, patient("SA-INT-0001"))
    indexes = _indexes(app)
    assert indexes[-1] is None  # stored, not yet in the tree
    assert _head(app) == before
    with app.app_context():
        with pytest.raises(NotYetIntegrated, match="not yet integrated"):
            export_proof(db.session, AUDIT_LOG, None)
        report = verify_audit_trail(db.session)
        assert report.is_valid
        assert report.pending == indexes.count(None)
        added = integrate_all(db.session)
    assert added == indexes.count(None)
    after = _indexes(app)
    assert sorted(i for i in after if i is not None) == list(range(len(after)))
    assert _head(app) == len(after)
    with app.app_context():
        report = verify_audit_trail(db.session)
    assert report.is_valid
    assert report.pending == 0
    assert report.size == len(after)


def test_integration_after_commit_is_on_by_default(
    app_config: dict[str, Any], world: World
) -> None:
    from clinic import create_app

    application = create_app({**app_config, "LOG_INTEGRATE_ON_COMMIT": True})
    try:
        create(application.test_client(), world["examiner"].token, patient("SA-INT-0002"))
        assert None not in _indexes(application)
        with application.app_context():
            assert verify_audit_trail(db.session).is_valid
    finally:
        db.dispose(application)


def test_the_audit_log_is_integrated_in_batches_the_custody_log_at_once(
    app_config: dict[str, Any], world: World
) -> None:
    """With a batch time, a commit integrates the audit log only when its process
    has not for that long; the batch then takes every pending record. Custody
    records are integrated after every commit that wrote one."""
    from clinic import create_app
    from clinic.ledger import services as ledger

    application = create_app(
        {**app_config, "LOG_INTEGRATE_ON_COMMIT": True, "LOG_AUDIT_BATCH_SECONDS": 3600}
    )
    token = world["examiner"].token
    client = application.test_client()
    try:
        create(client, token, patient("SA-INT-0010"))  # first commit: integrates
        assert None not in _indexes(application)
        create(client, token, patient("SA-INT-0011"))  # within the batch time: waits
        create(client, token, patient("SA-INT-0012"))
        waiting = _indexes(application).count(None)
        assert waiting >= 2
        with application.app_context():
            assert verify_audit_trail(db.session).pending == waiting
        collect_kit(application, "examiner", open_case(application).id)
        custody = _custody_indexes(application)
        assert len(custody) >= 3  # the kit and its items
        assert None not in custody  # custody: integrated at once
        assert _indexes(application).count(None) > waiting  # the audit log still waits
        # The batch time has passed: the next commit integrates every pending record.
        for key in list(ledger._last_integrated):
            ledger._last_integrated[key] -= 3600
        create(client, token, patient("SA-INT-0013"))
        assert None not in _indexes(application)
        with application.app_context():
            report = verify_audit_trail(db.session)
        assert report.is_valid
        assert report.pending == 0
    finally:
        db.dispose(application)


def test_a_read_integrates_only_the_log_it_wrote_to(
    app_config: dict[str, Any], world: World
) -> None:
    """A read writes one audit record: its commit integrates the audit log and
    sends no statement about the custody log's records."""
    from clinic import create_app

    application = create_app({**app_config, "LOG_INTEGRATE_ON_COMMIT": True})
    client = application.test_client()
    token = world["examiner"].token
    try:
        created = create(client, token, patient("SA-INT-0004"))
        statements: list[str] = []

        def seen(*args: Any) -> None:
            statements.append(args[2])

        engine = db.engine(application)
        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            read = api(client, "GET", f"/fhir/Patient/{created['id']}", token)
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
        assert read.status_code == 200
        assert any("audit_events" in s and "log_index" in s for s in statements)
        assert not [s for s in statements if "custody_events" in s or "photos" in s]
        assert None not in _indexes(application)
    finally:
        db.dispose(application)


@pytest.mark.parametrize(
    "statement",
    [
        # A pending record's facts cannot change on the way to the tree...
        "UPDATE audit_events SET username = 'forged' WHERE log_index IS NULL",
        "UPDATE audit_events SET username = 'forged', log_index = 999999 WHERE log_index IS NULL",
        # ... nor an integrated record's index be moved.
        "UPDATE audit_events SET log_index = 999999 WHERE log_index = 0",
        "UPDATE audit_events SET log_index = NULL WHERE log_index = 0",
    ],
)
def test_only_the_integrator_s_one_change_is_allowed(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine, statement: str
) -> None:
    with app.app_context():
        integrate_all(db.session)
    create(client, world["examiner"].token, patient("SA-INT-0003"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_the_cli_integrates_and_says_how_many(
    app: Flask, client: FlaskClient, world: World, database_url: str, tmp_path: Path
) -> None:
    create(client, world["examiner"].token, patient("SA-INT-0004"))
    pending = _indexes(app).count(None)
    env = {
        "DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "cli-test",
        "LOG_INTEGRATE_ON_COMMIT": "0",
    }
    result = CliRunner().invoke(cli, ["log", "integrate"], env=env, catch_exceptions=False)
    assert result.exit_code == 0
    assert f"integrated {pending} record(s)" in result.output
    assert None not in _indexes(app)
    # The operator's own verification goes on the trail, and is integrated in turn.
    result = CliRunner().invoke(cli, ["custody", "verify"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "custody log verified" in result.output


CHILD = textwrap.dedent(
    """
    import sys, time
    from clinic import create_app
    from clinic.audit.services import AuditRecord, EventKind
    from clinic.core.db import db
    from clinic.core.unit_of_work import UnitOfWork
    from clinic.ledger.services import integrate, log_sources

    app = create_app({"FOR_CLI": True, "CHECK_SCHEMA": False})
    with app.app_context():
        uow = UnitOfWork(db.session)
        for number in range(5):
            uow.audit(AuditRecord(kind=EventKind.READ, channel="cli", actor=None,
                                  entities=(f"Crash/{number}",)))
        uow.commit()
        if sys.argv[1] == "mid-integration":
            # Sequence them, and die before this transaction commits.
            integrate(db.session, "audit", log_sources()["audit"])
        print("ready", flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize("moment", ["after-commit", "mid-integration"])
def test_a_killed_process_loses_no_record_and_integration_resumes(
    app: Flask, database_url: str, tmp_path: Path, moment: str
) -> None:
    with app.app_context():
        integrate_all(db.session)
    size_before = _head(app)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "child-instance"),
        "SECRET_KEY": "crash-test",
        "LOG_INTEGRATE_ON_COMMIT": "0",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment],
        env=env,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.entities, AuditEntry.log_index).where(AuditEntry.channel == "cli")
        ).all()
        crashed = [index for entities, index in rows if entities[0].startswith("Crash/")]
        assert crashed == [None] * 5  # all five kept, none in the tree yet
        head = db.session.get(LogHead, AUDIT_LOG)
        assert head is not None
        assert head.size == size_before
        assert integrate_all(db.session) == 5
        report = verify_audit_trail(db.session)
    assert report.is_valid, report.problem
    assert report.pending == 0
    assert report.size == size_before + 5


def test_the_cli_serves_consistency_proofs_between_any_two_sizes(
    app: Flask, client: FlaskClient, world: World, database_url: str, tmp_path: Path
) -> None:
    import base64

    from clinic.ledger.services import root_at
    from clinic.ledger.standalone import VerificationError, verify_consistency

    env = {
        "DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "cli-test",
    }
    create(client, world["examiner"].token, patient("SA-INT-0005"))
    with app.app_context():
        integrate_all(db.session)
        size = log_size(db.session, AUDIT_LOG)
        roots = {n: root_at(db.session, AUDIT_LOG, n) for n in (3, size)}
    result = CliRunner().invoke(
        cli, ["log", "consistency", "3", str(size)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    proof = [base64.b64decode(line) for line in result.output.split()]
    verify_consistency(3, size, proof, roots[3], roots[size])
    with pytest.raises(VerificationError):
        verify_consistency(3, size, proof, bytes(32), roots[size])  # a rewritten past
    beyond = CliRunner().invoke(cli, ["log", "consistency", "3", str(size + 10**6)], env=env)
    assert beyond.exit_code != 0
    assert "fewer than" in beyond.output
