"""Ending a browser session the way the clock would, and looking at kept drafts."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User, UserSession
from clinic.cli import unit_of_work


def age_sessions(app: Flask, username: str, by: timedelta) -> None:
    """Move the last activity of the user's open sessions back in time: the next
    request finds them idle for that much longer (the idle timeout, for real)."""
    with app.app_context(), unit_of_work() as uow:
        user_id = uow.session.scalar(sa.select(User.id).where(User.username == username))
        for record in uow.session.scalars(
            sa.select(UserSession).where(
                UserSession.user_id == user_id, UserSession.ended_at.is_(None)
            )
        ):
            record.last_seen_at = record.last_seen_at - by


def expire_sessions(app: Flask, username: str) -> None:
    age_sessions(app, username, app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1))


def draft_rows(engine: sa.Engine) -> list[tuple[str, str]]:
    """(username, path) of every kept draft."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT u.username, d.path FROM saved_drafts d JOIN users u ON u.id = d.user_id"
        ).all()
    return [(str(username), str(path)) for username, path in rows]
