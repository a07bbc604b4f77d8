"""The partner directory as test fixtures: services added through the directory
service by the administrator, as the admin screen does."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cases.models import ReportingMode
from clinic.cli import unit_of_work
from clinic.followup import directory
from tests.conftest import World
from tests.consent.helpers import record
from tests.followup.helpers import agreed_plan, signed_exam
from tests.helpers import open_case


def add_service(app: Flask, world: World, site: str, kind: str, name: str) -> str:
    with app.app_context(), unit_of_work() as uow:
        admin = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        service = directory.add_service(
            uow,
            actor=actor_for(admin),
            site_id=world.organizations[site],
            entry=directory.ServiceEntry(
                kind=kind,
                name=name,
                organisation=f"{name} Trust",
                phone="+44 20 7946 0000",
                languages="en fr",
                accepts="Women and their children",
            ),
        )
        return service.id


def named_case_with_plan(app: Flask) -> tuple[str, str]:
    """A named survivor (so identity can travel), signed exam, plan agreed with a
    refuge referral wanted. (case id, plan id)."""
    case = open_case(
        app,
        is_anonymous=False,
        name="Amina Example",
        birth_date=date(1990, 5, 1),
        phone="+44 7700 900123",
        age_years=None,
        reporting_mode=ReportingMode.UNREPORTED,
    )
    return case.id, agreed_plan(app, signed_exam(app, case.id, pep=False))


def shares(app: Flask, case_id: str, language: str = "en", **agreed: bool) -> str:
    """Her information-sharing consent: only the items named are agreed."""
    form = app.extensions["clinic.consent_forms"].get("information-sharing/v1")
    answers = {item.id: False for item in form.items if item.within is None}
    answers.update(agreed)
    return record(app, case_id, "information-sharing/v1", answers, language=language)
