"""Follow-up forms: they shape input, the services decide."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from clinic.fhir.terminology import lazy_display
from clinic.followup.terms import (
    APPOINTMENT_OUTCOMES,
    APPOINTMENT_STATUS,
    CHANNEL_SYSTEM,
    CHANNELS,
    CONTACT_OUTCOME_SYSTEM,
    CONTACT_OUTCOMES,
    ITEM_KINDS,
    ITEM_STATUS,
    RESPONSIBLE,
    RESPONSIBLE_SYSTEM,
    SERVICE_KIND_SYSTEM,
    SERVICE_KINDS,
)

# The most items a plan may be reviewed with: far above any schedule.
MAX_ITEMS = 60


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ItemReview(Form):
    code = HiddenField(validators=[DataRequired(), Length(max=64)])
    keep = BooleanField(_l("Keep in her plan"))
    due_on = DateField(_l("Due"), validators=[Optional()])
    responsible = SelectField(
        _l("Who carries it"),
        choices=[
            SelectChoice(code, lazy_display(RESPONSIBLE_SYSTEM, code)) for code in RESPONSIBLE
        ],
    )


class PlanReviewForm(FlaskForm):
    items = FieldList(FormField(ItemReview), min_entries=0, max_entries=MAX_ITEMS)
    referrals = CheckboxesField(
        _l("Referrals she wants"),
        choices=[
            SelectChoice(code, lazy_display(SERVICE_KIND_SYSTEM, code)) for code in SERVICE_KINDS
        ],
        validate_choice=False,  # the service refuses an unknown kind with its own message
    )
    channels = CheckboxesField(
        _l("How she agrees to be contacted about it"),
        choices=[SelectChoice(code, lazy_display(CHANNEL_SYSTEM, code)) for code in CHANNELS],
        validate_choice=False,
    )
    safe_times = StringField(
        _l("When it is safe to contact her (in her words)"),
        validators=[Optional(), Length(max=300)],
    )
    asks_code_word = BooleanField(_l("Ask for her code word before saying anything"))
    agreed_with_her = BooleanField(_l("I went through this plan with her and she agrees to it"))


class ContactWishesForm(FlaskForm):
    """How she may be contacted, changed at her word after the plan is agreed."""

    channels = CheckboxesField(
        _l("How she agrees to be contacted"),
        choices=[SelectChoice(code, lazy_display(CHANNEL_SYSTEM, code)) for code in CHANNELS],
        validate_choice=False,  # the service refuses an unknown channel with its message
    )
    safe_times = StringField(
        _l("When it is safe to contact her (in her words)"),
        validators=[Optional(), Length(max=300)],
    )
    asks_code_word = BooleanField(_l("Ask for her code word before saying anything"))
    she_asked = BooleanField(
        _l(
            "She asked for this change herself (needed to add a way, stop the code word or "
            "change her safe times)"
        )
    )


class ItemStatusForm(FlaskForm):
    status = SelectField(
        _l("What became of it"),
        choices=[SelectChoice(code, _l(label)) for code, label in ITEM_STATUS.items()],
        validate_choice=False,
    )


class BookAppointmentForm(FlaskForm):
    starts_at = DateTimeLocalField(
        _l("Date and time"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("Enter the date and time of the appointment."))],
    )
    minutes = IntegerField(
        _l("Length (minutes)"),
        default=30,
        validators=[DataRequired(_l("Enter how long the appointment lasts, in minutes."))],
    )


class AppointmentOutcomeForm(FlaskForm):
    outcome = SelectField(
        _l("What happened"),
        choices=[SelectChoice(code, _l(APPOINTMENT_STATUS[code])) for code in APPOINTMENT_OUTCOMES],
        validate_choice=False,
    )


class CaseloadForm(Form):
    """The caseload's filters, read from the query string (GET: nothing changes)."""

    needs_action = BooleanField(_l("Only those who need action (overdue or to contact)"))
    due_within = SelectField(
        _l("Next item due"),
        choices=[
            SelectChoice("", _l("Any time")),
            SelectChoice("7", _l("Within a week")),
            SelectChoice("14", _l("Within two weeks")),
            SelectChoice("31", _l("Within a month")),
        ],
        validate_choice=False,
    )
    kind = SelectField(
        _l("With an open item of kind"),
        choices=[SelectChoice("", _l("Any kind"))]
        + [SelectChoice(code, _l(label)) for code, (label, _) in ITEM_KINDS.items()],
        validate_choice=False,
    )


class ContactAttemptForm(FlaskForm):
    channel = RadioField(
        _l("How you tried to contact her"),
        choices=[SelectChoice(code, lazy_display(CHANNEL_SYSTEM, code)) for code in CHANNELS],
        validators=[DataRequired(_l("Choose how you tried to contact her."))],
        validate_choice=False,  # a channel she did not allow is refused by the service
    )
    outcome = RadioField(
        _l("What came of it"),
        choices=[
            SelectChoice(code, lazy_display(CONTACT_OUTCOME_SYSTEM, code))
            for code in CONTACT_OUTCOMES
        ],
        validators=[DataRequired(_l("Choose what came of the attempt."))],
        validate_choice=False,
    )
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=1000)])


class CounsellingNoteForm(FlaskForm):
    text = TextAreaField(
        _l("Note"),
        validators=[DataRequired(_l("Write the note.")), Length(max=20_000)],
    )
    version = HiddenField()  # the version edited, so a later edit is never overwritten
