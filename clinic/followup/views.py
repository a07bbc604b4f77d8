"""Follow-up screens: the plan proposed at sign-off (examiners), her plan (examiners
read it, counsellors carry it). Views load, check, call one service and render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from clinic.access import Action, decide
from clinic.core.web import current_actor, current_uow, view_rule
from clinic.followup import services
from clinic.followup.forms import ItemStatusForm, PlanReviewForm
from clinic.followup.schedule import ScheduleLibrary
from clinic.followup.terms import ITEM_KINDS, ITEM_STATUS, PLAN_STATUS, RESPONSIBLE

bp = Blueprint("followup", __name__)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _schedules() -> ScheduleLibrary:
    library: ScheduleLibrary = current_app.extensions["clinic.followup_schedules"]
    return library


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def _words() -> dict[str, Any]:
    return {
        "responsible": RESPONSIBLE,
        "item_status": ITEM_STATUS,
        "item_kinds": ITEM_KINDS,
        "plan_status": PLAN_STATUS,
        "day_in_words": services.day_in_words,
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
            refusal = (refused.message, _field_id(form, refused.field))
            status = 422
        else:
            flash("Her follow-up plan is agreed and recorded.")
            return redirect(url_for("followup.plan", plan_id=plan.id))
    elif request.method == "POST":
        status = 422
        refusal = ("Some answers could not be read: check the dates.", "items")
    try:
        proposal = _proposal(exam_id)
    except services.FollowUpRefused as refused:
        return render_template(
            "followup/not_signed.html", exam_id=exam_id, message=refused.message
        ), 409
    if request.method == "GET":
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
    if field in ("agreed_with_her", "referrals"):
        return str(form[field].id)
    return "items"


def _plan(plan_id: str) -> services.PlanRecord:
    try:
        return services.read_plan(
            current_uow(), _registry(), actor=current_actor(), plan_id=plan_id, zone=_zone()
        )
    except services.PlanNotFound:
        abort(404)


@bp.get("/followup/plans/<plan_id>")
@view_rule(Action.READ, "CarePlan")
def plan(plan_id: str) -> Any:
    record = _plan(plan_id)
    return render_template(
        "followup/plan.html",
        record=record,
        form=ItemStatusForm(formdata=None),
        may_update=decide(current_actor(), Action.UPDATE, "CarePlan").permitted,
        **_words(),
    )


@bp.post("/followup/plans/<plan_id>/items/<int:position>")
@view_rule(Action.UPDATE, "CarePlan")
def item_status(plan_id: str, position: int) -> Any:
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
            flash(refused.message, "error")
            return redirect(url_for("followup.plan", plan_id=plan_id)), 303
        flash(f"{item.label}: {ITEM_STATUS[item.status]}.")
    return redirect(url_for("followup.plan", plan_id=plan_id))
