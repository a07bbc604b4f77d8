"""Recording and withdrawing consent through the service, as staff do with her."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import Organization, User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.consent import services
from clinic.consent.resources import Answers, GivenBy, Withdrawal
from clinic.core.clock import utcnow
from tests.helpers import signature_png


def organization(app: Flask, code: str) -> tuple[str, str]:
    """(id, name) of an organisation, by its code."""
    with app.app_context(), unit_of_work() as uow:
        found = uow.session.scalar(sa.select(Organization).where(Organization.code == code))
        assert found is not None, code
        return str(found.id), found.name


def all_items(app: Flask, form_key: str, agree: bool = True) -> dict[str, bool]:
    """An answer for every item the form asks when she agrees to every parent."""
    form = app.extensions["clinic.consent_forms"].get(form_key)
    return {item.id: agree for item in form.items if item.within is None or agree}


def answers(**overrides: Any) -> Answers:
    fields: dict[str, Any] = {
        "agreed": {},
        "person_names": {},
        "language": "en",
        "given_by": GivenBy(),
        "interpreter": None,
        "witness": None,
        "free_choice": True,
        "signature_png": signature_png(),
        "police_force": None,
        "until": None,
    } | overrides
    return Answers(**fields)


def record(
    app: Flask,
    case_id: str,
    form_key: str,
    agreed: dict[str, bool],
    username: str = "examiner",
    **overrides: Any,
) -> str:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        version = services.record_consent(
            uow,
            app.extensions["clinic.profiles"],
            app.extensions["clinic.consent_forms"],
            actor=actor_for(user),
            case_id=case_id,
            form_key=form_key,
            answers=answers(agreed=agreed, **overrides),
        )
        return version.logical_id


def release_to(
    app: Flask, case_id: str, force_code: str, agreed: dict[str, bool], days: int = 30
) -> str:
    return record(
        app,
        case_id,
        "police-release/v1",
        agreed,
        police_force=organization(app, force_code),
        until=utcnow() + timedelta(days=days),
    )


def withdraw(
    app: Flask,
    case_id: str,
    consent_id: str,
    items: tuple[str, ...] = (),
    username: str = "counsellor",
    method: str = "in-person",
) -> str:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        version = services.withdraw(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            consent_id=consent_id,
            withdrawal=Withdrawal(
                method=method,
                by="the survivor",
                items=items,
                at=utcnow(),
                verified=True,
                everything=not items,
            ),
        )
        return version.logical_id
