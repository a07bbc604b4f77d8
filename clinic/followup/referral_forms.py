"""Referral and directory forms: they shape input, the services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional

from clinic.followup.terms import REFERRAL_STATUS, SERVICE_KINDS


class ReferralForm(FlaskForm):
    # Choices are her site's directory, filled by the view; the service checks them.
    service = RadioField(
        "Partner service",
        validators=[DataRequired("Choose a service from her site's directory.")],
        validate_choice=False,
    )
    reason = TextAreaField("What she wants from them (optional)", validators=[Optional()])
    she_declined = BooleanField("She declined this referral when it was offered")


class ReferralStatusForm(FlaskForm):
    status = SelectField(
        "What became of the referral",
        choices=[SelectChoice(code, label) for code, label in REFERRAL_STATUS.items()],
        validators=[DataRequired("Choose what became of the referral.")],
        validate_choice=False,
    )
    outcome = TextAreaField("Outcome (optional)", validators=[Optional()])


class PartnerServiceForm(FlaskForm):
    site = SelectField("Site", validators=[DataRequired("Choose the site.")], validate_choice=False)
    kind = SelectField(
        "Kind of service",
        choices=[
            SelectChoice("", "Choose…"),
            *(SelectChoice(code, label) for code, label in SERVICE_KINDS.items()),
        ],
        validators=[DataRequired("Choose the kind of service.")],
        validate_choice=False,
    )
    name = StringField("Service name", validators=[Optional()])
    organisation = StringField("Organisation", validators=[Optional()])
    phone = StringField("Phone", validators=[Optional()])
    email = StringField("Email", validators=[Optional()])
    address = StringField("Address", validators=[Optional()])
    languages = StringField("Languages (codes, such as: en fr es)", default="en")
    accepts = TextAreaField("Whom they accept", validators=[Optional()])
    has_account = BooleanField("They have an account in this system")
