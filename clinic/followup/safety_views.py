"""The safety screen (counsellors assess with her; examiners of her site read) and
what she takes home: the appointment card and the aftercare sheet, printed in her
language. Views load, check, call one service and render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from clinic.access import Action, decide
from clinic.core.clock import to_local
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.terminology import display
from clinic.followup import safety, services, take_home
from clinic.followup.safety_checklist import (
    ANSWER_SYSTEM,
    ANSWERS,
    CHECKLIST_ID,
    CHECKLIST_SOURCE,
    KEEP_READY,
    QUESTIONS,
    RISK_SYSTEM,
    RISKS,
)
from clinic.followup.safety_forms import SafetyAssessmentForm
from clinic.followup.safety_resources import KEEP_READY_SYSTEM
from clinic.followup.site_settings import SiteSettingsLibrary
from clinic.followup.views import day_in_words
from clinic.i18n.values import coded_words

bp = Blueprint("safety", __name__)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _sites() -> SiteSettingsLibrary:
    library: SiteSettingsLibrary = current_app.extensions["clinic.site_settings"]
    return library


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def _read(plan_id: str) -> safety.SafetyRecord:
    try:
        return safety.read_safety(
            current_uow(), _registry(), _sites(), actor=current_actor(), plan_id=plan_id
        )
    except services.PlanNotFound:
        abort(404)


@bp.route("/followup/plans/<plan_id>/safety", methods=["GET", "POST"])
@view_rule(Action.READ, "RiskAssessment")
def assessment(plan_id: str) -> Any:
    """Her safety assessment: the latest with its answers and safety plan, and (for
    counsellors) a new one, pre-filled from the latest and from her exam."""
    actor = current_actor()
    may_assess = decide(actor, Action.CREATE, "RiskAssessment").permitted
    form = SafetyAssessmentForm()
    status = 200
    if request.method == "POST":
        if not may_assess:
            abort(403)
        if form.validate_on_submit():
            try:
                safety.record_assessment(
                    current_uow(),
                    _registry(),
                    _sites(),
                    actor=actor,
                    plan_id=plan_id,
                    answers=form.answers(),
                    high_on_judgement=bool(form.high_on_judgement.data),
                    judgement_reason=form.judgement_reason.data,
                    safety_plan=safety.SafetyPlanInput(
                        safe_places=form.safe_places.data or "",
                        people_to_call=form.people_to_call.data or "",
                        code_word=form.code_word.data or "",
                        keep_ready=tuple(form.keep_ready.data or ()),
                        keep_ready_other=form.keep_ready_other.data or "",
                        referrals=tuple(form.referrals.data or ()),
                    ),
                )
            except services.PlanNotFound:
                abort(404)
            except safety.SafetyRefused as refused:
                current_uow().rollback()
                attach_refusal(form, refused)
                status = 422
            else:
                flash(gettext("Safety assessment and safety plan recorded."))
                return redirect(url_for("safety.assessment", plan_id=plan_id))
        else:
            status = 422
    record = _read(plan_id)
    form.referrals.choices = [(rid, words) for rid, words in record.referrals]
    if request.method == "GET":
        _prefill(form, record)
    plan_record = services.read_plan(
        current_uow(), _registry(), actor=actor, plan_id=plan_id, zone=_zone()
    )
    return render_template(
        "followup/safety.html",
        record=record,
        plan_record=plan_record,
        form=form,
        may_assess=may_assess,
        questions=QUESTIONS,
        answers_words=coded_words(ANSWER_SYSTEM, ANSWERS),
        risks=coded_words(RISK_SYSTEM, RISKS),
        keep_ready=coded_words(KEEP_READY_SYSTEM, KEEP_READY),
        checklist_title=display(f"{CODE_SYSTEM}/safety-method", CHECKLIST_ID),
        checklist_source=gettext(CHECKLIST_SOURCE),
        local=lambda moment: to_local(moment, _zone()),
        day_in_words=day_in_words,
    ), status


def _prefill(form: SafetyAssessmentForm, record: safety.SafetyRecord) -> None:
    """A new assessment starts from the latest one, then from what the exam carries
    over (shown as such); everything else not asked until she is asked."""
    latest = record.latest.answers if record.latest else {}
    for question in QUESTIONS:
        carried = record.carried.get(question.code)
        form[f"answer-{question.code}"].data = latest.get(question.code) or (
            carried.answer if carried else None
        )
    plan = record.safety_plan
    if plan is not None:
        form.safe_places.data = "\n".join(plan.safe_places)
        form.people_to_call.data = "\n".join(plan.people_to_call)
        form.code_word.data = plan.code_word or ""
        form.keep_ready.data = list(plan.keep_ready)
        form.keep_ready_other.data = plan.keep_ready_other or ""
        form.referrals.data = [rid for rid, _ in plan.referrals]


# -- what she takes home ---------------------------------------------------------------


@bp.get("/followup/plans/<plan_id>/appointment-card")
@view_rule(Action.READ, "Appointment")
def appointment_card(plan_id: str) -> Any:
    """Her appointment card, in her language, saying nothing of why she comes."""
    sheet = _take_home(plan_id)
    return render_template(
        "followup/appointment_card.html", sheet=sheet, words=take_home.words_for(sheet.language)
    )


@bp.get("/followup/plans/<plan_id>/aftercare")
@view_rule(Action.READ, "CarePlan")
def aftercare(plan_id: str) -> Any:
    """Her aftercare sheet: medicines and when, tests due, when to come back at once."""
    sheet = _take_home(plan_id)
    return render_template(
        "followup/aftercare.html", sheet=sheet, words=take_home.words_for(sheet.language)
    )


def _take_home(plan_id: str) -> take_home.TakeHome:
    try:
        return take_home.take_home(
            current_uow(),
            _registry(),
            _sites(),
            current_app.extensions["clinic.followup_schedules"],
            actor=current_actor(),
            plan_id=plan_id,
            zone=_zone(),
        )
    except services.PlanNotFound:
        abort(404)
