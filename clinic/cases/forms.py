from __future__ import annotations

from flask_babel import lazy_gettext as _l
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
from clinic.cases.services import MODE_LABELS, SURVIVOR_LANGUAGES
from clinic.i18n import N_

PROXY_LABELS = {
    ProxyRelationship.PARENT: N_("Parent"),
    ProxyRelationship.GUARDIAN: N_("Guardian"),
    ProxyRelationship.LEGAL_REPRESENTATIVE: N_("Legal representative"),
    ProxyRelationship.OTHER: N_("Other"),
}
# Each language named in itself, so that she can point to her own.
LANGUAGE_CHOICES = [SelectChoice("", _l("— as in her latest consent —"))] + [
    SelectChoice(code, name) for code, name in SURVIVOR_LANGUAGES.items()
]
MODE_CHOICES = [SelectChoice(mode.value, _l(MODE_LABELS[mode])) for mode in ReportingMode]
PROXY_CHOICES = [SelectChoice("", _l("— no proxy —"))] + [
    SelectChoice(r.value, _l(PROXY_LABELS[r])) for r in ProxyRelationship
]


class RegistrationForm(FlaskForm):
    identity = RadioField(
        _l("How is the survivor registered?"),
        choices=[
            SelectChoice("identified", _l("Identified: we hold her name and contact details")),
            SelectChoice("anonymous", _l("Anonymous: no identity held, only the case reference")),
        ],
        validators=[DataRequired(message=_l("Choose identified or anonymous."))],
    )
    reporting_mode = RadioField(
        _l("Reporting mode"), choices=MODE_CHOICES, validators=[DataRequired(_l("Choose one."))]
    )
    name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    birth_date = DateField(_l("Date of birth"), validators=[Optional()])
    age_years = IntegerField(
        _l("Age in years (anonymous: as told or estimated)"),
        validators=[Optional(), NumberRange(min=0, max=120)],
    )
    gender = SelectField(
        _l("Gender (optional)"),
        choices=[
            SelectChoice("", _l("— not recorded —")),
            SelectChoice("female", _l("Female")),
            SelectChoice("male", _l("Male")),
            SelectChoice("other", _l("Other")),
            SelectChoice("unknown", _l("Unknown")),
        ],
        validators=[Optional()],
    )
    phone = StringField(
        _l("Phone number that is safe to use"), validators=[Optional(), Length(max=40)]
    )
    email = EmailField(_l("Email (optional)"), validators=[Optional(), Email(), Length(max=200)])
    may_call = BooleanField(_l("We may phone her"))
    may_text = BooleanField(_l("We may send text messages"))
    may_leave_message = BooleanField(_l("We may leave voicemail or messages"))
    code_word = StringField(
        _l("Code word (she says it to confirm it is her)"), validators=[Optional(), Length(max=40)]
    )
    contact_instructions = TextAreaField(
        _l("Safe-contact instructions (safe times, who else may answer, what not to say)"),
        validators=[Optional(), Length(max=1000)],
    )
    proxy_relationship = SelectField(
        _l("Who acts for her (required for a survivor under 18)"),
        choices=PROXY_CHOICES,
        validators=[Optional()],
    )
    proxy_name = StringField(
        _l("Proxy's name (not for an anonymous survivor)"), validators=[Optional(), Length(max=200)]
    )
    proxy_reason = StringField(_l("Why a proxy acts"), validators=[Optional(), Length(max=500)])
    language = SelectField(
        _l("The language she reads (for her case card and what else she takes home)"),
        choices=LANGUAGE_CHOICES,
        validators=[Optional()],
    )


class ReportingModeForm(FlaskForm):
    mode = RadioField(_l("New reporting mode"), choices=MODE_CHOICES, validators=[DataRequired()])
    reason = TextAreaField(
        _l(
            "How the survivor told us, and why (for example: in person at the follow-up visit; "
            "by phone after she gave her code word)"
        ),
        validators=[DataRequired(_l("Say how the survivor told us.")), Length(max=1000)],
    )


class SurvivorLanguageForm(FlaskForm):
    language = SelectField(
        _l("The language she reads"),
        choices=LANGUAGE_CHOICES[1:],
        validators=[DataRequired(_l("Choose her language."))],
    )


class FindCaseForm(FlaskForm):
    class Meta:
        csrf = False

    reference = StringField(_l("Case reference"), validators=[Optional(), Length(max=20)])
