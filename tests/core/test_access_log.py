"""The access log gunicorn writes when started as `scripts/start` starts it: the
path only. A real gunicorn on a free port, asked with query strings that carry a
case reference and a username, and with a path that tries to break the line."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from clinic import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ask(url: str) -> None:
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - our own loopback server


def test_the_access_log_holds_paths_never_query_strings(tmp_path: Path) -> None:
    from clinic import create_app
    from clinic.core.db import db
    from clinic.core.schema import upgrade

    instance = tmp_path / "instance"
    app = create_app(
        {"INSTANCE_PATH": instance, "SECRET_KEY": "x", "CHECK_SCHEMA": False, "FOR_CLI": True}
    )
    upgrade(app)
    db.dispose(app)
    port = _free_port()
    log = tmp_path / "out.log"
    env = {**os.environ, "CLINIC_INSTANCE_PATH": str(instance), "CLINIC_ENV": "development"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as out:
        command = [str(gunicorn), "--config", "gunicorn.conf.py", "--workers", "1"]
        server = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    _ask(f"{base}/login?next=/cases/SA-SECRET-0001&username=alice.secret")
                    break
                except OSError:
                    time.sleep(0.1)
            _ask(f"{base}/evidence/label?label=NORTH-SECRET-01")
            _ask(f"{base}/login%0AFAKE%20LINE?x=1")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    text = log.read_text()
    lines = [line for line in text.splitlines() if '"GET ' in line]
    assert any('"GET /login HTTP/1.1" 200' in line for line in lines), text
    assert any('"GET /evidence/label HTTP/1.1"' in line for line in lines), text
    assert any("/login\\x0aFAKE LINE" in line for line in lines), text
    assert not any(line.startswith("FAKE LINE") for line in text.splitlines())
    for secret in ("SA-SECRET-0001", "alice.secret", "NORTH-SECRET-01", "?"):
        assert not any(secret in line for line in lines), (secret, text)
