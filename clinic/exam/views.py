"""Exam screens for examiners: one page per step, in the order examiners work,
each saved when submitted; an overview to resume; sign-off; the printable report.
Views translate forms into service calls and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from clinic.access import Action
from clinic.core.clock import from_local, to_local, utcnow
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.exam import services
from clinic.exam.forms import (
    AnogenitalForm,
    ConsentAbsentForm,
    ConsentReviewForm,
    GeneralForm,
    GuidanceForm,
    HistoryForm,
    InjuryForm,
    RemoveDeclinedForm,
    SignForm,
    TimingForm,
    TreatmentForm,
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
    Answer,
    Injury,
    Treatment,
)
from clinic.exam.timing import WINDOWS, AssaultTiming, TimingKind, in_words

bp = Blueprint("exam", __name__)

# (endpoint, title): the steps in the order examiners work.
STEPS = (
    ("exam.consent", "Her consent"),
    ("exam.timing", "Arrival and timing"),
    ("exam.history", "History"),
    ("exam.general", "General examination and vital signs"),
    ("exam.injuries", "Injuries"),
    ("media.photos", "Photographs"),
    ("exam.anogenital", "Anogenital findings"),
    ("exam.guidance", "Time-window guidance"),
    ("exam.treatment", "Treatment"),
    ("exam.overview", "Review and sign off"),
)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def _typed(moment: datetime | None) -> datetime | None:
    return from_local(moment, _zone()) if moment else None


def _shown(moment: datetime) -> datetime:
    return to_local(moment, _zone()).replace(tzinfo=None, second=0, microsecond=0)


def _words(moment: datetime) -> str:
    return in_words(moment, _zone())


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
        declined_messages=services.DECLINED_MESSAGES,
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
        except services.ExamRefused as refused:
            current_uow().rollback()  # nothing of a refused step is kept
            attach_refusal(form, refused)
        else:
            flash(message)
            return redirect(url_for(next_endpoint, exam_id=exam_id))
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
    return _page("exam/overview.html", record, SignForm(formdata=None), 200)


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
        "Saved: why she could not consent. The case is flagged for review.",
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
            flash("Review recorded. The case is no longer flagged.")
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

    return _step(exam_id, form, "exam/timing.html", save, "exam.history", "Timing saved.")


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
        exam_id, form, "exam/history.html", save, "exam.general", "History saved.", **extra
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
        exam_id, form, "exam/general.html", save, "exam.injuries", "General examination saved."
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


@bp.route("/exams/<exam_id>/injuries", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def injuries(exam_id: str) -> Any:
    extra = {"types": INJURY_TYPES, "regions": BODY_REGIONS}
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
            reason=_reason(form),
        )

    return _step(
        exam_id, form, "exam/injuries.html", save, "exam.injuries", "Injury recorded.", **extra
    )


@bp.route("/exams/<exam_id>/injuries/<int:number>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def injury(exam_id: str, number: int) -> Any:
    slot = f"injury:{number}"
    extra = {"number": number}
    if request.method == "GET":
        record = _record(exam_id)
        found = next((i for s, i, _ in record.injuries if s == slot), None)
        if found is None:
            abort(404)
        data = {
            "kind": found.kind,
            "region": found.region,
            "site": found.site,
            "length_mm": found.length_mm,
            "width_mm": found.width_mm,
            "shape": found.shape,
            "colour": found.colour,
            "description": found.description,
        }
        return _page("exam/injury.html", record, InjuryForm(data=data), 200, **extra)
    form = InjuryForm()

    def save() -> None:
        services.change_injury(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            slot=slot,
            injury=_injury(form),
            reason=_reason(form),
        )

    return _step(exam_id, form, "exam/injury.html", save, "exam.injuries", "Injury saved.", **extra)


# -- anogenital findings -----------------------------------------------------------


@bp.route("/exams/<exam_id>/anogenital", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def anogenital(exam_id: str) -> Any:
    extra = {"remove_form": RemoveDeclinedForm(formdata=None)}
    if request.method == "GET":
        record = _record(exam_id)
        form = AnogenitalForm(
            data={"findings": record.text("anogenital"), "speculum": record.text("speculum")}
        )
        return _page("exam/anogenital.html", record, form, 200, **extra)
    form = AnogenitalForm()

    def save() -> None:
        services.record_anogenital(
            current_uow(),
            _registry(),
            actor=current_actor(),
            exam_id=exam_id,
            findings=form.findings.data or "",
            speculum=form.speculum.data or "",
            reason=_reason(form),
        )

    return _step(
        exam_id,
        form,
        "exam/anogenital.html",
        save,
        "exam.guidance",
        "Anogenital findings saved.",
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
            flash("Findings of the part she declined are removed.")
            return redirect(url_for("exam.anogenital", exam_id=exam_id))
    record = _record(exam_id)
    findings = AnogenitalForm(
        formdata=None,
        data={"findings": record.text("anogenital"), "speculum": record.text("speculum")},
    )
    return _page("exam/anogenital.html", record, findings, 422, remove_form=form)


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
                "Choose, for at least one window, to follow the guidance or decide otherwise.",
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
        exam_id, form, "exam/guidance.html", save, "exam.treatment", "Guidance decisions saved."
    )


# -- treatment ----------------------------------------------------------------------


@bp.route("/exams/<exam_id>/treatment", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Encounter")
def treatment(exam_id: str) -> Any:
    extra = {"treatments": TREATMENTS}
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
        exam_id, form, "exam/treatment.html", save, "exam.treatment", "Treatment recorded.", **extra
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
            flash("Exam signed off. It is now read-only; corrections are amendments.")
            return redirect(url_for("exam.overview", exam_id=exam_id))
    return _page("exam/overview.html", _record(exam_id), form, 422)


@bp.get("/exams/<exam_id>/report")
@view_rule(Action.READ, "Encounter")
def report(exam_id: str) -> Any:
    """The printable report: the case reference on every page, never her name."""
    record = _record(exam_id)
    return render_template(
        "exam/report.html",
        record=record,
        sections=services.report_sections(record, _zone()),
        zone=_zone(),
        words=_words,
    )
