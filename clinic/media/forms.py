"""Photograph forms. Choices come from the vocabularies the FHIR Media uses (views,
body regions), so the form, the codes and the record cannot drift apart."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from clinic.exam.resources import BODY_REGIONS
from clinic.fhir.terminology import lazy_display
from clinic.media.resources import VIEWS


class PhotoForm(FlaskForm):
    photos = MultipleFileField(_l("Photographs"))
    view = RadioField(
        _l("View"),
        choices=[SelectChoice(code, lazy_display("photo-view", code)) for code in VIEWS],
        validators=[InputRequired(_l("Choose the view."))],
    )
    region = SelectField(
        _l("Body region"),
        choices=[SelectChoice("", _l("— choose —"))]
        + [SelectChoice(code, lazy_display("body-region", code)) for code in BODY_REGIONS],
        validators=[DataRequired(_l("Choose the body region."))],
    )
    site = StringField(
        _l("Exactly where (side and place)"),
        validators=[DataRequired(_l("Say exactly where.")), Length(max=200)],
    )
    injury = SelectField(_l("Injury shown (optional)"), validators=[Optional()])
    scale_in_frame = BooleanField(_l("A scale is in the frame"))
    # An explicit answer every time: an intimate image saved as an ordinary one
    # would be seen by people who must not see it.
    intimate = RadioField(
        _l("Are these intimate images (genital or anal area)?"),
        choices=[SelectChoice("no", _l("No")), SelectChoice("yes", _l("Yes: intimate images"))],
        validators=[
            InputRequired(
                _l("Say whether these are intimate images (genital or anal area): yes or no.")
            )
        ],
    )
    amendment_reason = TextAreaField(
        _l("Why are you amending the signed exam?"), validators=[Optional(), Length(max=2000)]
    )

    def __init__(self, *args: Any, injuries: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.injury.choices = [SelectChoice("", _l("— none —"))] + [
            SelectChoice(slot, text) for slot, text in injuries
        ]


class OpenPhotoForm(FlaskForm):
    """Opening an intimate image (or downloading an original) on purpose."""

    reason = TextAreaField(
        _l("Why are you opening this intimate image?"),
        validators=[DataRequired(_l("Say why you are opening it.")), Length(max=500)],
    )


class OriginalForm(FlaskForm):
    """Downloading an intimate image's original: the reason it was opened with."""

    reason = HiddenField(validators=[DataRequired(), Length(max=500)])


CHANGES = {
    "intimate": "It is an intimate image (genital or anal area): mark it so",
    "not-intimate": "It is not an intimate image: mark it so",
    "retire": "It was taken in error (wrong person, exam, body site or view): retire it",
}


class CorrectPhotoForm(FlaskForm):
    """Correcting a photograph: classify it again, or retire it, with a reason."""

    change = RadioField(
        _l("What is wrong with this photograph?"),
        validators=[InputRequired(_l("Choose what to correct."))],
    )
    reason = TextAreaField(
        _l("Why (kept with the photograph and in the exam's record)"),
        validators=[
            DataRequired(_l("Say why you are correcting this photograph.")),
            Length(max=500),
        ],
    )

    def __init__(self, *args: Any, intimate: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered = ("not-intimate" if intimate else "intimate", "retire")
        self.change.choices = [SelectChoice(code, CHANGES[code]) for code in offered]
