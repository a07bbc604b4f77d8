"""Exam step forms. The checklists and window lists are built from the exam's
own vocabularies, so the form, the FHIR codes and the report cannot drift apart."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from clinic.bodymap.diagrams import diagram_book
from clinic.exam.lists import (
    ANOGENITAL_FINDINGS,
    ANOGENITAL_SITES,
    EXAM_METHODS,
    LAB_RESULTS,
    LAB_TESTS,
    STRUCTURED_STEPS,
    Kind,
    Question,
    StepSheets,
    answer_field,
    terms,
)
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
from clinic.fhir.terminology import lazy_display

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
ANSWER_CHOICES = [
    SelectChoice("yes", _l("Yes")),
    SelectChoice("no", _l("No")),
    SelectChoice("unknown", _l("Not known")),
]


def _reason_field() -> TextAreaField:
    return TextAreaField(
        _l("Why are you amending the signed exam?"), validators=[Optional(), Length(max=2000)]
    )


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TimingForm(FlaskForm):
    exam_time = DateTimeLocalField(
        _l("Time of the exam"),
        format=DATETIME_FORMAT,
        validators=[DataRequired(_l("Enter the date and time of the exam."))],
    )
    timing_kind = RadioField(
        _l("When did the assault happen?"),
        choices=[
            SelectChoice("exact", _l("She knows the date and time")),
            SelectChoice("range", _l("Between two times")),
            SelectChoice("unknown", _l("Not known")),
        ],
        validators=[InputRequired(_l("Choose one."))],
    )
    assault_at = DateTimeLocalField(
        _l("Date and time of the assault"), format=DATETIME_FORMAT, validators=[Optional()]
    )
    assault_earliest = DateTimeLocalField(
        _l("Earliest it could have been"), format=DATETIME_FORMAT, validators=[Optional()]
    )
    assault_latest = DateTimeLocalField(
        _l("Latest it could have been"), format=DATETIME_FORMAT, validators=[Optional()]
    )
    amendment_reason = _reason_field()


class HistoryFormBase(FlaskForm):
    narrative = TextAreaField(
        _l("What happened, in her own words"),
        validators=[Length(max=20000)],
    )
    demeanour = TextAreaField(_l("Demeanour"), validators=[Optional(), Length(max=4000)])
    amendment_reason = _reason_field()


def _history_form_class() -> type[HistoryFormBase]:
    fields: dict[str, Any] = {}
    for code in ACTS:
        act = lazy_display("assault-act", code)
        fields[f"act_{code}"] = RadioField(
            act,
            choices=ANSWER_CHOICES,
            validators=[InputRequired(_l("Answer yes, no or not known."))],
        )
        if code in PENETRATION_ACTS:
            fields[f"means_{code}"] = CheckboxesField(
                _l("%(act)s: by what?", act=act),
                choices=[
                    SelectChoice(key, lazy_display("penetration-means", key)) for key in MEANS
                ],
                validators=[Optional()],
            )
    for code in ACTIVITIES:
        fields[f"activity_{code}"] = RadioField(
            lazy_display("post-assault-activity", code),
            choices=ANSWER_CHOICES,
            validators=[InputRequired(_l("Answer yes, no or not known."))],
        )
    return type("HistoryForm", (HistoryFormBase,), fields)


HistoryForm = _history_form_class()


class Finite:
    """Refuses what Decimal parses but is no number: "NaN", "sNaN", "Infinity".
    Placed before any range check, which a signalling NaN would make raise."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or _l("Enter a number, not “NaN” or “infinity”.")

    def __call__(self, form: Any, field: Any) -> None:
        if field.data is not None and not field.data.is_finite():
            field.errors[:] = []
            raise StopValidation(self.message)


def _measure(label: str, low: float, high: float) -> DecimalField:
    lowest, highest = f"{low:g}", f"{high:g}"
    return DecimalField(
        label,
        places=None,
        validators=[
            Optional(),
            Finite(),
            NumberRange(
                min=low,
                max=high,
                message=_l("Enter a value from %(low)s to %(high)s.", low=lowest, high=highest),
            ),
        ],
    )


class GeneralForm(FlaskForm):
    findings = TextAreaField(_l("General examination"), validators=[Optional(), Length(max=20000)])
    heart_rate = _measure(_l("Heart rate (beats per minute)"), 20, 250)
    respiratory_rate = _measure(_l("Breaths per minute"), 4, 80)
    temperature = _measure(_l("Temperature (°C)"), 30, 45)
    oxygen_saturation = _measure(_l("Oxygen saturation (%)"), 50, 100)
    systolic = _measure(_l("Systolic blood pressure (mmHg)"), 50, 260)
    diastolic = _measure(_l("Diastolic blood pressure (mmHg)"), 20, 180)
    amendment_reason = _reason_field()


class InjuryForm(FlaskForm):
    kind = SelectField(
        _l("Type of injury"),
        choices=[SelectChoice("", _l("— choose —"))]
        + [SelectChoice(code, lazy_display("injury-type", code)) for code in INJURY_TYPES],
        validators=[DataRequired(_l("Choose the type of injury."))],
    )
    region = SelectField(
        _l("Body region"),
        choices=[SelectChoice("", _l("— choose —"))]
        + [SelectChoice(code, lazy_display("body-region", code)) for code in BODY_REGIONS],
        validators=[DataRequired(_l("Choose the body region."))],
    )
    site = StringField(
        _l("Exactly where (side and place)"),
        validators=[DataRequired(_l("Say exactly where.")), Length(max=300)],
    )
    length_mm = DecimalField(
        _l("Length (mm)"),
        places=None,
        validators=[
            InputRequired(_l("Enter the length in millimetres.")),
            Finite(),
            NumberRange(min=0.1, max=2000, message=_l("Enter a length from 0.1 to 2000 mm.")),
        ],
    )
    width_mm = DecimalField(
        _l("Width (mm, if measured)"),
        places=None,
        validators=[
            Optional(),
            Finite(),
            NumberRange(min=0.1, max=2000, message=_l("Enter a width from 0.1 to 2000 mm.")),
        ],
    )
    shape = StringField(_l("Shape"), validators=[Optional(), Length(max=200)])
    colour = StringField(_l("Colour"), validators=[Optional(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    # The body map mark: a drawing chosen from the list (the keyboard way), and
    # the point a tap placed (static/bodymap.js fills these hidden fields). The
    # service says what is wrong with a drawing it does not know.
    drawing = SelectField(
        _l("Mark it on the body diagram"),
        choices=[SelectChoice("", "— no mark —")]
        + [SelectChoice(code, drawing.label) for code, drawing in diagram_book().drawings.items()],
        validate_choice=False,
    )
    mark_x = DecimalField(
        _l("Where the mark was tapped (across)"),
        places=None,
        widget=HiddenInput(),
        validators=[Optional(), Finite()],
    )
    mark_y = DecimalField(
        _l("Where the mark was tapped (down)"),
        places=None,
        widget=HiddenInput(),
        validators=[Optional(), Finite()],
    )
    move_mark = BooleanField(_l("Move the mark to the middle of the region"))
    amendment_reason = _reason_field()


class RetractInjuryForm(FlaskForm):
    why = TextAreaField(
        _l("Why retract this injury?"),
        validators=[DataRequired(_l("Say why this injury is retracted.")), Length(max=2000)],
    )


class AnogenitalFormBase(FlaskForm):
    findings = TextAreaField(
        _l("Anogenital findings in words"),
        validators=[Length(max=20000)],
    )
    speculum = TextAreaField(
        _l("Speculum examination findings (if a speculum was used)"),
        validators=[Length(max=20000)],
    )
    amendment_reason = _reason_field()


def site_field_name(code: str) -> str:
    return f"site_{code.replace('-', '_')}"


def _anogenital_form_class() -> type[AnogenitalFormBase]:
    """One group of fields per site of the sites list (clinic/exam/lists.py)."""
    fields: dict[str, Any] = {}
    for site in ANOGENITAL_SITES:
        name = site_field_name(site.code)
        fields[f"{name}_findings"] = CheckboxesField(
            _l("%(site)s: what was seen", site=lazy_display("anogenital-site", site.code)),
            choices=[
                SelectChoice(code, lazy_display("anogenital-finding", code))
                for code in ANOGENITAL_FINDINGS
            ],
            validators=[Optional()],
        )
        fields[f"{name}_methods"] = CheckboxesField(
            _l("%(site)s: examined by", site=lazy_display("anogenital-site", site.code)),
            choices=[
                SelectChoice(code, lazy_display("exam-method", code)) for code in EXAM_METHODS
            ],
            validators=[Optional()],
        )
        fields[f"{name}_note"] = StringField(
            _l("%(site)s: note (position, size)", site=lazy_display("anogenital-site", site.code)),
            validators=[Optional(), Length(max=1000)],
        )
    return type("AnogenitalForm", (AnogenitalFormBase,), fields)


AnogenitalForm = _anogenital_form_class()


class RemoveDeclinedForm(FlaskForm):
    """Take back findings recorded before she declined their part."""

    amendment_reason = _reason_field()


class ConsentAbsentForm(FlaskForm):
    why = RadioField(
        _l("Why could she not consent?"),
        choices=[
            SelectChoice(code, lazy_display("consent-absent-reason", code))
            for code in CONSENT_ABSENT_REASONS
        ],
        validators=[InputRequired(_l("Choose why she could not consent."))],
    )
    details = TextAreaField(
        _l("What you saw and why you examined her without her consent"),
        validators=[Optional(), Length(max=4000)],
    )
    amendment_reason = _reason_field()


class ConsentReviewForm(FlaskForm):
    note = TextAreaField(
        _l("Your review: what you checked and what you concluded"),
        validators=[
            DataRequired(_l("Write what you reviewed and what you concluded.")),
            Length(max=4000),
        ],
    )


class GuidanceFormBase(FlaskForm):
    amendment_reason = _reason_field()


def _guidance_form_class() -> type[GuidanceFormBase]:
    fields: dict[str, Any] = {}
    for window in WINDOWS:
        fields[f"decision_{window.code}"] = RadioField(
            lazy_display("time-window", window.code),
            choices=[
                SelectChoice("confirmed", _l("Follow the guidance")),
                SelectChoice("overridden", _l("Decide otherwise (say why)")),
            ],
            validators=[Optional()],
        )
        fields[f"reason_{window.code}"] = TextAreaField(
            _l(
                "%(window)s: why are you deciding otherwise?",
                window=lazy_display("time-window", window.code),
            ),
            validators=[Optional(), Length(max=2000)],
        )
    return type("GuidanceForm", (GuidanceFormBase,), fields)


GuidanceForm = _guidance_form_class()


class TreatmentForm(FlaskForm):
    kind = SelectField(
        _l("Treatment"),
        choices=[SelectChoice("", _l("— choose —"))]
        + [SelectChoice(code, lazy_display("exam-treatment", code)) for code in TREATMENTS],
        validators=[DataRequired(_l("Choose the treatment."))],
    )
    medication = StringField(
        _l("Medicine (name and strength)"),
        validators=[DataRequired(_l("Write the medicine.")), Length(max=300)],
    )
    dose = StringField(_l("Dose and route, in words"), validators=[Optional(), Length(max=300)])
    given = RadioField(
        _l("Given?"),
        choices=[
            SelectChoice("given", _l("Given")),
            SelectChoice("declined", _l("Offered, not given")),
        ],
        validators=[InputRequired(_l("Say whether it was given."))],
    )
    declined_reason = StringField(_l("Why not given"), validators=[Optional(), Length(max=1000)])
    at = DateTimeLocalField(
        _l("When"), format=DATETIME_FORMAT, validators=[DataRequired(_l("Enter when."))]
    )
    amendment_reason = _reason_field()


class StructuredFormBase(FlaskForm):
    amendment_reason = _reason_field()


def _question_field(question: Question) -> Any:
    """A question as a form field; the service holds the rules (dates, ranges). The
    question and its choices read in the screen's language (their CodeSystems'
    designations)."""
    label = lazy_display("exam-question", question.code)
    if question.kind is Kind.ANSWER:
        return RadioField(label, choices=ANSWER_CHOICES, validators=[Optional()])
    if question.kind in (Kind.CHOICE, Kind.CHOICES):
        assert question.options
        choices = [
            SelectChoice(code, lazy_display(question.options, code))
            for code in terms(question.options)
        ]
        if question.kind is Kind.CHOICES:
            return CheckboxesField(label, choices=choices, validators=[Optional()])
        return SelectField(
            label,
            choices=[SelectChoice("", _l("— choose —")), *choices],
            validators=[Optional()],
        )
    if question.kind is Kind.DATE:
        return DateField(label, validators=[Optional()])
    if question.kind is Kind.COUNT:
        return IntegerField(
            label,
            validators=[
                Optional(),
                NumberRange(
                    min=question.low,
                    max=question.high,
                    message=_l(
                        "Enter a whole number from %(low)s to %(high)s.",
                        low=question.low,
                        high=question.high,
                    ),
                ),
            ],
        )
    return TextAreaField(label, validators=[Optional(), Length(max=4000)])


def _structured_form_class(step: StepSheets) -> type[StructuredFormBase]:
    fields: dict[str, Any] = {}
    for sheet in step.sheets:
        for slot in sheet.slots():
            for question in sheet.questions:
                fields[answer_field(slot, question.code)] = _question_field(question)
    return type(f"{step.code.title().replace('-', '')}Form", (StructuredFormBase,), fields)


# One form class per structured step, built from the lists.
STRUCTURED_FORMS = {code: _structured_form_class(step) for code, step in STRUCTURED_STEPS.items()}


class LabRequestFormBase(FlaskForm):
    amendment_reason = _reason_field()


def lab_field_name(code: str) -> str:
    return f"lab_{code.replace('-', '_')}"


def _lab_request_form_class() -> type[LabRequestFormBase]:
    fields: dict[str, Any] = {}
    for code in LAB_TESTS:
        name = lab_field_name(code)
        test = lazy_display("lab-test", code)
        fields[f"{name}_requested"] = BooleanField(_l("%(test)s: requested", test=test))
        fields[f"{name}_destination"] = StringField(
            _l("%(test)s: sent to", test=test), validators=[Optional(), Length(max=300)]
        )
    return type("LabRequestForm", (LabRequestFormBase,), fields)


LabRequestForm = _lab_request_form_class()


class LabResultForm(FlaskForm):
    """One per requested test on the page (prefixed by the test)."""

    result = SelectField(
        _l("Result"),
        choices=[SelectChoice("", _l("— choose —"))]
        + [SelectChoice(code, lazy_display("lab-result", code)) for code in LAB_RESULTS],
        validators=[DataRequired(_l("Choose the result."))],
    )
    details = TextAreaField(
        _l("Details (values, laboratory reference)"), validators=[Optional(), Length(max=4000)]
    )


class SignForm(FlaskForm):
    confirm = BooleanField(
        _l("I examined the survivor and this record is complete and accurate"),
        validators=[DataRequired(_l("Confirm before signing."))],
    )
