"""Sign-in throttling as an attacker meets it (issue: one guess every few minutes
used to lock any named account for ever, even against the right password).

Time passing is the throttle rows growing older: `_later` moves every recorded
moment back, as the clock moving on would, without waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import LoginThrottle
from clinic.audit.models import AuditEntry
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

WRONG = "not the password at all"


def _client(app: Flask, address: str = "192.0.2.1") -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _try(app: Flask, username: str, password: str, address: str = "192.0.2.1") -> int:
    client = _client(app, address)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return response.status_code


def _later(engine: sa.Engine, by: timedelta) -> None:
    """Let `by` pass for the throttle."""
    rows = sa.select(LoginThrottle.id, LoginThrottle.window_started_at, LoginThrottle.blocked_until)
    with engine.begin() as connection:
        for row_id, started, until in connection.execute(rows).all():
            connection.execute(
                sa.update(LoginThrottle)
                .where(LoginThrottle.id == row_id)
                .values(
                    window_started_at=_aware(started) - by,
                    blocked_until=None if until is None else _aware(until) - by,
                )
            )


def _aware(moment):  # type: ignore[no-untyped-def]
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(engine: sa.Engine, scope: str, key: str) -> LoginThrottle | None:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return session.scalar(
            sa.select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        )


def _login_entries(engine: sa.Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as connection:
        return [
            (row.outcome, row.outcome_desc)
            for row in connection.execute(
                sa.select(AuditEntry.outcome, AuditEntry.outcome_desc)
                .where(AuditEntry.subtype == "login")
                .order_by(AuditEntry.log_index)
            )
        ]


@pytest.mark.parametrize("username", ["examiner", "ghost-user"])
def test_failures_back_off_the_username_whether_or_not_it_exists(
    app: Flask, engine: sa.Engine, username: str
) -> None:
    free = app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]
    for _ in range(free):
        assert _try(app, username, WRONG) == 401
    client = _client(app)
    token = csrf_token(client, "/login")
    paused = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert paused.status_code == 429
    assert 1 <= int(paused.headers["Retry-After"]) <= 30
    assert "Sign-in is paused after too many failed attempts" in paused.get_data(as_text=True)
    # Another username, from the same address, is not affected.
    assert _try(app, "counsellor", PASSWORD) == 302


def test_the_right_password_gets_in_once_the_attacker_stops(app: Flask, engine: sa.Engine) -> None:
    for _ in range(app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]):
        _try(app, "admin", WRONG, "203.0.113.9")
    row = _row(engine, "username", "admin")
    assert row is not None
    assert row.blocked_until is not None
    until, failures = row.blocked_until, row.failures
    # A hundred attempts during the back-off: refused, none extends it, none counts.
    for _ in range(100):
        assert _try(app, "admin", WRONG, "203.0.113.9") == 429
    row = _row(engine, "username", "admin")
    assert row is not None
    assert (row.blocked_until, row.failures, row.refused) == (until, failures, 100)
    # The administrator, from her own desk, once the back-off is over.
    _later(engine, app.config["LOGIN_BACKOFF_FIRST"])
    assert _try(app, "admin", PASSWORD, "198.51.100.7") == 302
    assert _row(engine, "username", "admin") is None  # her success clears the count


def test_an_attacker_who_goes_on_cannot_lock_the_account_for_ever(
    app: Flask, engine: sa.Engine
) -> None:
    """Guessing every time a back-off ends: each back-off doubles, up to its cap,
    and starts from the last real guess; the window does not move, so at its end
    the count starts again. The day the attacker stops, the right password works
    LOGIN_BACKOFF_MAX later at most."""
    from clinic.core.clock import utcnow

    first, cap = app.config["LOGIN_BACKOFF_FIRST"], app.config["LOGIN_BACKOFF_MAX"]
    free = app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]
    for _ in range(free):
        _try(app, "admin", WRONG)
    lengths = []
    for _ in range(6):
        row = _row(engine, "username", "admin")
        assert row is not None
        assert row.blocked_until is not None
        left = _aware(row.blocked_until) - utcnow()
        lengths.append(round(left.total_seconds() / 30) * 30)
        assert _try(app, "admin", WRONG) == 429  # during the back-off: refused unread
        _later(engine, left)
        assert _try(app, "admin", WRONG) == 401  # a real guess, once it is over
    assert lengths == [30, 60, 120, 240, 480, 900]
    assert first == timedelta(seconds=30)
    assert cap == timedelta(minutes=15)
    row = _row(engine, "username", "admin")
    assert row is not None
    assert row.failures == free + 6
    assert row.blocked_until is not None
    assert _aware(row.blocked_until) - utcnow() <= cap
    _later(engine, cap)
    assert _try(app, "admin", PASSWORD) == 302


def test_the_window_is_fixed_so_old_failures_stop_counting(app: Flask, engine: sa.Engine) -> None:
    free = app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]
    for _ in range(free - 1):
        _try(app, "examiner", WRONG)
    _later(engine, app.config["LOGIN_THROTTLE_WINDOW"])
    for _ in range(free - 1):
        assert _try(app, "examiner", WRONG) == 401
    assert _try(app, "examiner", PASSWORD) == 302


def test_one_address_spraying_many_usernames_is_paused(app: Flask, engine: sa.Engine) -> None:
    free = app.config["LOGIN_FREE_FAILURES_PER_ADDRESS"]
    for number in range(free):
        assert _try(app, f"guess-{number}", "Summer2026!!", "192.0.2.50") == 401
    assert _try(app, "examiner", PASSWORD, "192.0.2.50") == 429
    # Someone else, elsewhere, signs in as usual.
    assert _try(app, "examiner", PASSWORD, "192.0.2.51") == 302


def test_an_ipv6_subscriber_cannot_escape_by_changing_address(app: Flask) -> None:
    free = app.config["LOGIN_FREE_FAILURES_PER_ADDRESS"]
    for number in range(free):
        assert _try(app, f"guess-{number}", WRONG, f"2001:db8:1:2::{number + 1:x}") == 401
    assert _try(app, "examiner", PASSWORD, "2001:db8:1:2:ffff::1") == 429
    assert _try(app, "examiner", PASSWORD, "2001:db8:1:3::1") == 302


def test_an_attack_from_many_addresses_meets_the_overall_limit(
    app: Flask, engine: sa.Engine
) -> None:
    app.config["LOGIN_FREE_FAILURES_OVERALL"] = 6
    for number in range(6):
        assert _try(app, f"guess-{number}", WRONG, f"198.51.100.{number + 1}") == 401
    assert _try(app, "examiner", PASSWORD, "198.51.100.200") == 429
    _later(engine, app.config["LOGIN_BACKOFF_FIRST"])
    assert _try(app, "examiner", PASSWORD, "198.51.100.200") == 302


def test_no_password_hash_is_computed_during_a_back_off(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    for _ in range(app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]):
        _try(app, "examiner", WRONG)
    verified: list[str] = []
    original = PasswordHasher.verify

    def counting(self, hash, password):  # type: ignore[no-untyped-def]
        verified.append(password)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    assert _try(app, "examiner", PASSWORD) == 429
    assert verified == []
    assert _try(app, "counsellor", PASSWORD) == 302
    assert verified == [PASSWORD]


def test_the_trail_records_failures_and_aggregates_refusals(app: Flask, engine: sa.Engine) -> None:
    free = app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]
    before = len(_login_entries(engine))
    for _ in range(free):
        _try(app, "examiner", WRONG)
    for _ in range(100):
        _try(app, "examiner", WRONG)
    entries = _login_entries(engine)[before:]
    failures = [e for e in entries if e[1] == "bad credentials or inactive account"]
    refusals = [e for e in entries if (e[1] or "").startswith("throttled by username")]
    assert len(failures) == free
    # 1, 2, 4, 8, 16, 32, 64: seven entries for a hundred refusals.
    assert [int((d or "").split(": ")[1].split()[0]) for _, d in refusals] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
    ]
    assert all(outcome == "4" for outcome, _ in entries)


def test_the_counts_hold_across_workers(app: Flask, app_config: dict, engine: sa.Engine) -> None:  # type: ignore[type-arg]
    """Two applications on one database, as two gunicorn workers are."""
    from clinic import create_app
    from clinic.core.db import db

    other = create_app(app_config)
    try:
        for _ in range(app.config["LOGIN_FREE_FAILURES_PER_USERNAME"]):
            assert _try(app, "examiner", WRONG) == 401
        assert _try(other, "examiner", PASSWORD) == 429
    finally:
        db.dispose(other)
