"""Medical expert screens: the examiner opens the account from the case; the
expert sees the photographs of that case her consent lets the expert see."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext

from clinic.access import Action
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.expert import services
from clinic.expert.forms import AppointExpertForm
from clinic.media.forms import OpenPhotoForm
from clinic.media.services import photos_for_expert

bp = Blueprint("expert", __name__)


def _appoint_page(case_id: str, form: AppointExpertForm, status: int) -> Any:
    uow, actor = current_uow(), current_actor()
    return render_template(
        "expert/appoint.html",
        case_id=case_id,
        form=form,
        names=services.names_in_consent(uow, actor=actor, case_id=case_id),
        experts=services.experts_of_case(uow, actor=actor, case_id=case_id),
        max_days=current_app.config["EXPERT_MAX_DAYS"],
    ), status


@bp.route("/cases/<case_id>/expert", methods=["GET", "POST"])
@view_rule(Action.CREATE, "ExpertAccount")
def appoint(case_id: str) -> Any:
    try:
        form = AppointExpertForm()
        if form.validate_on_submit():
            try:
                user = services.appoint_expert(
                    current_uow(),
                    actor=current_actor(),
                    case_id=case_id,
                    appointment=services.Appointment(
                        display_name=form.display_name.data or "",
                        username=form.username.data or "",
                        password=form.password.data or "",
                        ends_on=form.ends_on.data,
                    ),
                    max_days=current_app.config["EXPERT_MAX_DAYS"],
                )
            except services.ExpertRefused as refused:
                attach_refusal(form, refused)
            else:
                flash(
                    gettext(
                        "Account %(username)s opened for the medical expert.",
                        username=user.username,
                    )
                )
                return redirect(url_for("expert.appoint", case_id=case_id))
            return _appoint_page(case_id, form, 422)
        if form.is_submitted():
            return _appoint_page(case_id, form, 422)
        return _appoint_page(case_id, AppointExpertForm(formdata=None), 200)
    except services.CaseNotFound:
        abort(404)


@bp.get("/expert/photos")
@view_rule(Action.SEARCH, "Media")
def photos() -> Any:
    actor = current_actor()
    if actor.expert_subject is None:
        abort(404)  # the gallery of a medical expert's one case; others use the exam's
    cards = photos_for_expert(current_uow(), current_app.extensions["clinic.profiles"], actor=actor)
    return render_template(
        "expert/photos.html", cards=cards, open_form=OpenPhotoForm(formdata=None)
    )
