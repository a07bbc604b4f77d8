"""The form an examiner fills to open a medical expert's account."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional


class AppointExpertForm(FlaskForm):
    display_name = StringField(
        _l("The expert's name, as written in her photo consent"),
        validators=[DataRequired(_l("Give the expert's name.")), Length(max=200)],
    )
    username = StringField(
        _l("Username for the expert"),
        validators=[DataRequired(_l("Choose a username.")), Length(max=64)],
    )
    password = PasswordField(
        _l("First password (give it to the expert in person)"),
        validators=[DataRequired(_l("Choose a first password.")), Length(max=200)],
    )
    ends_on = DateField(
        _l("Last day the expert may sign in"),
        validators=[Optional()],
        format="%Y-%m-%d",
    )
