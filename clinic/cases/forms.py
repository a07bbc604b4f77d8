from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from clinic.cases.models import ProxyRelationship, ReportingMode
from clinic.cases.services import MODE_LABELS

MODE_CHOICES = [SelectChoice(mode.value, MODE_LABELS[mode]) for mode in ReportingMode]
PROXY_CHOICES = [SelectChoice("", "— no proxy —")] + [
    SelectChoice(r.value, r.value.replace("-", " ").capitalize()) for r in ProxyRelationship
]


class RegistrationForm(FlaskForm):
    identity = RadioField(
        "How is the survivor registered?",
        choices=[
            SelectChoice("identified", "Identified: we hold her name and contact details"),
            SelectChoice("anonymous", "Anonymous: no identity held, only the case reference"),
        ],
        validators=[DataRequired(message="Choose identified or anonymous.")],
    )
    reporting_mode = RadioField(
        "Reporting mode", choices=MODE_CHOICES, validators=[DataRequired("Choose one.")]
    )
    name = StringField("Full name", validators=[Optional(), Length(max=200)])
    birth_date = DateField("Date of birth", validators=[Optional()])
    age_years = IntegerField(
        "Age in years (anonymous: as told or estimated)",
        validators=[Optional(), NumberRange(min=0, max=120)],
    )
    gender = SelectField(
        "Gender (optional)",
        choices=[
            SelectChoice("", "— not recorded —"),
            SelectChoice("female", "Female"),
            SelectChoice("male", "Male"),
            SelectChoice("other", "Other"),
            SelectChoice("unknown", "Unknown"),
        ],
        validators=[Optional()],
    )
    phone = StringField("Phone number that is safe to use", validators=[Optional(), Length(max=40)])
    email = EmailField("Email (optional)", validators=[Optional(), Email(), Length(max=200)])
    may_call = BooleanField("We may phone her")
    may_text = BooleanField("We may send text messages")
    may_leave_message = BooleanField("We may leave voicemail or messages")
    code_word = StringField(
        "Code word (she says it to confirm it is her)", validators=[Optional(), Length(max=40)]
    )
    contact_instructions = TextAreaField(
        "Safe-contact instructions (safe times, who else may answer, what not to say)",
        validators=[Optional(), Length(max=1000)],
    )
    proxy_relationship = SelectField(
        "Who acts for her (required for a survivor under 18)",
        choices=PROXY_CHOICES,
        validators=[Optional()],
    )
    proxy_name = StringField(
        "Proxy's name (not for an anonymous survivor)", validators=[Optional(), Length(max=200)]
    )
    proxy_reason = StringField("Why a proxy acts", validators=[Optional(), Length(max=500)])


class ReportingModeForm(FlaskForm):
    mode = RadioField("New reporting mode", choices=MODE_CHOICES, validators=[DataRequired()])
    reason = TextAreaField(
        "How the survivor told us, and why (for example: in person at the follow-up visit; "
        "by phone after she gave her code word)",
        validators=[DataRequired("Say how the survivor told us."), Length(max=1000)],
    )


class FindCaseForm(FlaskForm):
    class Meta:
        csrf = False

    reference = StringField("Case reference", validators=[Optional(), Length(max=20)])
