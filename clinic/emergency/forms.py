from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class BreakGlassForm(FlaskForm):
    reference = StringField(
        _l("Case reference"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    reason = TextAreaField(
        _l("Why you must open this case now"),
        validators=[DataRequired(), Length(max=2000)],
        render_kw={"rows": 4},
    )


class ReviewForm(FlaskForm):
    outcome = RadioField(
        _l("Outcome"),
        choices=[
            SelectChoice("justified", _l("Justified")),
            SelectChoice("not-justified", _l("Not justified")),
            SelectChoice("referred", _l("Referred for further action")),
        ],
        validators=[DataRequired()],
    )
    note = TextAreaField(
        _l("Note"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 4}
    )
