"""Follow-up screens: the plan proposed at sign-off (examiners), her plan (examiners
read it, counsellors carry it). Views load, check, call one service and render."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from markupsafe import Markup

from clinic.access import Action, decide
from clinic.consent.words import date_in_words
from clinic.core.clock import LocalTimeRefused, from_local, to_local
from clinic.core.numbers import small_whole_number
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.fhir.terminology import display
from clinic.followup import services
from clinic.followup.codes import ITEM_DISPLAY
from clinic.followup.forms import (
    AppointmentOutcomeForm,
    BookAppointmentForm,
    CaseloadForm,
    ContactAttemptForm,
    ContactWishesForm,
    CounsellingNoteForm,
    ItemStatusForm,
    PlanReviewForm,
)
from clinic.followup.models import FollowUpItem
from clinic.followup.resources import REFERRAL, PlanItem, SafeContactPlan
from clinic.followup.schedule import ScheduleLibrary
from clinic.followup.terms import (
    APPOINTMENT_STATUS,
    CHANNEL_SYSTEM,
    CHANNELS,
    CONTACT_OUTCOME_SYSTEM,
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    ITEM_KINDS,
    ITEM_STATUS,
    ITEM_SYSTEM,
    PLAN_STATUS,
    RESPONSIBLE,
    RESPONSIBLE_SYSTEM,
    SERVICE_KIND_SYSTEM,
)
from clinic.i18n.values import coded_words, translated_words

bp = Blueprint("followup", __name__)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _schedules() -> ScheduleLibrary:
    library: ScheduleLibrary = current_app.extensions["clinic.followup_schedules"]
    return library


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def item_label(item: PlanItem | FollowUpItem) -> str:
    """An item of her plan in the screen's language: a code of followup-item by its
    designation, a referral by its kind; an item a site's schedule names itself
    (not a display of the CodeSystem) as the schedule names it."""
    if item.code == REFERRAL and item.service_kind:
        kind = display(SERVICE_KIND_SYSTEM, item.service_kind)
        return gettext("Referral: %(kind)s", kind=kind)
    if ITEM_DISPLAY.get(item.code) == item.label:
        return display(ITEM_SYSTEM, item.code)
    return item.label


def day_in_words(day: date) -> str:
    """A day in the screen's language, in words ("6 décembre 2026")."""
    locale = get_locale()
    return date_in_words(day, locale.language if locale is not None else None)


def _words() -> dict[str, Any]:
    return {
        "responsible": coded_words(RESPONSIBLE_SYSTEM, RESPONSIBLE),
        "item_status": translated_words(ITEM_STATUS),
        "item_kinds": {code: (gettext(label), kind) for code, (label, kind) in ITEM_KINDS.items()},
        "plan_status": translated_words(PLAN_STATUS),
        "appointment_status": translated_words(APPOINTMENT_STATUS),
        "contact_reasons": translated_words(CONTACT_REASONS),
        "channels": coded_words(CHANNEL_SYSTEM, CHANNELS),
        "contact_outcomes": coded_words(CONTACT_OUTCOME_SYSTEM, CONTACT_OUTCOMES),
        "item_label": item_label,
        "reason_words": services.reason_in_words,
        # A guideline the schedule cites, in the language it is written in (English).
        "cited": lambda source: Markup('<cite lang="en">%s</cite>') % source,
        "local": lambda moment: to_local(moment, _zone()),
        "day_in_words": day_in_words,
        "zone": _zone(),
    }


def _proposal(exam_id: str) -> services.Proposal:
    try:
        return services.propose_plan(
            current_uow(),
            _registry(),
            _schedules(),
            actor=current_actor(),
            exam_id=exam_id,
            zone=_zone(),
        )
    except services.PlanNotFound:
        abort(404)


@bp.route("/exams/<exam_id>/followup", methods=["GET", "POST"])
@view_rule(Action.CREATE, "CarePlan")
def propose(exam_id: str) -> Any:
    """The plan the schedule proposes from the signed exam, to review with her."""
    existing = services.plan_of_exam(current_uow(), actor=current_actor(), exam_id=exam_id)
    if existing is not None:
        return redirect(url_for("followup.plan", plan_id=existing.id))
    form = PlanReviewForm()
    status = 200
    refusal: tuple[str, str] | None = None  # (message, id of the field it concerns)
    if form.validate_on_submit():
        review = services.PlanReview(
            items=[
                services.ReviewedItem(
                    code=row.code.data,
                    keep=bool(row.keep.data),
                    due_on=row.due_on.data,
                    responsible=row.responsible.data,
                )
                for row in form.items
            ],
            referrals=list(form.referrals.data or []),
            agreed_with_her=bool(form.agreed_with_her.data),
            contact=SafeContactPlan(
                channels=tuple(form.channels.data or ()),
                safe_times=form.safe_times.data,
                asks_code_word=bool(form.asks_code_word.data),
            ),
        )
        try:
            plan = services.agree_plan(
                current_uow(),
                _registry(),
                _schedules(),
                actor=current_actor(),
                exam_id=exam_id,
                zone=_zone(),
                review=review,
            )
        except services.PlanNotFound:
            abort(404)
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            refusal = (refused.said(), _field_id(form, refused.field))
            status = 422
        else:
            flash(gettext("Her follow-up plan is agreed and recorded."))
            return redirect(url_for("followup.plan", plan_id=plan.id))
    elif request.method == "POST":
        status = 422
        refusal = ("Some answers could not be read: check the dates.", "items")
    try:
        proposal = _proposal(exam_id)
    except services.FollowUpRefused as refused:
        return render_template(
            "followup/not_signed.html", exam_id=exam_id, message=refused.said()
        ), 409
    if request.method == "GET":
        form.channels.data = list(proposal.contact.channels)
        form.safe_times.data = proposal.contact.safe_times
        form.asks_code_word.data = proposal.contact.asks_code_word
        for proposed in proposal.items:
            form.items.append_entry(
                {
                    "code": proposed.item.code,
                    "keep": True,
                    "due_on": proposed.item.due_on,
                    "responsible": proposed.item.responsible,
                }
            )
    return render_template(
        "followup/propose.html",
        proposal=proposal,
        form=form,
        by_code={p.item.code: p for p in proposal.items},
        refusal=refusal,
        **_words(),
    ), status


def _field_id(form: PlanReviewForm, field: str | None) -> str:
    """The id of the field a refusal names: an item's due date, or a form field."""
    if field and field.startswith("items-"):
        code = field.removeprefix("items-")
        for row in form.items:
            if row.code.data == code:
                return str(row.due_on.id)
    if field in ("agreed_with_her", "referrals", "channels", "safe_times"):
        return str(form[field].id)
    return "items"


def _plan(plan_id: str) -> services.PlanRecord:
    try:
        return services.read_plan(
            current_uow(), _registry(), actor=current_actor(), plan_id=plan_id, zone=_zone()
        )
    except services.PlanNotFound:
        abort(404)


def small_number(text: str | None, *, most: int) -> int | None:
    """A whole number from 0 to `most` typed in ASCII digits, or None: what a query
    string or hidden field may carry, refused before it reaches a date or a query."""
    number = small_whole_number(text, digits=len(str(most)))
    return number if number is not None and number <= most else None


def _bad_request(message: str) -> Any:
    """A request no screen of ours sends (an address or parameter out of range): a
    400 that says what is wrong and changes nothing."""
    current_uow().rollback()
    return render_template("errors/error.html", status=400, message=message), 400


def _find_plan(plan_id: str, action: Action) -> Any:
    try:
        return services.find_plan(
            current_uow(), actor=current_actor(), plan_id=plan_id, action=action
        )
    except services.PlanNotFound:
        abort(404)


@bp.get("/followup/plans/<plan_id>")
@view_rule(Action.READ, "CarePlan")
def plan(plan_id: str) -> Any:
    booking_for = small_number(request.args.get("book"), most=services.MAX_POSITION)
    return _plan_page(_plan(plan_id), BookAppointmentForm(formdata=None), booking_for, 200)


def _plan_page(
    record: services.PlanRecord, book_form: Any, booking_for: int | None, status: int
) -> Any:
    actor = current_actor()
    return render_template(
        "followup/plan.html",
        record=record,
        form=ItemStatusForm(formdata=None),
        book_form=book_form,
        booking_for=booking_for,
        outcome_form=AppointmentOutcomeForm(formdata=None),
        appointments=services.appointments_of_plan(current_uow(), actor=actor, plan=record.plan),
        attempts=services.contact_attempts_of_plan(current_uow(), actor=actor, plan=record.plan),
        may_contact=decide(actor, Action.CREATE, "Communication").permitted,
        may_update=decide(actor, Action.UPDATE, "CarePlan").permitted,
        may_book=decide(actor, Action.CREATE, "Appointment").permitted,
        safety_flag=_safety_flag(record),
        may_read_safety=decide(actor, Action.READ, "RiskAssessment").permitted,
        **_words(),
    ), status


def _safety_flag(record: services.PlanRecord) -> Any:
    from clinic.followup.safety import flag_of_plan

    return flag_of_plan(current_uow(), actor=current_actor(), plan=record.plan)


@bp.post("/followup/plans/<plan_id>/items/<int:position>/appointments")
@view_rule(Action.CREATE, "Appointment")
def book(plan_id: str, position: int) -> Any:
    try:
        services.find_item(
            current_uow(),
            actor=current_actor(),
            plan_id=plan_id,
            position=position,
            action=Action.UPDATE,
        )
    except services.PlanNotFound:
        abort(404)
    except services.NoSuchItem as missing:
        return _bad_request(missing.said())
    form = BookAppointmentForm()
    if form.validate_on_submit():
        try:
            services.book_appointment(
                current_uow(),
                _registry(),
                actor=current_actor(),
                plan_id=plan_id,
                position=position,
                starts_at=from_local(form.starts_at.data, _zone()),
                minutes=form.minutes.data,
            )
        except services.PlanNotFound:
            abort(404)
        except LocalTimeRefused as refused:
            current_uow().rollback()
            form.starts_at.errors = [refused.said()]
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(gettext("Appointment booked."))
            return redirect(url_for("followup.plan", plan_id=plan_id))
    return _plan_page(_plan(plan_id), form, position, 422)


@bp.post("/followup/appointments/<appointment_id>")
@view_rule(Action.UPDATE, "Appointment")
def appointment_outcome(appointment_id: str) -> Any:
    try:
        booked = services.find_appointment(
            current_uow(), actor=current_actor(), appointment_id=appointment_id
        )
    except services.PlanNotFound:
        abort(404)
    form = AppointmentOutcomeForm()
    if not form.validate_on_submit():
        flash(gettext("Choose attended, missed or cancelled."), "error")
        return redirect(url_for("followup.plan", plan_id=booked.plan_id), 303)
    try:
        booked = services.record_appointment_outcome(
            current_uow(),
            _registry(),
            actor=current_actor(),
            appointment_id=appointment_id,
            outcome=form.outcome.data,
        )
    except services.PlanNotFound:
        abort(404)
    except services.FollowUpRefused as refused:
        current_uow().rollback()
        flash(refused.said(), "error")
        return redirect(url_for("followup.plan", plan_id=booked.plan_id), 303)
    flash(
        gettext(
            "Appointment recorded as %(status)s.",
            status=gettext(APPOINTMENT_STATUS[booked.status]).lower(),
        )
    )
    return redirect(url_for("followup.plan", plan_id=booked.plan_id))


@bp.route("/followup/plans/<plan_id>/contact", methods=["GET", "POST"])
@view_rule(Action.CREATE, "Communication")
def contact(plan_id: str) -> Any:
    """Before any contact: what she allowed. Then the attempt, by an allowed channel."""
    form = ContactAttemptForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.record_contact_attempt(
                current_uow(),
                _registry(),
                actor=current_actor(),
                plan_id=plan_id,
                channel=form.channel.data,
                outcome=form.outcome.data,
                note=form.note.data,
            )
        except services.PlanNotFound:
            abort(404)
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
            status = 422
        else:
            flash(
                gettext(
                    "Contact attempt recorded: %(outcome)s.",
                    outcome=gettext(CONTACT_OUTCOMES[form.outcome.data]).lower(),
                )
            )
            return redirect(url_for("followup.plan", plan_id=plan_id))
    elif request.method == "POST":
        status = 422
    record = _plan(plan_id)
    return render_template(
        "followup/contact.html",
        record=record,
        form=form,
        attempts=services.contact_attempts_of_plan(
            current_uow(), actor=current_actor(), plan=record.plan
        ),
        **_words(),
    ), status


@bp.route("/followup/plans/<plan_id>/contact-wishes", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "CarePlan")
def contact_wishes(plan_id: str) -> Any:
    """How she may be contacted: she may always narrow it; widening only at her word."""
    plan = _find_plan(plan_id, Action.UPDATE)
    form = ContactWishesForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_contact_wishes(
                current_uow(),
                _registry(),
                actor=current_actor(),
                plan_id=plan_id,
                contact=SafeContactPlan(
                    channels=tuple(form.channels.data or ()),
                    safe_times=form.safe_times.data,
                    asks_code_word=bool(form.asks_code_word.data),
                ),
                she_asked=bool(form.she_asked.data),
            )
        except services.PlanNotFound:
            abort(404)
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
            status = 422
        else:
            flash(gettext("Her contact wishes are changed and recorded."))
            return redirect(url_for("followup.plan", plan_id=plan_id))
    elif request.method == "POST":
        status = 422
    if request.method == "GET":
        form.channels.data = list(plan.allowed_channels)
        form.safe_times.data = plan.safe_times
        form.asks_code_word.data = plan.asks_code_word
    return render_template(
        "followup/contact_wishes.html", record=_plan(plan_id), form=form, **_words()
    ), status


@bp.route("/followup/plans/<plan_id>/notes", methods=["GET", "POST"])
@view_rule(Action.READ, "DocumentReference")
def notes(plan_id: str) -> Any:
    """Her counselling notes (counsellors of her care team only) and a new one, or a
    new version of one (`?edit=<id>`)."""
    editing = request.args.get("edit") or None
    form = CounsellingNoteForm()
    status = 200
    version = small_number(form.version.data, most=MAX_VERSION) if editing else None
    if editing and request.method == "POST" and version is None:
        _find_plan(plan_id, Action.READ)
        form.validate()
        form.text.errors = [
            *form.text.errors,
            "The version of the note you edited is missing or unreadable: open the note "
            "again and reapply your change.",
        ]
        status = 400
    elif form.validate_on_submit():
        try:
            services.write_counselling_note(
                current_uow(),
                _registry(),
                actor=current_actor(),
                plan_id=plan_id,
                text=form.text.data,
                note_id=editing,
                expected_version=version,
            )
        except services.PlanNotFound:
            abort(404)
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
            status = 422
        else:
            flash(gettext("Note saved."))
            return redirect(url_for("followup.notes", plan_id=plan_id))
    elif request.method == "POST":
        status = 422
    try:
        written = services.counselling_notes(
            current_uow(), _registry(), actor=current_actor(), plan_id=plan_id
        )
    except services.PlanNotFound:
        abort(404)
    edited = next((note for note in written if note.id == editing), None)
    if editing and edited is None:
        abort(404)
    if request.method == "GET" and edited is not None:
        form.text.data = edited.text
        form.version.data = str(edited.version)
    record = _plan(plan_id)
    return render_template(
        "followup/notes.html", record=record, notes=written, form=form, edited=edited, **_words()
    ), status


@bp.get("/followup/caseload")
@view_rule(Action.SEARCH, "CarePlan")
def caseload() -> Any:
    """The counsellor's caseload: her site's survivors in follow-up, what needs action
    first. Filters come in the query string."""
    form = CaseloadForm(request.args)
    due_within = form.due_within.data or None
    days = small_number(due_within, most=MAX_DUE_WITHIN)
    if due_within is not None and days is None:
        form.due_within.errors = [
            f"Choose how many days ahead to look: a whole number from 0 to {MAX_DUE_WITHIN}."
        ]
        return render_template(
            "followup/caseload.html", form=form, today=None, entries=[], **_words()
        ), 400
    filters = services.CaseloadFilter(
        only_needing_action=bool(form.needs_action.data),
        due_within_days=days,
        kind=form.kind.data if form.kind.data in ITEM_KINDS else None,
    )
    today, entries = services.caseload(
        current_uow(), actor=current_actor(), zone=_zone(), filters=filters
    )
    from clinic.followup.safety import flagged_plans

    flagged = flagged_plans(
        current_uow(), actor=current_actor(), plans=[entry.plan for entry in entries]
    )
    return render_template(
        "followup/caseload.html",
        form=form,
        today=today,
        entries=entries,
        flagged=flagged,
        **_words(),
    )


# The furthest ahead the caseload looks, in days (a year), and the highest version
# number a note's edit may name.
MAX_DUE_WITHIN = 366
MAX_VERSION = 999_999_999


@bp.post("/followup/plans/<plan_id>/items/<int:position>")
@view_rule(Action.UPDATE, "CarePlan")
def item_status(plan_id: str, position: int) -> Any:
    try:
        services.find_item(
            current_uow(),
            actor=current_actor(),
            plan_id=plan_id,
            position=position,
            action=Action.UPDATE,
        )
    except services.PlanNotFound:
        abort(404)
    except services.NoSuchItem as missing:
        return _bad_request(missing.said())
    form = ItemStatusForm()
    if form.validate_on_submit():
        try:
            item = services.set_item_status(
                current_uow(),
                _registry(),
                actor=current_actor(),
                plan_id=plan_id,
                position=position,
                status=form.status.data,
            )
        except services.PlanNotFound:
            abort(404)
        except services.FollowUpRefused as refused:
            current_uow().rollback()
            flash(refused.said(), "error")
            return redirect(url_for("followup.plan", plan_id=plan_id), 303)
        flash(
            gettext(
                "%(item)s: %(status)s.", item=item.label, status=gettext(ITEM_STATUS[item.status])
            )
        )
    return redirect(url_for("followup.plan", plan_id=plan_id))
