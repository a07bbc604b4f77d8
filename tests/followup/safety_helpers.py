"""An intimate-partner case as the clinic records it: an exam whose incident names
her partner, with strangulation and her immediate-safety answers, signed off with
emergency contraception and HIV PEP given; then her plan agreed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam import services as exam_services
from clinic.exam.resources import Answer, Treatment
from clinic.followup import safety
from clinic.followup.safety_checklist import QUESTIONS
from tests.exam.helpers import call as exam_call
from tests.exam.helpers import complete_exam, history
from tests.followup.helpers import agreed_plan


def partner_exam(
    app: Flask, case_id: str, *, relationship: str = "partner", self_harm: Answer = Answer.NO
) -> str:
    exam_id = complete_exam(app, case_id)
    exam_call(
        app,
        "examiner",
        exam_services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES),
    )
    steps: dict[str, dict[str, dict[str, Any]]] = {
        "incident": {
            "incident": {"weapons": Answer.NO, "threats": Answer.YES},
            "assailant:1": {"relationship": relationship, "sex": "male"},
        },
        "strangulation": {"strangulation": {"loss-of-consciousness": Answer.YES}},
        "mental-state": {
            "mental-state": {
                "self-harm-thoughts": self_harm,
                "harm-others-thoughts": Answer.NO,
                "safe-place-tonight": Answer.NO,
                "assailant-risk": Answer.YES,
                # Free text never carries over, whatever it says.
                "safety-actions": "She says he has a weapon at home and threatened to kill her.",
            }
        },
    }
    for step, answers in steps.items():
        exam_call(
            app,
            "examiner",
            exam_services.record_structured_step,
            exam_id=exam_id,
            step=step,
            answers=answers,
        )
    exam_call(
        app,
        "examiner",
        exam_services.add_treatment,
        exam_id=exam_id,
        treatment=Treatment(
            "hiv-pep-starter", "Tenofovir/emtricitabine + raltegravir", None, True, None, utcnow()
        ),
    )
    exam_call(app, "examiner", exam_services.sign_off, exam_id=exam_id)
    return exam_id


def partner_plan(app: Flask, case_id: str, **kwargs: Any) -> str:
    return agreed_plan(app, partner_exam(app, case_id, **kwargs))


def call(app: Flask, username: str, operation: Callable[..., Any], **arguments: Any) -> Any:
    """One safety service call in its own transaction, as `username`."""
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        extra: dict[str, Any] = {}
        if operation in (safety.read_safety, safety.record_assessment):
            extra["sites"] = app.extensions["clinic.site_settings"]
        result = operation(
            uow,
            app.extensions["clinic.profiles"],
            **extra,
            actor=actor_for(user),
            **arguments,
        )
        uow.session.expunge_all()
        return result


def answers(yes: int, rest: str = "no") -> dict[str, str]:
    """The first `yes` questions answered yes, the others `rest`."""
    return {q.code: ("yes" if n < yes else rest) for n, q in enumerate(QUESTIONS)}
