"""A media-key rotation run step by step in a process of its own, so that a test
can kill it (SIGKILL) at the dangerous point, or hold it there while something
else runs: `python -m tests.media.rotation_child DATABASE_URL INSTANCE_PATH STOP`,
where STOP is `written` (the new key is written, nothing committed), `committed`
(the re-wrapped data keys are committed, the key files not yet renamed) or
`retired` (the old key renamed, the new one not yet `media.key`). It holds the key
folder's lock throughout, as `clinic media-key rotate` does. The process says STOP
on its output and then waits for the end of its input: the test kills it there,
or closes its input to let it finish. STOP `cli` runs the whole
`clinic media-key rotate` instead, as an operator does."""

from __future__ import annotations

import sys

from flask import Flask
from flask.cli import ScriptInfo

from clinic import create_app
from clinic.cli import cli, unit_of_work
from clinic.media.vault import rewrap_all


def main(database_url: str, instance_path: str, stop: str) -> None:
    app = _app(database_url, instance_path)
    if stop == "cli":
        cli.main(["media-key", "rotate"], obj=ScriptInfo(create_app=lambda: app))
    keyring = app.extensions["clinic.media_keys"]
    with app.app_context(), keyring.lock():
        old, new = keyring.begin_rotation()
        if stop == "written":
            _wait(stop)
        with unit_of_work() as uow:
            rewrap_all(uow.session, keyring, old, new)
        if stop == "committed":
            _wait(stop)
        keyring.retire_current()
        if stop == "retired":
            _wait(stop)
        keyring.promote_pending()
    print("finished", flush=True)


def _app(database_url: str, instance_path: str) -> Flask:
    return create_app(
        {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": instance_path,
            "SECRET_KEY": "test-secret",
            "TRUSTED_HOSTS": ["localhost"],
            "CHECK_SCHEMA": False,
        }
    )


def _wait(stop: str) -> None:
    print(stop, flush=True)
    sys.stdin.read()  # killed here, or let go on


if __name__ == "__main__":
    main(*sys.argv[1:4])
