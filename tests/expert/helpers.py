"""Opening a medical expert's account through the service, as an examiner does."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for, change_password, create_token
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.expert import services
from tests.conftest import PASSWORD
from tests.media.helpers import EXPERT

# The password an examiner gives a new expert, replaced at the first sign-in.
INITIAL_PASSWORD = "harbour violet anchor mosaic"


def appoint(
    app: Flask,
    case_id: str,
    *,
    username: str = "dr.lovelace",
    name: str = EXPERT,
    by: str = "examiner",
    ends_on: date | None = None,
) -> str:
    """The expert's account as the expert has it after the first sign-in, when
    they replaced the password the examiner gave (INITIAL_PASSWORD) with their own
    (PASSWORD); returns its user id."""
    with app.app_context(), unit_of_work() as uow:
        examiner = uow.session.scalar(sa.select(User).where(User.username == by))
        user = services.appoint_expert(
            uow,
            actor=actor_for(examiner),
            case_id=case_id,
            appointment=services.Appointment(
                display_name=name,
                username=username,
                password=INITIAL_PASSWORD,
                ends_on=ends_on or utcnow().date() + timedelta(days=30),
            ),
            max_days=app.config["EXPERT_MAX_DAYS"],
        )
        change_password(uow, user, current_password=INITIAL_PASSWORD, new_password=PASSWORD)
        return user.id


def token_of(app: Flask, username: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        return create_token(uow, actor=actor_for(user), name="t", days=5, max_days=30).secret


def set_access_until(app: Flask, username: str, when: Any) -> None:
    """Move the account's end (a test's stand-in for time passing)."""
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        user.access_until = when
