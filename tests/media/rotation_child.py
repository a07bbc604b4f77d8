"""A media-key rotation run step by step in a process of its own, so that a test
can kill it (SIGKILL) at the dangerous point: `python -m tests.media.rotation_child
DATABASE_URL INSTANCE_PATH STOP`, where STOP is `written` (the new key is written,
nothing committed) or `committed` (the re-wrapped data keys are committed, the key
files not yet renamed). The process says STOP on its output and then waits for its
input, which never comes: the test kills it there."""

from __future__ import annotations

import sys

from clinic import create_app
from clinic.cli import unit_of_work
from clinic.media.vault import rewrap_all


def main(database_url: str, instance_path: str, stop: str) -> None:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": instance_path,
            "SECRET_KEY": "test-secret",
            "CHECK_SCHEMA": False,
        }
    )
    keyring = app.extensions["clinic.media_keys"]
    with app.app_context():
        old, new = keyring.begin_rotation()
        if stop == "written":
            _wait(stop)
        with unit_of_work() as uow:
            rewrap_all(uow.session, keyring, old, new)
        _wait(stop)
        keyring.finish_rotation()


def _wait(stop: str) -> None:
    print(stop, flush=True)
    sys.stdin.read()  # killed here


if __name__ == "__main__":
    main(*sys.argv[1:4])
