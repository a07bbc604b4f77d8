"""Sign-in throttling: back-off per username, per client address and overall.

Failures are counted in the database (`LoginThrottle`), so every gunicorn worker
and every app instance on the same database sees the same counts. Each count
lives in a fixed window that starts at its first failure and ends `window` later,
whatever happens in between. After `free` failures in the window, each further
failure starts a back-off of `first_delay`, doubling with each failure, never
longer than `max_delay`. An attempt made during a back-off is refused before the
password is looked at (no Argon2 hash is computed) and changes nothing but a
counter: it neither counts as a failure nor extends the back-off. So an attacker
who stops leaves the account usable with the right password at most `max_delay`
later, and one who goes on can only keep a back-off going by spending real
guesses, a bounded number per window.

The audit trail gets every counted failure (their number per window is bounded by
the back-off), but attempts refused during a back-off only when their count in
the window reaches 1, 2, 4, 8, ...: the trail grows by the logarithm of an
attacker's effort, and still says how much was tried.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from clinic.accounts.models import LoginThrottle

USERNAME = "username"
ADDRESS = "address"
OVERALL = "overall"
_OVERALL_KEY = "*"


@dataclass(frozen=True)
class ThrottleSettings:
    window: timedelta
    free_per_username: int
    free_per_address: int
    free_overall: int
    first_delay: timedelta
    max_delay: timedelta

    def free(self, scope: str) -> int:
        return {
            USERNAME: self.free_per_username,
            ADDRESS: self.free_per_address,
            OVERALL: self.free_overall,
        }[scope]

    def delay(self, scope: str, failures: int) -> timedelta:
        """The back-off after the `failures`-th failure of the window."""
        beyond = failures - self.free(scope)
        if beyond < 0:
            return timedelta(0)
        # 2**beyond grows without bound: cap the exponent before it overflows.
        return min(self.first_delay * (2 ** min(beyond, 40)), self.max_delay)


@dataclass(frozen=True)
class Block:
    scope: str
    key: str
    until: datetime


def address_key(address: str | None) -> str:
    """One key per IPv4 address; per /64 for IPv6, since one subscriber usually
    holds a whole /64 and could otherwise change address at every attempt."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:128]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def keys_for(username_key: str, address: str | None) -> list[tuple[str, str]]:
    return [(USERNAME, username_key), (ADDRESS, address_key(address)), (OVERALL, _OVERALL_KEY)]


def current_block(session: Session, keys: list[tuple[str, str]], now: datetime) -> Block | None:
    """The back-off in force for any of the keys (the one that lasts longest)."""
    rows = session.scalars(
        sa.select(LoginThrottle).where(
            sa.tuple_(LoginThrottle.scope, LoginThrottle.key).in_(keys),
            LoginThrottle.blocked_until > now,
        )
    ).all()
    if not rows:
        return None
    row = max(rows, key=lambda r: r.blocked_until or now)
    assert row.blocked_until is not None
    return Block(row.scope, row.key, row.blocked_until)


def _locked_row(session: Session, scope: str, key: str, now: datetime) -> LoginThrottle:
    """The row of (scope, key), created if absent, locked until the transaction
    ends (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)."""
    dialect = session.get_bind().dialect.name
    values = {
        "scope": scope,
        "key": key,
        "window_started_at": now,
        "failures": 0,
        "refused": 0,
    }
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    row = session.scalar(
        sa.select(LoginThrottle)
        .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def record_failure(
    session: Session, keys: list[tuple[str, str]], settings: ThrottleSettings, now: datetime
) -> None:
    """Count a failed sign-in (the password was checked and was wrong) against
    each key, and start the back-off it has earned. Rows whose window and
    back-off are both over are deleted on the way."""
    session.execute(
        sa.delete(LoginThrottle).where(
            LoginThrottle.window_started_at <= now - settings.window,
            sa.or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now),
        )
    )
    for scope, key in keys:
        row = _locked_row(session, scope, key, now)
        if row.window_started_at + settings.window <= now:
            row.window_started_at, row.failures, row.refused = now, 0, 0
        row.failures += 1
        delay = settings.delay(scope, row.failures)
        if delay:
            row.blocked_until = now + delay
    session.flush()


def record_refusal(session: Session, block: Block, now: datetime) -> int:
    """Count an attempt refused during a back-off; answers the count in the
    window. Nothing else changes: the back-off does not grow."""
    row = _locked_row(session, block.scope, block.key, now)
    row.refused += 1
    session.flush()
    return row.refused


def forget_username(session: Session, username_key: str) -> None:
    """A successful sign-in clears the username's count (never the address's,
    which an attacker with an account of their own could otherwise reset)."""
    session.execute(
        sa.delete(LoginThrottle).where(
            LoginThrottle.scope == USERNAME, LoginThrottle.key == username_key
        )
    )


def worth_auditing(refused: int) -> bool:
    """1, 2, 4, 8, ...: the trail grows by the logarithm of the refusals."""
    return refused > 0 and refused & (refused - 1) == 0
