"""Follow-up forms: they shape input, the services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.followup.terms import ITEM_STATUS, RESPONSIBLE, SERVICE_KINDS

# The most items a plan may be reviewed with: far above any schedule.
MAX_ITEMS = 60


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ItemReview(Form):
    code = HiddenField(validators=[DataRequired(), Length(max=64)])
    keep = BooleanField("Keep in her plan")
    due_on = DateField("Due", validators=[Optional()])
    responsible = SelectField(
        "Who carries it", choices=[SelectChoice(code, label) for code, label in RESPONSIBLE.items()]
    )


class PlanReviewForm(FlaskForm):
    items = FieldList(FormField(ItemReview), min_entries=0, max_entries=MAX_ITEMS)
    referrals = CheckboxesField(
        "Referrals she wants",
        choices=[SelectChoice(code, label) for code, label in SERVICE_KINDS.items()],
        validate_choice=False,  # the service refuses an unknown kind with its own message
    )
    agreed_with_her = BooleanField("I went through this plan with her and she agrees to it")


class ItemStatusForm(FlaskForm):
    status = SelectField(
        "What became of it",
        choices=[SelectChoice(code, label) for code, label in ITEM_STATUS.items()],
        validate_choice=False,
    )
