"""Break-glass screens: an examiner opens a case in an emergency; the care team
reads the list of break-glass accesses to the case; auditors review each one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from clinic.access import Action
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.emergency.forms import BreakGlassForm, ReviewForm
from clinic.emergency.services import (
    BreakGlassRefused,
    GrantNotFound,
    accesses_of_case,
    break_glass,
    read_grant,
    review_grant,
    review_queue,
)
from clinic.i18n import format_moment

bp = Blueprint("emergency", __name__, url_prefix="/emergency")


def _duration_hours() -> int:
    return int(current_app.config["BREAK_GLASS_HOURS"])


@bp.get("/")
@view_rule(Action.CREATE, "BreakGlassGrant")
def start() -> Any:
    return render_template(
        "emergency/start.html", form=BreakGlassForm(formdata=None), hours=_duration_hours()
    )


@bp.post("/")
@view_rule(Action.CREATE, "BreakGlassGrant", reauthenticate=True)
def open_case() -> Any:
    form = BreakGlassForm()
    if form.validate_on_submit():
        try:
            grant = break_glass(
                current_uow(),
                actor=current_actor(),
                reference=form.reference.data or "",
                reason=form.reason.data or "",
                duration=timedelta(hours=_duration_hours()),
            )
        except BreakGlassRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(
                _(
                    "Break-glass access granted until %(until)s. Everything you open is "
                    "listed on the case and reviewed by an auditor.",
                    until=format_moment(grant.expires_at),
                )
            )
            return redirect(url_for("cases.case", case_id=grant.case_id))
    return render_template("emergency/start.html", form=form, hours=_duration_hours()), 422


@bp.get("/cases/<case_id>")
@view_rule(Action.READ, "EpisodeOfCare")
def case_accesses(case_id: str) -> Any:
    try:
        accesses = accesses_of_case(current_uow(), actor=current_actor(), case_id=case_id)
    except GrantNotFound:
        abort(404)
    return render_template("emergency/case.html", accesses=accesses, case_id=case_id)


@bp.get("/reviews")
@view_rule(Action.SEARCH, "BreakGlassGrant")
def reviews() -> Any:
    waiting, done = review_queue(current_uow(), actor=current_actor())
    return render_template("emergency/reviews.html", waiting=waiting, done=done)


@bp.get("/reviews/<grant_id>")
@view_rule(Action.READ, "BreakGlassGrant")
def review(grant_id: str) -> Any:
    return _review_page(grant_id, ReviewForm(formdata=None), 200)


def _review_page(grant_id: str, form: ReviewForm, status: int) -> Any:
    try:
        access = read_grant(current_uow(), actor=current_actor(), grant_id=grant_id)
    except GrantNotFound:
        abort(404)
    return render_template("emergency/review.html", access=access, form=form), status


@bp.post("/reviews/<grant_id>")
@view_rule(Action.UPDATE, "BreakGlassGrant")
def record_review(grant_id: str) -> Any:
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            review_grant(
                current_uow(),
                actor=current_actor(),
                grant_id=grant_id,
                outcome=form.outcome.data or "",
                note=form.note.data or "",
            )
        except GrantNotFound:
            abort(404)
        except BreakGlassRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(_("The review is recorded."))
            return redirect(url_for("emergency.reviews"))
    return _review_page(grant_id, form, 422)
