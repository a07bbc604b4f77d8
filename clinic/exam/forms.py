"""Exam step forms. The checklists and window lists are built from the exam's
own vocabularies, so the form, the FHIR codes and the report cannot drift apart."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from clinic.bodymap.diagrams import diagram_book
from clinic.exam.resources import (
    ACTIVITIES,
    ACTS,
    BODY_REGIONS,
    CONSENT_ABSENT_REASONS,
    INJURY_TYPES,
    MEANS,
    PENETRATION_ACTS,
    TREATMENTS,
)
from clinic.exam.timing import WINDOWS

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
ANSWER_CHOICES = [
    SelectChoice("yes", "Yes"),
    SelectChoice("no", "No"),
    SelectChoice("unknown", "Not known"),
]


def _reason_field() -> TextAreaField:
    return TextAreaField(
        "Why are you amending the signed exam?", validators=[Optional(), Length(max=2000)]
    )


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TimingForm(FlaskForm):
    exam_time = DateTimeLocalField(
        "Time of the exam",
        format=DATETIME_FORMAT,
        validators=[DataRequired("Enter the date and time of the exam.")],
    )
    timing_kind = RadioField(
        "When did the assault happen?",
        choices=[
            SelectChoice("exact", "She knows the date and time"),
            SelectChoice("range", "Between two times"),
            SelectChoice("unknown", "Not known"),
        ],
        validators=[InputRequired("Choose one.")],
    )
    assault_at = DateTimeLocalField(
        "Date and time of the assault", format=DATETIME_FORMAT, validators=[Optional()]
    )
    assault_earliest = DateTimeLocalField(
        "Earliest it could have been", format=DATETIME_FORMAT, validators=[Optional()]
    )
    assault_latest = DateTimeLocalField(
        "Latest it could have been", format=DATETIME_FORMAT, validators=[Optional()]
    )
    amendment_reason = _reason_field()


class HistoryFormBase(FlaskForm):
    narrative = TextAreaField(
        "What happened, in her own words",
        validators=[Length(max=20000)],
    )
    demeanour = TextAreaField("Demeanour", validators=[Optional(), Length(max=4000)])
    amendment_reason = _reason_field()


def _history_form_class() -> type[HistoryFormBase]:
    fields: dict[str, Any] = {}
    for code, label in ACTS.items():
        fields[f"act_{code}"] = RadioField(
            label,
            choices=ANSWER_CHOICES,
            validators=[InputRequired("Answer yes, no or not known.")],
        )
        if code in PENETRATION_ACTS:
            fields[f"means_{code}"] = CheckboxesField(
                f"{label}: by what?",
                choices=[SelectChoice(key, text) for key, text in MEANS.items()],
                validators=[Optional()],
            )
    for code, label in ACTIVITIES.items():
        fields[f"activity_{code}"] = RadioField(
            label,
            choices=ANSWER_CHOICES,
            validators=[InputRequired("Answer yes, no or not known.")],
        )
    return type("HistoryForm", (HistoryFormBase,), fields)


HistoryForm = _history_form_class()


def _measure(label: str, low: float, high: float) -> DecimalField:
    return DecimalField(
        label,
        places=None,
        validators=[
            Optional(),
            NumberRange(min=low, max=high, message=f"Enter a value from {low:g} to {high:g}."),
        ],
    )


class GeneralForm(FlaskForm):
    findings = TextAreaField("General examination", validators=[Optional(), Length(max=20000)])
    heart_rate = _measure("Heart rate (beats per minute)", 20, 250)
    respiratory_rate = _measure("Breaths per minute", 4, 80)
    temperature = _measure("Temperature (°C)", 30, 45)
    oxygen_saturation = _measure("Oxygen saturation (%)", 50, 100)
    systolic = _measure("Systolic blood pressure (mmHg)", 50, 260)
    diastolic = _measure("Diastolic blood pressure (mmHg)", 20, 180)
    amendment_reason = _reason_field()


class InjuryForm(FlaskForm):
    kind = SelectField(
        "Type of injury",
        choices=[SelectChoice("", "— choose —")]
        + [SelectChoice(code, text) for code, text in INJURY_TYPES.items()],
        validators=[DataRequired("Choose the type of injury.")],
    )
    region = SelectField(
        "Body region",
        choices=[SelectChoice("", "— choose —")]
        + [SelectChoice(code, text) for code, text in BODY_REGIONS.items()],
        validators=[DataRequired("Choose the body region.")],
    )
    site = StringField(
        "Exactly where (side and place)",
        validators=[DataRequired("Say exactly where."), Length(max=300)],
    )
    length_mm = DecimalField(
        "Length (mm)",
        places=None,
        validators=[
            InputRequired("Enter the length in millimetres."),
            NumberRange(min=0.1, max=2000, message="Enter a length from 0.1 to 2000 mm."),
        ],
    )
    width_mm = DecimalField(
        "Width (mm, if measured)",
        places=None,
        validators=[
            Optional(),
            NumberRange(min=0.1, max=2000, message="Enter a width from 0.1 to 2000 mm."),
        ],
    )
    shape = StringField("Shape", validators=[Optional(), Length(max=200)])
    colour = StringField("Colour", validators=[Optional(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    # The body map mark: a drawing chosen from the list (the keyboard way), and
    # the point a tap placed (static/bodymap.js fills these hidden fields). The
    # service says what is wrong with a drawing it does not know.
    drawing = SelectField(
        "Mark it on the body diagram",
        choices=[SelectChoice("", "— no mark —")]
        + [SelectChoice(code, drawing.label) for code, drawing in diagram_book().drawings.items()],
        validate_choice=False,
    )
    mark_x = DecimalField(
        "Where the mark was tapped (across)",
        places=None,
        widget=HiddenInput(),
        validators=[Optional()],
    )
    mark_y = DecimalField(
        "Where the mark was tapped (down)",
        places=None,
        widget=HiddenInput(),
        validators=[Optional()],
    )
    move_mark = BooleanField("Move the mark to the middle of the region")
    amendment_reason = _reason_field()


class AnogenitalForm(FlaskForm):
    findings = TextAreaField(
        "Anogenital findings",
        validators=[Length(max=20000)],
    )
    speculum = TextAreaField(
        "Speculum examination findings (if a speculum was used)",
        validators=[Length(max=20000)],
    )
    amendment_reason = _reason_field()


class RemoveDeclinedForm(FlaskForm):
    """Take back findings recorded before she declined their part."""

    amendment_reason = _reason_field()


class ConsentAbsentForm(FlaskForm):
    why = RadioField(
        "Why could she not consent?",
        choices=[SelectChoice(code, label) for code, label in CONSENT_ABSENT_REASONS.items()],
        validators=[InputRequired("Choose why she could not consent.")],
    )
    details = TextAreaField(
        "What you saw and why you examined her without her consent",
        validators=[Optional(), Length(max=4000)],
    )
    amendment_reason = _reason_field()


class ConsentReviewForm(FlaskForm):
    note = TextAreaField(
        "Your review: what you checked and what you concluded",
        validators=[
            DataRequired("Write what you reviewed and what you concluded."),
            Length(max=4000),
        ],
    )


class GuidanceFormBase(FlaskForm):
    amendment_reason = _reason_field()


def _guidance_form_class() -> type[GuidanceFormBase]:
    fields: dict[str, Any] = {}
    for window in WINDOWS:
        fields[f"decision_{window.code}"] = RadioField(
            window.label,
            choices=[
                SelectChoice("confirmed", "Follow the guidance"),
                SelectChoice("overridden", "Decide otherwise (say why)"),
            ],
            validators=[Optional()],
        )
        fields[f"reason_{window.code}"] = TextAreaField(
            f"{window.label}: why are you deciding otherwise?",
            validators=[Optional(), Length(max=2000)],
        )
    return type("GuidanceForm", (GuidanceFormBase,), fields)


GuidanceForm = _guidance_form_class()


class TreatmentForm(FlaskForm):
    kind = SelectField(
        "Treatment",
        choices=[SelectChoice("", "— choose —")]
        + [SelectChoice(code, text) for code, text in TREATMENTS.items()],
        validators=[DataRequired("Choose the treatment.")],
    )
    medication = StringField(
        "Medicine (name and strength)",
        validators=[DataRequired("Write the medicine."), Length(max=300)],
    )
    dose = StringField("Dose and route, in words", validators=[Optional(), Length(max=300)])
    given = RadioField(
        "Given?",
        choices=[SelectChoice("given", "Given"), SelectChoice("declined", "Offered, not given")],
        validators=[InputRequired("Say whether it was given.")],
    )
    declined_reason = StringField("Why not given", validators=[Optional(), Length(max=1000)])
    at = DateTimeLocalField(
        "When", format=DATETIME_FORMAT, validators=[DataRequired("Enter when.")]
    )
    amendment_reason = _reason_field()


class SignForm(FlaskForm):
    confirm = BooleanField(
        "I examined the survivor and this record is complete and accurate",
        validators=[DataRequired("Confirm before signing.")],
    )
