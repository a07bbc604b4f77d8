"""Driving follow-up as the clinic does: a signed exam with emergency contraception
and HIV PEP given, then the plan agreed with her."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam import services as exam_services
from clinic.exam.resources import Treatment
from clinic.followup import services
from clinic.followup.resources import SafeContactPlan
from tests.exam.helpers import call as exam_call
from tests.exam.helpers import complete_exam


def call(app: Flask, username: str, operation: Callable[..., Any], **arguments: Any) -> Any:
    """One follow-up service call in its own transaction, as `username`."""
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        needs_schedules = operation in (services.propose_plan, services.agree_plan)
        extra = {"zone": app.config["CLINIC_TIMEZONE"]} if needs_zone(operation) else {}
        result = (
            operation(
                uow,
                app.extensions["clinic.profiles"],
                app.extensions["clinic.followup_schedules"],
                actor=actor_for(user),
                **extra,
                **arguments,
            )
            if needs_schedules
            else operation(
                uow, app.extensions["clinic.profiles"], actor=actor_for(user), **extra, **arguments
            )
        )
        uow.session.expunge_all()
        return result


def needs_zone(operation: Callable[..., Any]) -> bool:
    return operation in (services.propose_plan, services.agree_plan, services.read_plan)


def signed_exam(
    app: Flask, case_id: str, *, pep: bool = True, given_at: datetime | None = None
) -> str:
    """An exam signed off with emergency contraception (complete_exam gives it) and,
    unless `pep` is False, an HIV PEP starter pack."""
    exam_id = complete_exam(app, case_id)
    if pep:
        exam_call(
            app,
            "examiner",
            exam_services.add_treatment,
            exam_id=exam_id,
            treatment=Treatment(
                "hiv-pep-starter",
                "Tenofovir/emtricitabine + raltegravir, 5 days",
                None,
                True,
                None,
                given_at or utcnow() - timedelta(minutes=5),
            ),
        )
    exam_call(app, "examiner", exam_services.sign_off, exam_id=exam_id)
    return exam_id


def keep_all(proposal: services.Proposal) -> services.PlanReview:
    return services.PlanReview(
        items=[
            services.ReviewedItem(p.item.code, True, p.item.due_on, p.item.responsible)
            for p in proposal.items
        ],
        referrals=["refuge"],
        agreed_with_her=True,
        # She allows calls only, in the mornings, after her code word.
        contact=SafeContactPlan(("call",), "Weekday mornings", True),
    )


def agreed_plan(app: Flask, exam_id: str) -> str:
    proposal = call(app, "examiner", services.propose_plan, exam_id=exam_id)
    plan = call(app, "examiner", services.agree_plan, exam_id=exam_id, review=keep_all(proposal))
    return str(plan.id)
