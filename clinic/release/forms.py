"""The release request a police officer files in the browser."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.fhir.terminology import lazy_display
from clinic.release.fhir import RELEASE_ITEM
from clinic.release.services import REQUESTABLE


class RequestForm(FlaskForm):
    cited_reference = StringField(
        _l("Case reference or kit label the survivor gave you"),
        validators=[Optional(), Length(max=64)],
    )
    crime_reference = StringField(
        _l("Your crime reference"), validators=[Optional(), Length(max=64)]
    )
    requested = SelectMultipleField(
        _l("What you ask for"),
        choices=[SelectChoice(code, lazy_display(RELEASE_ITEM, code)) for code in REQUESTABLE],
        validators=[Optional()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class ApproveForm(FlaskForm):
    """Approving is its own step: a button, with the computed set shown above it."""
