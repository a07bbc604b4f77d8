"""Configuration: secrets never hard-coded, environment wins, nothing at import time."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clinic.config import load_config


def test_a_secret_key_is_generated_once_into_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    tmp_path.chmod(0o755)  # as a careless operator might have made it
    first = load_config(tmp_path, {})
    second = load_config(tmp_path, {})
    key_file = tmp_path / "secret_key"
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 48
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700
    assert load_config(tmp_path / "other", {})["SECRET_KEY"] != first["SECRET_KEY"]


def test_environment_and_instance_file_override_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clinic.cfg.py").write_text("FHIR_PAGE_SIZE = 7\nMAX_CONTENT_LENGTH = 1000\n")
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "2000")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/clinic")
    config = load_config(tmp_path, {})
    assert config["FHIR_PAGE_SIZE"] == 7
    assert config["MAX_CONTENT_LENGTH"] == 2000
    assert config["DATABASE_URL"] == "postgresql://db.internal/clinic"


def test_production_cookies_are_secure_and_development_relaxes_only_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.delenv("CLINIC_ENV", raising=False)
    production = load_config(tmp_path, {})
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_NAME"] == "__Host-clinic_session"
    development = load_config(tmp_path, {"CLINIC_ENV": "development"})
    assert development["SESSION_COOKIE_SECURE"] is False
    assert development["SESSION_COOKIE_NAME"] == "clinic_session"  # no prefix over HTTP
    assert development["SESSION_COOKIE_HTTPONLY"] is True


def test_session_timeouts_default_to_15_minutes_idle_and_12_hours_in_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    for name in ("SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT", "LOGIN_BACKOFF_MAX"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(tmp_path, {})
    assert config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=15)
    assert config["SESSION_ABSOLUTE_TIMEOUT"] == timedelta(hours=12)
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "5")
    monkeypatch.setenv("LOGIN_BACKOFF_MAX", "30")
    changed = load_config(tmp_path, {})
    assert changed["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=5)
    assert changed["LOGIN_BACKOFF_MAX"] == timedelta(minutes=30)


def test_default_database_is_sqlite_in_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert load_config(tmp_path, {})["DATABASE_URL"] == f"sqlite:///{tmp_path / 'clinic.sqlite3'}"


def test_importing_the_package_needs_no_configuration() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import clinic, clinic.cli, clinic.models, clinic.fhir.api"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_forwarded_addresses_are_trusted_only_when_configured(app_config) -> None:  # type: ignore[no-untyped-def]
    from clinic import create_app
    from clinic.core.db import db
    from tests.conftest import PASSWORD
    from tests.helpers import login

    addresses = []
    for proxies in (0, 1):
        app = create_app(app_config | {"TRUSTED_PROXIES": proxies})
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
        login(client, "examiner", PASSWORD)
        with app.app_context():
            import sqlalchemy as sa

            from clinic.audit.models import AuditEntry

            addresses.append(
                db.session.scalar(
                    sa.select(AuditEntry.source_address)
                    .order_by(AuditEntry.log_index.desc())
                    .limit(1)
                )
            )
        db.dispose(app)
    assert addresses == ["127.0.0.1", "203.0.113.9"]
