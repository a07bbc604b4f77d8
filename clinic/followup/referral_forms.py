"""Referral and directory forms: they shape input, the services decide."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional

from clinic.fhir.terminology import lazy_display
from clinic.followup.terms import REFERRAL_STATUS, SERVICE_KIND_SYSTEM, SERVICE_KINDS


class ReferralForm(FlaskForm):
    # Choices are her site's directory, filled by the view; the service checks them.
    service = RadioField(
        _l("Partner service"),
        validators=[DataRequired(_l("Choose a service from her site's directory."))],
        validate_choice=False,
    )
    reason = TextAreaField(_l("What she wants from them (optional)"), validators=[Optional()])
    she_declined = BooleanField(_l("She declined this referral when it was offered"))


class ReferralStatusForm(FlaskForm):
    status = SelectField(
        _l("What became of the referral"),
        choices=[SelectChoice(code, _l(label)) for code, label in REFERRAL_STATUS.items()],
        validators=[DataRequired(_l("Choose what became of the referral."))],
        validate_choice=False,
    )
    outcome = TextAreaField(_l("Outcome (optional)"), validators=[Optional()])


class PartnerServiceForm(FlaskForm):
    site = SelectField(
        _l("Site"), validators=[DataRequired(_l("Choose the site."))], validate_choice=False
    )
    kind = SelectField(
        _l("Kind of service"),
        choices=[
            SelectChoice("", _l("Choose…")),
            *(
                SelectChoice(code, lazy_display(SERVICE_KIND_SYSTEM, code))
                for code in SERVICE_KINDS
            ),
        ],
        validators=[DataRequired(_l("Choose the kind of service."))],
        validate_choice=False,
    )
    name = StringField(_l("Service name"), validators=[Optional()])
    organisation = StringField(_l("Organisation"), validators=[Optional()])
    phone = StringField(_l("Phone"), validators=[Optional()])
    email = StringField(_l("Email"), validators=[Optional()])
    address = StringField(_l("Address"), validators=[Optional()])
    languages = StringField(_l("Languages (codes, such as: en fr es)"), default="en")
    accepts = TextAreaField(_l("Whom they accept"), validators=[Optional()])
    has_account = BooleanField(_l("They have an account in this system"))
