"""Release screens: police file and follow their requests; the clinic sees incoming
requests, matched to its cases or not, and approves what her consent permits.
Views translate forms into service calls and nothing more."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext

from clinic.access import Action
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.fhir.urls import base_url
from clinic.i18n.values import coded_words
from clinic.release import services
from clinic.release.fhir import RELEASE_ITEM
from clinic.release.forms import ApproveForm, RequestForm
from clinic.release.models import RequestStatus

bp = Blueprint("release", __name__, url_prefix="/releases")


def _requestable() -> dict[str, str]:
    """What a force may ask for, within a sentence, in the screen's language."""
    return coded_words(RELEASE_ITEM, services.REQUESTABLE, inline=True)


# -- police ---------------------------------------------------------------------------


@bp.get("/")
@view_rule(Action.SEARCH, "ReleaseRequest")
def requests() -> Any:
    found = services.requests_of_force(current_uow(), actor=current_actor())
    return render_template(
        "release/requests.html", requests=found, form=RequestForm(formdata=None), statuses=_STATUS
    )


@bp.post("/")
@view_rule(Action.CREATE, "ReleaseRequest")
def file() -> Any:
    form = RequestForm()
    if form.validate_on_submit():
        try:
            filed = services.file_request(
                current_uow(),
                actor=current_actor(),
                cited_reference=form.cited_reference.data or "",
                crime_reference=form.crime_reference.data or "",
                requested=list(form.requested.data or []),
            )
        except services.ReleaseRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(gettext("Request filed: %(status)s.", status=gettext(services.AWAITING_TEXT)))
            return redirect(url_for("release.request", request_id=filed.id))
    found = services.requests_of_force(current_uow(), actor=current_actor())
    return render_template(
        "release/requests.html", requests=found, form=form, statuses=_STATUS
    ), 422


@bp.get("/<request_id>")
@view_rule(Action.READ, "ReleaseRequest")
def request(request_id: str) -> Any:
    try:
        found = services.read_request(current_uow(), actor=current_actor(), request_id=request_id)
    except services.RequestNotFound:
        abort(404)
    return render_template(
        "release/request.html",
        request=found,
        statuses=_STATUS,
        outcome=services.release_outcome(current_uow(), found),
        requestable=_requestable(),
    )


def _bundle(request_id: str) -> dict[str, Any]:
    from pathlib import Path

    from clinic.release.bundle import release_bundle, release_key_name

    return release_bundle(
        current_uow(),
        current_app.extensions["clinic.profiles"],
        actor=current_actor(),
        request_id=request_id,
        instance_path=Path(current_app.instance_path),
        key_name=release_key_name(current_app.config),
        base=base_url(),
        channel="web",
    )


def _unavailable(request_id: str, message: str) -> Any:
    found = services.read_request(current_uow(), actor=current_actor(), request_id=request_id)
    return render_template(
        "release/request.html",
        request=found,
        statuses=_STATUS,
        unavailable=message,
        outcome=services.release_outcome(current_uow(), found),
        requestable=_requestable(),
    ), 409


@bp.get("/<request_id>/bundle.json")
@view_rule(Action.READ, "ReleaseRequest")
def bundle(request_id: str) -> Any:
    """The signed release bundle, as a file; every download is audited and recorded."""
    from flask import Response

    from clinic.release.bundle import ReleaseUnavailable

    try:
        signed = _bundle(request_id)
    except services.RequestNotFound:
        abort(404)
    except ReleaseUnavailable as unavailable:
        return _unavailable(request_id, unavailable.said())
    return Response(
        json.dumps(signed, ensure_ascii=False, indent=1),
        mimetype="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="release-{request_id}.json"'},
    )


@bp.get("/<request_id>/report")
@view_rule(Action.READ, "ReleaseRequest")
def report(request_id: str) -> Any:
    """The human-readable release report of a download, to print with the bundle."""
    from clinic.release.bundle import ReleaseUnavailable

    try:
        signed = _bundle(request_id)
        found = services.read_request(current_uow(), actor=current_actor(), request_id=request_id)
    except services.RequestNotFound:
        abort(404)
    except ReleaseUnavailable as unavailable:
        return _unavailable(request_id, unavailable.said())
    return render_template(
        "release/report.html",
        bundle=signed,
        request=found,
        outcome=services.release_outcome(current_uow(), found),
        requestable=_requestable(),
    )


@bp.get("/<request_id>/exam-report")
@view_rule(Action.READ, "ReleaseRequest")
def exam_report(request_id: str) -> Any:
    """The released exam report in words, to print with the bundle: built from the
    released bundle's content only, and audited and recorded like a download."""
    from pathlib import Path

    from clinic.release.bundle import (
        WITHHELD_SECTION_TEXT,
        ReleaseUnavailable,
        release_key_name,
        released_report,
    )

    try:
        report = released_report(
            current_uow(),
            current_app.extensions["clinic.profiles"],
            actor=current_actor(),
            request_id=request_id,
            instance_path=Path(current_app.instance_path),
            key_name=release_key_name(current_app.config),
            base=base_url(),
        )
    except services.RequestNotFound:
        abort(404)
    except ReleaseUnavailable as unavailable:
        return _unavailable(request_id, unavailable.said())
    return render_template(
        "release/exam_report.html", report=report, withheld_text=WITHHELD_SECTION_TEXT
    )


@bp.get("/<request_id>/photos/<photo_id>")
@view_rule(Action.READ, "ReleaseRequest")
def photo(request_id: str, photo_id: str) -> Any:
    """The original of a released photograph, exactly as taken (its SHA-256 is in
    the bundle): audited, and only while the release stands."""
    from flask import Response

    from clinic.release.bundle import ReleaseUnavailable
    from clinic.release.photos import released_original

    try:
        found = released_original(
            current_uow(),
            current_app.extensions["clinic.profiles"],
            current_app.extensions["clinic.media_keys"],
            actor=current_actor(),
            request_id=request_id,
            photo_id=photo_id,
        )
    except services.RequestNotFound:
        abort(404)
    except ReleaseUnavailable as unavailable:
        return _unavailable(request_id, unavailable.said())
    return Response(
        found.data,
        mimetype=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


_STATUS = {
    RequestStatus.AWAITING.value: services.AWAITING_TEXT,
    RequestStatus.APPROVED.value: "approved",
    RequestStatus.WITHDRAWN.value: "consent withdrawn",
}


# -- the clinic -----------------------------------------------------------------------


@bp.get("/incoming")
@view_rule(Action.SEARCH, "IncomingRequest")
def incoming() -> Any:
    found = services.incoming_requests(current_uow(), actor=current_actor())
    return render_template("release/incoming.html", incoming=found, statuses=_STATUS)


def _incoming_page(request_id: str, form: ApproveForm, status: int) -> Any:
    try:
        found, releasing, plan = services.incoming_request(
            current_uow(),
            current_app.extensions["clinic.profiles"],
            actor=current_actor(),
            request_id=request_id,
        )
    except services.RequestNotFound:
        abort(404)
    return render_template(
        "release/incoming_request.html",
        item=found,
        releasing=releasing,
        plan=plan,
        form=form,
        statuses=_STATUS,
        requestable=_requestable(),
    ), status


@bp.get("/incoming/<request_id>")
@view_rule(Action.READ, "IncomingRequest")
def incoming_request(request_id: str) -> Any:
    return _incoming_page(request_id, ApproveForm(formdata=None), 200)


@bp.post("/incoming/<request_id>/approve")
@view_rule(Action.UPDATE, "IncomingRequest", reauthenticate=True)
def approve(request_id: str) -> Any:
    form = ApproveForm()
    if form.validate_on_submit():
        try:
            services.approve(
                current_uow(),
                current_app.extensions["clinic.profiles"],
                actor=current_actor(),
                request_id=request_id,
            )
        except services.RequestNotFound:
            abort(404)
        except services.ReleaseRefused as refused:
            form.form_errors.append(refused.said())
        else:
            flash(gettext("Release approved: exactly what her consent permits."))
            return redirect(url_for("release.incoming_request", request_id=request_id))
    return _incoming_page(request_id, form, 422)
