"""Exam screens for examiners: one page per step, in the order examiners work,
each saved when submitted; an overview to resume; sign-off; the printable report.
Views translate forms into service calls and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext

from clinic.access import Action
from clinic.bodymap.diagrams import diagram_book
from clinic.bodymap.marks import MarkRequest
from clinic.core.clock import LocalTimeRefused, from_local, to_local, utcnow
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.exam import services
from clinic.exam.forms import (
    STRUCTURED_FORMS,
    AnogenitalForm,
    ConsentAbsentForm,
    ConsentReviewForm,
    GeneralForm,
    GuidanceForm,
    HistoryForm,
    InjuryForm,
    LabRequestForm,
    LabResultForm,
    RemoveDeclinedForm,
    RetractInjuryForm,
    SignForm,
    TimingForm,
    TreatmentForm,
    lab_field_name,
    site_field_name,
)
from clinic.exam.lists import (
    ANATOMIES,
    ANOGENITAL_SITES,
    LAB_TESTS,
    STRUCTURED_STEPS,
    Kind,
    answer_field,
)
from clinic.exam.resources import (
    ACTIVITIES,
    ACTS,
    ASSAULT_ACT,
    BLOOD_PRESSURE,
    BODY_REGIONS,
    INJURY_TYPES,
    PENETRATION_ACTS,
    POST_ASSAULT_ACTIVITY,
    TREATMENTS,
    VITAL_SIGNS,
    WINDOW_STATUS_CODE_DISPLAY,
    Answer,
    Injury,
    SiteFinding,
    Treatment,
)
from clinic.exam.timing import WINDOWS, AssaultTiming, TimingKind, in_words
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Moment, said
from clinic.i18n.values import coded_words

bp = Blueprint("exam", __name__)


def _structured(code: str) -> tuple[str, str, dict[str, str]]:
    return ("exam.structured", STRUCTURED_STEPS[code].title, {"step": code})


# (endpoint, title, URL arguments): the steps in the order examiners work.
STEPS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("exam.consent", N_("Her consent"), {}),
    ("exam.timing", N_("Arrival and timing"), {}),
    _structured("baseline"),
    ("exam.history", N_("History"), {}),
    _structured("incident"),
    _structured("strangulation"),
    ("exam.general", N_("General examination and vital signs"), {}),
    _structured("mental-state"),
    _structured("clothing"),
    ("exam.injuries", N_("Injuries"), {}),
    ("media.photos", N_("Photographs"), {}),
    ("exam.anogenital", N_("Anogenital findings"), {}),
    ("exam.guidance", N_("Time-window guidance"), {}),
    ("exam.laboratory", N_("Laboratory tests"), {}),
    ("exam.treatment", N_("Treatment"), {}),
    ("exam.overview", N_("Review and sign off"), {}),
)


def _after(endpoint: str, **arguments: str) -> str:
    """The URL of the step after this one (where "Save and continue" leads)."""
    position = next(i for i, (e, _, a) in enumerate(STEPS) if e == endpoint and a == arguments)
    following, _, following_arguments = STEPS[position + 1]
    return following if not following_arguments else f"{following}:{following_arguments['step']}"


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def _typed(moment: datetime | None) -> datetime | None:
    return from_local(moment, _zone()) if moment else None


def _shown(moment: datetime) -> datetime:
    return to_local(moment, _zone()).replace(tzinfo=None, second=0, microsecond=0)


def _words(moment: datetime) -> str:
    """A moment on the exam's screens and its printed report, in the clinic's named
    zone: in English in words, as the signed record writes it ("Monday 7 December
    2026, 08:17 (Europe/London)"); in another language as it writes a date."""
    english = in_words(moment, _zone())
    locale = get_locale()
    if locale is None or locale.language == "en":
        return english
    return said(Moment(moment, _zone(), english))


def _record(exam_id: str) -> services.ExamRecord:
    try:
        return services.read_exam(
            current_uow(), _registry(), actor=current_actor(), exam_id=exam_id
        )
    except services.ExamNotFound:
        abort(404)


def _page(template: str, record: services.ExamRecord, form: Any, status: int, **extra: Any) -> Any:
    from clinic.consent.services import care_decisions

    return render_template(
        template,
        record=record,
        form=form,
        steps=STEPS,
        zone=_zone(),
        local=_shown,
        words=_words,
        amendment_words=services.amendment_in_words,
        declined_messages=services.DECLINED_MESSAGES,
        status_display=coded_words("window-status", WINDOW_STATUS_CODE_DISPLAY),
        structured_steps=STRUCTURED_STEPS,
        her_decisions=care_decisions(
            current_uow(),
            _registry(),
            current_app.extensions["clinic.consent_forms"],
            actor=current_actor(),
            patient_id=record.exam.patient_id,
        ),
        **extra,
    ), status


def exam_page(template: str, exam_id: str, form: Any, status: int, **extra: Any) -> tuple[str, int]:
    """A page of the exam's steps for another domain (photographs): the exam read
    (audited) and the exam's header and step list around the template."""
    result: tuple[str, int] = _page(template, _record(exam_id), form, status, **extra)
    return result


def _step(
    exam_id: str,
    form: Any,
    template: str,
    save: Callable[[], None],
    next_endpoint: str,
    message: str,
    **extra: Any,
) -> Any:
    """Run a step's POST: save, or show the form again with what was wrong."""
    if form.validate_on_submit():
        try:
            save()
        except services.ExamNotFound:
            abort(404)
        except (services.ExamRefused, LocalTimeRefused) as refused:
            current_uow().rollback()  # nothing of a refused step is kept
            attach_refusal(form, refused)
        else:
            flash(message)
            endpoint, _, step = next_endpoint.partition(":")
            if step:
                return redirect(url_for(endpoint, exam_id=exam_id, step=step))
            return redirect(url_for(endpoint, exam_id=exam_id))
    return _page(template, _record(exam_id), form, 422, **extra)


def _reason(form: Any) -> str | None:
    return form.amendment_reason.data or None


@bp.post("/cases/<case_id>/exams")
@view_rule(Action.CREATE, "Encounter")
def start(case_id: str) -> Any:
    try:
        exam = services.start_exam(
            current_uow(), _registry(), actor=current_actor(), case_id=case_id
        )
    except services.ExamNotFound:
        abort(404)
    return redirect(url_for("exam.timing", exam_id=exam.id))


@bp.get("/exams/<exam_id>")
@view_rule(Action.READ, "Encounter")
def overview(exam_id: str) -> Any:
    record = _record(exam_id)
    return _page(
        "exam/overview.html",
        record,
        SignForm(formdata=None),
        200,
        sections=services.report_sections(record, _zone()),
    )


# -- her consent --------------------------------------------------------------------


@bp.route("/exams/<exam_id>/consent", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def consent(exam_id: str) -> Any:
    """Her consent as it governs the exam; where she could not consent, the
    examiner's record of why, and its review by another examiner."""
    extra = {"review_form": ConsentReviewForm(formdata=None)}
    if request.method == "GET":
        record = _record(exam_id)
        absent = record.consent_absent
        data = {"why": absent.reason, "details": absent.details} if absent else {}
        return _page("exam/consent.html", record, ConsentAbsentForm(data=data), 200, **extra)
    form = ConsentAbsentForm()

    def save() -> None:
        services.record_consent_absent(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            why=form.why.data or "",
            details=form.details.data or "",
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/consent.html",
        save,
        "exam.timing",
        gettext("Saved: why she could not consent. The case is flagged for review."),
        **extra,
    )


@bp.post("/exams/<exam_id>/consent/review")
@view_rule(Action.UPDATE, "Encounter")
def consent_review(exam_id: str) -> Any:
    form = ConsentReviewForm()
    if form.validate_on_submit():
        try:
            services.review_consent_absent(
                current_uow(),
                _registry(),
                actor=current_actor(),
                exam_id=exam_id,
                note=form.note.data or "",
            )
        except services.ExamNotFound:
            abort(404)
        except services.ExamRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(gettext("Review recorded. The case is no longer flagged."))
            return redirect(url_for("exam.consent", exam_id=exam_id))
    record = _record(exam_id)
    absent = record.consent_absent
    data = {"why": absent.reason, "details": absent.details} if absent else {}
    return _page("exam/consent.html", record, ConsentAbsentForm(data=data), 422, review_form=form)


# -- timing -------------------------------------------------------------------------


@bp.route("/exams/<exam_id>/timing", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def timing(exam_id: str) -> Any:
    if request.method == "GET":
        record = _record(exam_id)
        known = record.timing
        data: dict[str, Any] = {"exam_time": _shown(record.exam_time)}
        if known is not None:
            data["timing_kind"] = known.kind.value
            data |= {
                name: _shown(value)
                for name, value in (
                    ("assault_at", known.at),
                    ("assault_earliest", known.earliest),
                    ("assault_latest", known.latest),
                )
                if value
            }
        return _page("exam/timing.html", record, TimingForm(data=data), 200)
    form = TimingForm()

    def save() -> None:
        kind = TimingKind(form.timing_kind.data)
        services.record_timing(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            timing=AssaultTiming(
                kind,
                at=_typed(form.assault_at.data) if kind is TimingKind.EXACT else None,
                earliest=_typed(form.assault_earliest.data) if kind is TimingKind.RANGE else None,
                latest=_typed(form.assault_latest.data) if kind is TimingKind.RANGE else None,
            ),
            exam_time=_typed(form.exam_time.data) or utcnow(),
            reason=_reason(form),
        )

    return _step(
        exam_id, form, "exam/timing.html", save, _after("exam.timing"), gettext("Timing saved.")
    )


# -- history ------------------------------------------------------------------------


@bp.route("/exams/<exam_id>/history", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def history(exam_id: str) -> Any:
    extra = {"acts": ACTS, "activities": ACTIVITIES, "penetration": PENETRATION_ACTS}
    if request.method == "GET":
        record = _record(exam_id)
        data: dict[str, Any] = {
            "narrative": record.text("history"),
            "demeanour": record.text("demeanour"),
        }
        for code, answer in record.answers("acts", ASSAULT_ACT).items():
            data[f"act_{code}"] = answer.value
        for code, means in record.means.items():
            data[f"means_{code}"] = sorted(means)
        for code, answer in record.answers("post-assault", POST_ASSAULT_ACTIVITY).items():
            data[f"activity_{code}"] = answer.value
        return _page("exam/history.html", record, HistoryForm(data=data), 200, **extra)
    form = HistoryForm()

    def save() -> None:
        acts = {code: Answer(form[f"act_{code}"].data) for code in ACTS}
        services.record_history(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            history=services.History(
                narrative=form.narrative.data or "",
                demeanour=form.demeanour.data or "",
                acts=acts,
                means={
                    code: frozenset(form[f"means_{code}"].data or ()) for code in PENETRATION_ACTS
                },
                activities={code: Answer(form[f"activity_{code}"].data) for code in ACTIVITIES},
            ),
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/history.html",
        save,
        _after("exam.history"),
        gettext("History saved."),
        **extra,
    )


# -- structured steps: clinical baseline, the incident, strangulation, ... ----------


def _structured_extra(code: str) -> dict[str, Any]:
    definition = STRUCTURED_STEPS[code]

    def not_reported(record: services.ExamRecord) -> bool:
        """The history answers "no" to the act this step is about."""
        if definition.needs_act is None:
            return False
        return record.answers("acts", ASSAULT_ACT).get(definition.needs_act) is Answer.NO

    return {
        "definition": definition,
        "answer_field": answer_field,
        "Kind": Kind,
        "not_reported": not_reported,
    }


@bp.route("/exams/<exam_id>/steps/<step>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def structured(exam_id: str, step: str) -> Any:
    """A structured step built from its lists: each sheet one coded Observation."""
    definition = STRUCTURED_STEPS.get(step)
    if definition is None:
        abort(404)
    form_class = STRUCTURED_FORMS[step]
    if request.method == "GET":
        record = _record(exam_id)
        data: dict[str, Any] = {}
        for sheet in definition.sheets:
            for slot in sheet.slots():
                for code, value in record.sheet_answers(sheet, slot).items():
                    data[answer_field(slot, code)] = (
                        sorted(value)
                        if isinstance(value, frozenset)
                        else str(value)
                        if isinstance(value, Answer)
                        else value
                    )
        return _page(
            "exam/structured.html",
            record,
            form_class(data=data),
            200,
            **_structured_extra(step),
        )
    form = form_class()

    def save() -> None:
        answers: dict[str, dict[str, Any]] = {}
        for sheet in definition.sheets:
            for slot in sheet.slots():
                row: dict[str, Any] = {}
                for question in sheet.questions:
                    value = form[answer_field(slot, question.code)].data
                    if question.kind is Kind.ANSWER and value:
                        value = Answer(value)
                    elif question.kind is Kind.CHOICES:
                        value = frozenset(value or ())
                    row[question.code] = value
                answers[slot] = row
        services.record_structured_step(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            step=step,
            answers=answers,
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/structured.html",
        save,
        _after("exam.structured", step=step),
        gettext("%(step)s: saved.", step=gettext(definition.title)),
        **_structured_extra(step),
    )


# -- general examination and vital signs --------------------------------------------


@bp.route("/exams/<exam_id>/general", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def general(exam_id: str) -> Any:
    if request.method == "GET":
        record = _record(exam_id)
        data: dict[str, Any] = {"findings": record.text("general")}
        for sign, name in zip(
            VITAL_SIGNS,
            ("heart_rate", "respiratory_rate", "temperature", "oxygen_saturation"),
            strict=True,
        ):
            content = record.vital(sign.slot)
            if content:
                data[name] = Decimal(str(content["valueQuantity"]["value"]))
        pressure = record.vital(BLOOD_PRESSURE.slot)
        if pressure:
            data["systolic"], data["diastolic"] = (
                Decimal(str(c["valueQuantity"]["value"])) for c in pressure["component"]
            )
        return _page("exam/general.html", record, GeneralForm(data=data), 200)
    form = GeneralForm()

    def save() -> None:
        services.record_general(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            general=services.GeneralExam(
                form.findings.data or "",
                services.Vitals(
                    heart_rate=form.heart_rate.data,
                    respiratory_rate=form.respiratory_rate.data,
                    temperature=form.temperature.data,
                    oxygen_saturation=form.oxygen_saturation.data,
                    systolic=form.systolic.data,
                    diastolic=form.diastolic.data,
                ),
            ),
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/general.html",
        save,
        _after("exam.general"),
        gettext("General examination saved."),
    )


# -- injuries -----------------------------------------------------------------------


def _injury(form: InjuryForm) -> Injury:
    return Injury(
        kind=form.kind.data or "",
        region=form.region.data or "",
        site=form.site.data or "",
        length_mm=form.length_mm.data or Decimal(0),
        width_mm=form.width_mm.data,
        shape=form.shape.data or None,
        colour=form.colour.data or None,
        description=form.description.data or None,
    )


def _mark(form: InjuryForm) -> MarkRequest | None:
    """The mark asked for: none, a drawing and region (keyboard), or a tapped point."""
    if not form.drawing.data:
        return None
    diagram, _, view = form.drawing.data.partition(":")
    if form.move_mark.data:
        return MarkRequest(diagram, view)
    return MarkRequest(diagram, view, form.mark_x.data, form.mark_y.data)


# The drawing shown on the injuries step before any mark is placed.
FIRST_DRAWING = "adult-female:front"


def _body_map(record: services.ExamRecord, shown: str | None) -> dict[str, Any]:
    """The body map beside the injury form (the template asks for it): one drawing
    with the injuries marked on it, and which drawings hold marks (to show them)."""
    book = diagram_book()
    latest = max(
        (injury.mark for _, injury, _ in record.injuries if injury.mark is not None),
        key=lambda mark: mark.number,
        default=None,
    )
    # Unless asked for another, the drawing of the latest mark: the examiner goes on
    # where they were.
    drawing = (
        book.drawings.get(shown or "")
        or (book.drawings.get(f"{latest.diagram}:{latest.view}") if latest else None)
        or book.drawings[FIRST_DRAWING]
    )
    marked: dict[str, list[int]] = {}
    for _, injury, _ in record.injuries:
        if injury.mark is not None:
            code = f"{injury.mark.diagram}:{injury.mark.view}"
            marked.setdefault(code, []).append(injury.mark.number)
    return {
        "map_drawing": drawing,
        "map_marks": [
            injury.mark
            for _, injury, _ in record.injuries
            if injury.mark is not None
            and (injury.mark.diagram, injury.mark.view) == (drawing.diagram, drawing.view)
        ],
        "drawings": book.drawings,
        "marked_drawings": marked,
        "regions": coded_words("body-region", BODY_REGIONS),
    }


@bp.route("/exams/<exam_id>/injuries", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def injuries(exam_id: str) -> Any:
    extra = {
        "types": coded_words("injury-type", INJURY_TYPES),
        "regions": coded_words("body-region", BODY_REGIONS),
        "body_map": _body_map,
    }
    if request.method == "GET":
        return _page(
            "exam/injuries.html", _record(exam_id), InjuryForm(formdata=None), 200, **extra
        )
    form = InjuryForm()

    def save() -> None:
        services.add_injury(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            injury=_injury(form),
            mark=_mark(form),
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/injuries.html",
        save,
        "exam.injuries",
        gettext("Injury recorded."),
        **extra,
    )


def _injury_data(found: Injury) -> dict[str, Any]:
    """The injury form filled with a recorded injury and its body map mark."""
    data: dict[str, Any] = {
        "kind": found.kind,
        "region": found.region,
        "site": found.site,
        "length_mm": found.length_mm,
        "width_mm": found.width_mm,
        "shape": found.shape,
        "colour": found.colour,
        "description": found.description,
    }
    if found.mark is not None:
        data |= {
            "drawing": f"{found.mark.diagram}:{found.mark.view}",
            "mark_x": found.mark.x,
            "mark_y": found.mark.y,
        }
    return data


@bp.route("/exams/<exam_id>/injuries/<int:number>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def injury(exam_id: str, number: int) -> Any:
    slot = f"injury:{number}"
    extra = {
        "number": number,
        "retract_form": RetractInjuryForm(formdata=None),
        "body_map": _body_map,
    }
    if request.method == "GET":
        record = _record(exam_id)
        found = next((i for s, i, _ in record.injuries if s == slot), None)
        if found is None:
            abort(404)
        return _page("exam/injury.html", record, InjuryForm(data=_injury_data(found)), 200, **extra)
    form = InjuryForm()

    def save() -> None:
        services.change_injury(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            slot=slot,
            injury=_injury(form),
            mark=_mark(form),
            reason=_reason(form),
        )

    return _step(
        exam_id, form, "exam/injury.html", save, "exam.injuries", gettext("Injury saved."), **extra
    )


@bp.post("/exams/<exam_id>/injuries/<int:number>/retract")
@view_rule(Action.UPDATE, "Encounter")
def retract_injury(exam_id: str, number: int) -> Any:
    """An injury recorded in error (e.g. twice) is retracted, kept in the history."""
    form = RetractInjuryForm()
    if form.validate_on_submit():
        try:
            services.retract_injury(
                current_uow(),
                _registry(),
                actor=current_actor(),
                exam_id=exam_id,
                slot=f"injury:{number}",
                why=form.why.data or "",
            )
        except services.ExamNotFound:
            abort(404)
        except services.ExamRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(
                gettext(
                    "Injury %(number)s retracted. It stays in the record, shown as retracted.",
                    number=number,
                )
            )
            return redirect(url_for("exam.injuries", exam_id=exam_id))
    record = _record(exam_id)
    found = next((i for s, i, _ in record.injuries if s == f"injury:{number}"), None)
    if found is None:
        abort(404)
    return _page(
        "exam/injury.html",
        record,
        InjuryForm(formdata=None, data=_injury_data(found)),
        422,
        number=number,
        retract_form=form,
        body_map=_body_map,
    )


# -- anogenital findings -----------------------------------------------------------


def _anogenital_data(record: services.ExamRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "findings": record.text("anogenital"),
        "speculum": record.text("speculum"),
    }
    for code, site in record.anogenital_sites.items():
        name = site_field_name(code)
        data[f"{name}_findings"] = sorted(site.findings)
        data[f"{name}_methods"] = sorted(site.methods)
        data[f"{name}_note"] = site.note
    return data


def _anogenital_extra() -> dict[str, Any]:
    return {
        "remove_form": RemoveDeclinedForm(formdata=None),
        "site_groups": [
            (label, [site for site in ANOGENITAL_SITES if site.anatomy == anatomy])
            for anatomy, label in ANATOMIES.items()
        ],
        "site_field": site_field_name,
    }


@bp.route("/exams/<exam_id>/anogenital", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def anogenital(exam_id: str) -> Any:
    extra = _anogenital_extra()
    if request.method == "GET":
        record = _record(exam_id)
        form = AnogenitalForm(data=_anogenital_data(record))
        return _page("exam/anogenital.html", record, form, 200, **extra)
    form = AnogenitalForm()

    def save() -> None:
        sites = {}
        for site in ANOGENITAL_SITES:
            name = site_field_name(site.code)
            sites[site.code] = SiteFinding(
                frozenset(form[f"{name}_findings"].data or ()),
                frozenset(form[f"{name}_methods"].data or ()),
                (form[f"{name}_note"].data or "").strip(),
            )
        services.record_anogenital(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            findings=form.findings.data or "",
            speculum=form.speculum.data or "",
            sites=sites,
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/anogenital.html",
        save,
        "exam.guidance",
        gettext("Anogenital findings saved."),
        **extra,
    )


@bp.post("/exams/<exam_id>/anogenital/remove")
@view_rule(Action.UPDATE, "Encounter")
def remove_declined(exam_id: str) -> Any:
    """Findings recorded before she declined their part are taken back."""
    form = RemoveDeclinedForm()
    if form.validate_on_submit():
        try:
            services.remove_declined_findings(
                current_uow(),
                _registry(),
                actor=current_actor(),
                exam_id=exam_id,
                reason=_reason(form),
            )
        except services.ExamNotFound:
            abort(404)
        except services.ExamRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(gettext("Findings of the part she declined are removed."))
            return redirect(url_for("exam.anogenital", exam_id=exam_id))
    record = _record(exam_id)
    findings = AnogenitalForm(formdata=None, data=_anogenital_data(record))
    return _page(
        "exam/anogenital.html",
        record,
        findings,
        422,
        **(_anogenital_extra() | {"remove_form": form}),
    )


# -- time-window guidance -----------------------------------------------------------


@bp.route("/exams/<exam_id>/guidance", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def guidance(exam_id: str) -> Any:
    if request.method == "GET":
        record = _record(exam_id)
        data: dict[str, Any] = {}
        for item in record.guidance:
            if item.is_current and item.decision is not None:
                data[f"decision_{item.window.code}"] = (
                    "overridden" if item.decision.overridden else "confirmed"
                )
                data[f"reason_{item.window.code}"] = item.decision.reason or ""
        return _page("exam/guidance.html", record, GuidanceForm(data=data), 200)
    form = GuidanceForm()

    def save() -> None:
        decided = [w for w in WINDOWS if form[f"decision_{w.code}"].data]
        if not decided:
            raise services.ExamRefused(
                gettext(
                    "Choose, for at least one window, to follow the guidance or decide otherwise."
                ),
                f"decision_{WINDOWS[0].code}",
            )
        for window in decided:
            try:
                services.decide_window(
                    current_uow(),
                    _registry(),
                    actor=current_actor(),
                    exam_id=exam_id,
                    window_code=window.code,
                    overridden=form[f"decision_{window.code}"].data == "overridden",
                    override_reason=form[f"reason_{window.code}"].data or None,
                    reason=_reason(form),
                )
            except services.ExamRefused as refused:
                field = f"reason_{window.code}" if refused.field == "override_reason" else None
                raise services.ExamRefused(refused.message, field or refused.field) from refused

    return _step(
        exam_id,
        form,
        "exam/guidance.html",
        save,
        _after("exam.guidance"),
        gettext("Guidance decisions saved."),
    )


# -- laboratory tests -----------------------------------------------------------------


def _lab_extra(failed: Any = None) -> dict[str, Any]:
    """A result form per test, prefixed by the test (one page, many forms); the page
    shows those of the tests requested."""
    forms = {code: LabResultForm(formdata=None, prefix=f"result-{code}") for code in LAB_TESTS}
    if failed is not None:
        forms[failed[0]] = failed[1]
    return {
        "tests": coded_words("lab-test", LAB_TESTS),
        "result_forms": forms,
        "lab_field": lab_field_name,
    }


@bp.route("/exams/<exam_id>/laboratory", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def laboratory(exam_id: str) -> Any:
    """Tests requested at the exam, where each goes, and their results as added."""
    if request.method == "GET":
        record = _record(exam_id)
        data: dict[str, Any] = {}
        for code, destination in record.lab_requests.items():
            data[f"{lab_field_name(code)}_requested"] = True
            data[f"{lab_field_name(code)}_destination"] = destination
        return _page("exam/laboratory.html", record, LabRequestForm(data=data), 200, **_lab_extra())
    form = LabRequestForm()

    def save() -> None:
        services.request_lab_tests(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            requested={
                code: form[f"{lab_field_name(code)}_destination"].data or ""
                for code in LAB_TESTS
                if form[f"{lab_field_name(code)}_requested"].data
            },
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/laboratory.html",
        save,
        _after("exam.laboratory"),
        gettext("Laboratory tests saved."),
        **_lab_extra(),
    )


@bp.post("/exams/<exam_id>/laboratory/<test>/result")
@view_rule(Action.UPDATE, "Encounter")
def lab_result(exam_id: str, test: str) -> Any:
    """A result added when it arrives: not an amendment, it is added with who and when."""
    if test not in LAB_TESTS:
        abort(404)
    form = LabResultForm(prefix=f"result-{test}")
    if form.validate_on_submit():
        try:
            services.add_lab_result(
                current_uow(),
                _registry(),
                actor=current_actor(),
                exam_id=exam_id,
                test=test,
                result=form.result.data or "",
                details=form.details.data or "",
            )
        except services.ExamNotFound:
            abort(404)
        except services.ExamRefused as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(gettext("%(test)s: result added.", test=said(Coded("lab-test", test))))
            return redirect(url_for("exam.laboratory", exam_id=exam_id))
    record = _record(exam_id)
    if test not in record.lab_requests:
        abort(404)
    data = {
        f"{lab_field_name(code)}_{part}": value
        for code, destination in record.lab_requests.items()
        for part, value in (("requested", True), ("destination", destination))
    }
    return _page(
        "exam/laboratory.html",
        record,
        LabRequestForm(formdata=None, data=data),
        422,
        **_lab_extra((test, form)),
    )


# -- treatment ----------------------------------------------------------------------


@bp.route("/exams/<exam_id>/treatment", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def treatment(exam_id: str) -> Any:
    extra = {"treatments": coded_words("exam-treatment", TREATMENTS)}
    if request.method == "GET":
        form = TreatmentForm(data={"at": _shown(utcnow()), "given": "given"})
        return _page("exam/treatment.html", _record(exam_id), form, 200, **extra)
    form = TreatmentForm()

    def save() -> None:
        services.add_treatment(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            treatment=Treatment(
                kind=form.kind.data or "",
                medication=form.medication.data or "",
                dose=form.dose.data or None,
                given=form.given.data == "given",
                declined_reason=form.declined_reason.data or None,
                at=_typed(form.at.data) or utcnow(),
            ),
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/treatment.html",
        save,
        "exam.treatment",
        gettext("Treatment recorded."),
        **extra,
    )


# -- sign-off and report ------------------------------------------------------------


@bp.post("/exams/<exam_id>/sign")
@view_rule(Action.UPDATE, "Encounter")
def sign(exam_id: str) -> Any:
    form = SignForm()
    if form.validate_on_submit():
        try:
            services.sign_off(current_uow(), _registry(), actor=current_actor(), exam_id=exam_id)
        except services.ExamNotFound:
            abort(404)
        except services.ExamRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(gettext("Exam signed off. It is now read-only; corrections are amendments."))
            return redirect(url_for("exam.overview", exam_id=exam_id))
    record = _record(exam_id)
    return _page(
        "exam/overview.html",
        record,
        form,
        422,
        sections=services.report_sections(record, _zone()),
    )


@bp.get("/exams/<exam_id>/report")
@view_rule(Action.READ, "Encounter")
def report(exam_id: str) -> Any:
    """The printable report: the case reference on every page, never her name."""
    record = _record(exam_id)
    return render_template(
        "exam/report.html",
        record=record,
        sections=services.report_sections(record, _zone()),
        maps=services.report_maps(record),
        zone=_zone(),
        words=_words,
    )
