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
import threading
import time
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
from clinic.media.vault import Keyring, VaultError
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


def rotation_child(app_config: dict[str, Any], stop: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
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
        stderr=subprocess.PIPE,
    )


def reach(child: subprocess.Popen[bytes], stop: str) -> None:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 120)
    assert ready, "the rotation did not reach its stop"
    assert child.stdout.readline().decode().strip() == stop


def kill_rotation_at(app_config: dict[str, Any], stop: str) -> None:
    """Run a rotation in a process of its own and SIGKILL it at `stop`."""
    with rotation_child(app_config, stop) as child:
        try:
            reach(child, stop)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()


def let_go(child: subprocess.Popen[bytes]) -> str:
    """Let a rotation held at its stop finish; what it said."""
    output, errors = child.communicate(b"", timeout=120)
    assert child.returncode == 0, errors.decode()
    return output.decode()


def one_current_key_wraps_every_photo(app: Flask, photo_ids: list[str]) -> None:
    keys = Keyring(keys_dir(app))
    assert keys.pending() is None
    assert (keys_dir(app) / "media.key").is_file()
    assert wrapping_keys(app) <= {keys.current().key_id}
    every_photo_opens_and_verifies(app, photo_ids)
    status = media_key(app, "status")
    assert status.exit_code == 0, status.output


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


def test_a_second_rotation_while_one_runs_is_refused_and_the_first_finishes(
    app: Flask, app_config: dict[str, Any], photo_ids: list[str]
) -> None:
    # The first rotation has committed and not yet renamed its files: the moment
    # a second one used to take for a rotation left half done, and finish.
    with rotation_child(app_config, "committed") as first:
        try:
            reach(first, "committed")
            before = key_files(app)
            second = media_key(app, "rotate")
            assert second.exit_code == 1
            assert "another media-key rotation is running" in second.output
            assert key_files(app) == before  # it touched nothing
            assert "finished" in let_go(first)
        finally:
            if first.poll() is None:
                first.kill()
    no_key_lost(before, app)
    one_current_key_wraps_every_photo(app, photo_ids)


def test_two_rotations_at_once_leave_one_current_key(
    app: Flask, app_config: dict[str, Any], photo_ids: list[str]
) -> None:
    before = key_files(app)
    children = [rotation_child(app_config, "cli") for _ in range(2)]
    results = []
    for child in children:
        with child:
            output, errors = child.communicate(b"", timeout=180)
            results.append((child.returncode, output.decode() + errors.decode()))
    for code, said in results:
        assert (code == 0 and "re-wrapped" in said) or (
            code == 1 and "another media-key rotation is running" in said
        ), said
    assert any(code == 0 for code, _ in results)
    no_key_lost(before, app)
    one_current_key_wraps_every_photo(app, photo_ids)
    # What each rotation retired is kept: every key that ever was still opens.
    assert len(list(keys_dir(app).glob("media.*.retired"))) == sum(code == 0 for code, _ in results)


def test_the_first_photograph_during_a_rotation_loses_no_key(
    app: Flask, app_config: dict[str, Any]
) -> None:
    # An instance with a media key and no photograph yet; a rotation has renamed
    # the old key and not yet made the new one current, so there is no media.key.
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    Keyring(keys_dir(app)).create()
    taken: list[str] = []
    with rotation_child(app_config, "retired") as rotation:
        try:
            reach(rotation, "retired")
            assert not (keys_dir(app) / "media.key").exists()
            upload = threading.Thread(
                target=lambda: taken.extend(take(app, exam_id, [("a.jpg", camera_jpeg(seed=9))]))
            )
            upload.start()
            time.sleep(2)
            # The upload waits for the rotation rather than making a key of its own.
            assert upload.is_alive()
            assert not (keys_dir(app) / "media.key").exists()
            let_go(rotation)
            upload.join(120)
            assert not upload.is_alive()
        finally:
            if rotation.poll() is None:
                rotation.kill()
    assert len(taken) == 1
    one_current_key_wraps_every_photo(app, taken)


def test_finishing_a_rotation_never_replaces_a_media_key(app: Flask, photo_ids: list[str]) -> None:
    keys = Keyring(keys_dir(app))
    _, new = keys.begin_rotation()
    keys.retire_current()
    made = keys.create()  # a key that appeared between the renames (no lock held here)
    with pytest.raises(VaultError, match="nothing was replaced"):
        keys.promote_pending()
    assert keys.current() == made
    assert keys.pending() == new
    # Stopped between the link and the unlink: both names are the one file.
    keys.current_path.rename(keys_dir(app) / "media.aside")
    os.link(keys.pending_path, keys.current_path)
    keys.finish_rotation()
    assert keys.pending() is None
    assert keys.current() == new
