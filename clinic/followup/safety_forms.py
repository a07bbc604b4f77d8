"""The safety assessment's form: one yes / no / not asked radio group per question of
the checklist (field `answer-<code>`), professional judgement, and the safety plan.
It shapes input; the service decides."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from clinic.fhir.terminology import lazy_display
from clinic.followup.forms import CheckboxesField
from clinic.followup.safety_checklist import (
    ANSWER_SYSTEM,
    ANSWERS,
    KEEP_READY,
    QUESTION_SYSTEM,
    QUESTIONS,
)
from clinic.followup.safety_resources import KEEP_READY_SYSTEM


class SafetyAssessmentForm(FlaskForm):
    high_on_judgement = BooleanField(
        _l("High risk on my professional judgement, whatever the total")
    )
    judgement_reason = TextAreaField(
        _l("Why (recorded with the assessment)"), validators=[Optional(), Length(max=1000)]
    )
    safe_places = TextAreaField(
        _l("Safe places she can go (one per line)"), validators=[Optional(), Length(max=4000)]
    )
    people_to_call = TextAreaField(
        _l("People she can call (one per line)"), validators=[Optional(), Length(max=4000)]
    )
    code_word = StringField(
        _l("Code word agreed with them"), validators=[Optional(), Length(max=100)]
    )
    keep_ready = CheckboxesField(
        _l("What she keeps ready"),
        choices=[SelectChoice(code, lazy_display(KEEP_READY_SYSTEM, code)) for code in KEEP_READY],
        validate_choice=False,
    )
    keep_ready_other = StringField(
        _l("Anything else to keep ready"), validators=[Optional(), Length(max=200)]
    )
    referrals = CheckboxesField(
        _l("Her refuge and advocate referrals in the plan"), choices=[], validate_choice=False
    )

    def answers(self) -> dict[str, str]:
        return {q.code: self[f"answer-{q.code}"].data or "" for q in QUESTIONS}

    def answer_fields(self) -> list[Any]:
        return [self[f"answer-{q.code}"] for q in QUESTIONS]


for _question in QUESTIONS:
    setattr(
        SafetyAssessmentForm,
        f"answer-{_question.code}",
        RadioField(
            lazy_display(QUESTION_SYSTEM, _question.code),
            choices=[SelectChoice(code, lazy_display(ANSWER_SYSTEM, code)) for code in ANSWERS],
            validate_choice=False,
        ),
    )
