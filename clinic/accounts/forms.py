from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from clinic.access.roles import ROLE_ORGANIZATION_KIND, OrganizationKind, Role


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class LogoutForm(FlaskForm):
    pass


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[Optional(), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "none"},
    )
    # Filled by static/passkey.js when the person confirms with a passkey instead.
    credential = HiddenField()


class TokenForm(FlaskForm):
    name = StringField(_l("What will use this token"), validators=[DataRequired(), Length(max=100)])
    days = IntegerField(
        _l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(min=1, max=365)]
    )


class RevokeForm(FlaskForm):
    pass


class UserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(min=3, max=64)],
        render_kw={"autocapitalize": "none"},
    )
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(role.value, _l(role.label)) for role in Role if role is not Role.EXPERT
        ],
        validators=[DataRequired()],
    )
    organization_id = SelectField(_l("Site or organisation"), validators=[DataRequired()])
    professional_registration = StringField(
        _l("Professional registration (optional)"), validators=[Optional(), Length(max=64)]
    )
    password = PasswordField(
        _l("Initial password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, *args: Any, organizations: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only organisations people can belong to: clinic sites first, then forces.
        homes = {kind.value for kind in ROLE_ORGANIZATION_KIND.values()}
        candidates = [org for org in organizations if org.is_active and org.kind in homes]
        candidates.sort(key=lambda org: (org.kind != OrganizationKind.SITE.value, org.name))
        self.organization_id.choices = [
            SelectChoice(org.id, f"{org.name} ({org.code})") for org in candidates
        ]


class OrganizationForm(FlaskForm):
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    code = StringField(
        _l("Code (e.g. NORTH)"),
        validators=[DataRequired(), Length(min=2, max=32)],
        render_kw={"autocapitalize": "characters"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = [SelectChoice(kind.value, kind.display) for kind in OrganizationKind]


class OrganizationEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    is_active = BooleanField(_l("Active"))


class ActivationForm(FlaskForm):
    pass


class RegistrationForm(FlaskForm):
    professional_registration = StringField(
        _l("Professional registration"), validators=[Optional(), Length(max=64)]
    )


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )


class EnrolForm(FlaskForm):
    code = StringField(
        _l("The 6-digit code your app shows now"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class FactorResetForm(FlaskForm):
    username = StringField(
        _l("Username of the person who lost their second factor"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocapitalize": "none"},
    )
    reason = StringField(
        _l("How they proved who they are"), validators=[DataRequired(), Length(max=500)]
    )


class PasskeyForm(FlaskForm):
    """The browser's answer to a passkey challenge, filled by static/passkey.js;
    its form (JSON, base64url) is checked by the service (400 when unreadable)."""

    credential = HiddenField()


class PasskeyEnrolForm(PasskeyForm):
    name = StringField(
        _l("A name for this passkey (e.g. the device that keeps it)"),
        validators=[DataRequired(), Length(max=100)],
        render_kw={"autocomplete": "off"},
    )
    # Asked at sign-in when she already has the app: a password alone never adds
    # a passkey to an account that has a second factor.
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[Optional(), Length(max=32)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
