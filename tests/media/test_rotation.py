"""Media-key rotation killed at the worst moments (a real process, SIGKILL): after
its commit and before its files were renamed, or before its commit. The next
rotation finishes or sets aside what was left, no key file is ever deleted, and
every photograph still opens and verifies."""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo

from clinic import PROJECT_ROOT
from clinic.cli import cli, unit_of_work
from clinic.evidence.services import verify_custody_log
from clinic.media.models import Photo
from clinic.media.vault import Keyring
from tests.exam.helpers import complete_exam
from tests.helpers import open_case
from tests.media.helpers import camera_jpeg, photo_row, read, record_photo_consent, take


@pytest.fixture
def photo_ids(app: Flask) -> list[str]:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    return take(app, exam_id, [(f"p{n}.jpg", camera_jpeg(seed=70 + n)) for n in range(3)])


def keys_dir(app: Flask) -> Path:
    return Path(app.instance_path) / "keys"


def key_files(app: Flask) -> dict[str, str]:
    return {path.name: path.read_text() for path in keys_dir(app).iterdir()}


def media_key(app: Flask, *args: str) -> Any:
    return CliRunner().invoke(
        cli, ["media-key", *args], obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False
    )


def kill_rotation_at(app_config: dict[str, Any], stop: str) -> None:
    """Run a rotation in a process of its own and SIGKILL it at `stop`."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.media.rotation_child",
            str(app_config["DATABASE_URL"]),
            str(app_config["INSTANCE_PATH"]),
            stop,
        ],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as child:
        try:
            assert child.stdout is not None
            ready, _, _ = select.select([child.stdout], [], [], 120)
            assert ready, "the rotation did not reach its stop"
            assert child.stdout.readline().decode().strip() == stop
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()


def every_photo_opens_and_verifies(app: Flask, photo_ids: list[str]) -> None:
    for photo_id in photo_ids:
        data = read(app, photo_id).data
        assert hashlib.sha256(data).hexdigest() == photo_row(app, photo_id).sha256
    with app.app_context(), unit_of_work() as uow:
        report = verify_custody_log(uow.session)
    assert report.is_valid, report


def no_key_lost(before: dict[str, str], app: Flask) -> None:
    """Every key file's content is still somewhere in the folder (renamed maybe)."""
    after = set(key_files(app).values())
    assert set(before.values()) <= after


def wrapping_keys(app: Flask) -> set[str]:
    with app.app_context(), unit_of_work() as uow:
        return set(uow.session.scalars(sa.select(Photo.key_id).distinct()))


def test_a_rotation_killed_after_its_commit_is_finished_and_no_photo_is_lost(
    app: Flask, app_config: dict[str, Any], photo_ids: list[str]
) -> None:
    kill_rotation_at(app_config, "committed")
    keys = Keyring(keys_dir(app))
    pending = keys.pending()
    assert pending is not None
    # Committed: the data keys are wrapped by the key only media.key.new holds.
    assert wrapping_keys(app) == {pending.key_id}
    assert keys.current().key_id != pending.key_id
    every_photo_opens_and_verifies(app, photo_ids)  # even now
    status = media_key(app, "status")
    assert status.exit_code == 1
    assert "left half done after it committed" in status.output
    before = key_files(app)

    rotated = media_key(app, "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert f"a rotation to media key {pending.key_id} had committed" in rotated.output
    no_key_lost(before, app)
    assert keys.pending() is None
    assert wrapping_keys(app) == {keys.current().key_id}
    assert keys.get(pending.key_id) == pending  # retired, kept
    every_photo_opens_and_verifies(app, photo_ids)
    assert media_key(app, "status").exit_code == 0


def test_a_rotation_killed_before_its_commit_sets_its_key_aside(
    app: Flask, app_config: dict[str, Any], photo_ids: list[str]
) -> None:
    current = Keyring(keys_dir(app)).current()
    kill_rotation_at(app_config, "written")
    keys = Keyring(keys_dir(app))
    pending = keys.pending()
    assert pending is not None
    assert wrapping_keys(app) == {current.key_id}
    status = media_key(app, "status")
    assert status.exit_code == 1
    assert "left half done before it committed" in status.output
    before = key_files(app)

    rotated = media_key(app, "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "set aside" in rotated.output
    no_key_lost(before, app)
    (aside,) = keys_dir(app).glob(f"media.{pending.key_id}.unused-*")
    assert aside.read_text() == before["media.key.new"]
    every_photo_opens_and_verifies(app, photo_ids)


def test_abandoning_a_rotation_deletes_no_key(app: Flask, photo_ids: list[str]) -> None:
    keys = Keyring(keys_dir(app))
    _, new = keys.begin_rotation()
    keys.abandon_rotation()
    assert keys.pending() is None
    assert keys.get(new.key_id) == new
    # And a rotation is never begun over a pending one.
    keys.begin_rotation()
    with pytest.raises(Exception, match="left half done"):
        keys.begin_rotation()
