"""Driving the exam service as an examiner does, one transaction per call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam import services
from clinic.exam.resources import ACTIVITIES, ACTS, Answer, Injury, Treatment
from clinic.exam.timing import WINDOWS, AssaultTiming, TimingKind


def call(app: Flask, username: str, operation: Callable[..., Any], **arguments: Any) -> Any:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        result = operation(
            uow, app.extensions["clinic.profiles"], actor=actor_for(user), **arguments
        )
        if isinstance(result, services.ExamRecord):
            uow.session.expunge_all()
        elif hasattr(result, "_sa_instance_state"):
            uow.session.expunge(result)
        return result


def start(app: Flask, case_id: str, username: str = "examiner") -> str:
    return str(call(app, username, services.start_exam, case_id=case_id).id)


def read(app: Flask, exam_id: str, username: str = "examiner") -> services.ExamRecord:
    return call(app, username, services.read_exam, exam_id=exam_id)  # type: ignore[no-any-return]


def history(**acts: Answer) -> services.History:
    return services.History(
        narrative="He held me down and I couldn't breathe.",
        demeanour="Quiet, tearful, answered every question.",
        acts={code: acts.get(code.replace("-", "_"), Answer.NO) for code in ACTS},
        means={},
        activities={code: Answer.UNKNOWN for code in ACTIVITIES},
    )


INJURY = Injury(
    kind="bruise",
    region="forearm",
    site="left forearm, inner side",
    length_mm=Decimal(30),
    width_mm=Decimal(12),
    shape="oval",
    colour="blue-purple",
    description="Tender on touch.",
)


def record_exam_consent(app: Flask, case_id: str, **agreed: bool) -> str:
    """Her examination and treatment consent, every part agreed unless said
    otherwise (`anogenital_exam=False`), as the nurse records it before the exam."""
    from tests.consent.helpers import all_items, record

    answers = all_items(app, "exam-treatment/v1")
    answers |= {item.replace("_", "-"): value for item, value in agreed.items()}
    return record(app, case_id, "exam-treatment/v1", answers)


def record_vitals(
    app: Flask, exam_id: str, *, findings: str = "", **values: int | str | Decimal
) -> None:
    """The general examination with these vital signs (heart_rate=88,
    temperature="36.8", ...), recorded by the examiner."""
    vitals = services.Vitals(**{name: Decimal(value) for name, value in values.items()})
    call(
        app,
        "examiner",
        services.record_general,
        exam_id=exam_id,
        general=services.GeneralExam(findings, vitals),
    )


def complete_exam(app: Flask, case_id: str, *, hours_ago: float = 20, consent: bool = True) -> str:
    """An exam with every step needed for sign-off (her consent recorded first,
    unless `consent` is False), the assault `hours_ago`."""
    if consent:
        record_exam_consent(app, case_id)
    exam_id = start(app, case_id)
    now = utcnow()
    call(
        app,
        "examiner",
        services.record_timing,
        exam_id=exam_id,
        timing=AssaultTiming(TimingKind.EXACT, at=now - timedelta(hours=hours_ago)),
        exam_time=now,
    )
    call(app, "examiner", services.record_history, exam_id=exam_id, history=history())
    call(app, "examiner", services.add_injury, exam_id=exam_id, injury=INJURY)
    call(
        app,
        "examiner",
        services.add_treatment,
        exam_id=exam_id,
        treatment=Treatment(
            "emergency-contraception", "Levonorgestrel 1.5 mg", "one tablet", True, None, now
        ),
    )
    decide_every_window(app, exam_id)
    return exam_id


def decide_every_window(app: Flask, exam_id: str) -> None:
    """Follow the guidance on every window (again, after it changed)."""
    for window in WINDOWS:
        call(
            app,
            "examiner",
            services.decide_window,
            exam_id=exam_id,
            window_code=window.code,
            overridden=False,
        )
