"""Photograph forms. Choices come from the vocabularies the FHIR Media uses (views,
body regions), so the form, the codes and the record cannot drift apart."""

from __future__ import annotations

from typing import Any

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
from clinic.media.resources import VIEWS


class PhotoForm(FlaskForm):
    photos = MultipleFileField("Photographs")
    view = RadioField(
        "View",
        choices=[SelectChoice(code, text) for code, text in VIEWS.items()],
        validators=[InputRequired("Choose the view.")],
    )
    region = SelectField(
        "Body region",
        choices=[SelectChoice("", "— choose —")]
        + [SelectChoice(code, text) for code, text in BODY_REGIONS.items()],
        validators=[DataRequired("Choose the body region.")],
    )
    site = StringField(
        "Exactly where (side and place)",
        validators=[DataRequired("Say exactly where."), Length(max=200)],
    )
    injury = SelectField("Injury shown (optional)", validators=[Optional()])
    scale_in_frame = BooleanField("A scale is in the frame")
    intimate = BooleanField("Intimate image (genital or anal area)")
    amendment_reason = TextAreaField(
        "Why are you amending the signed exam?", validators=[Optional(), Length(max=2000)]
    )

    def __init__(self, *args: Any, injuries: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.injury.choices = [SelectChoice("", "— none —")] + [
            SelectChoice(slot, text) for slot, text in injuries
        ]


class OpenPhotoForm(FlaskForm):
    """Opening an intimate image (or downloading an original) on purpose."""

    reason = TextAreaField(
        "Why are you opening this intimate image?",
        validators=[DataRequired("Say why you are opening it."), Length(max=500)],
    )


class OriginalForm(FlaskForm):
    """Downloading an intimate image's original: the reason it was opened with."""

    reason = HiddenField(validators=[DataRequired(), Length(max=500)])
