"""The form an examiner fills to open a medical expert's account."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional


class AppointExpertForm(FlaskForm):
    display_name = StringField(
        "The expert's name, as written in her photo consent",
        validators=[DataRequired("Give the expert's name."), Length(max=200)],
    )
    username = StringField(
        "Username for the expert", validators=[DataRequired("Choose a username."), Length(max=64)]
    )
    password = PasswordField(
        "First password (give it to the expert in person)",
        validators=[DataRequired("Choose a first password."), Length(max=200)],
    )
    ends_on = DateField(
        "Last day the expert may sign in",
        validators=[Optional()],
        format="%Y-%m-%d",
    )
