"""Photograph screens: the exam's photographs step (take or upload, gallery), the
served copies, opening an intimate image on purpose, downloading an original.
Views translate forms into service calls and nothing more."""

from __future__ import annotations

import base64
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from clinic.access import Action, decide
from clinic.core.unit_of_work import UnitOfWork
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.exam import services as exam_services
from clinic.exam.resources import BODY_REGIONS
from clinic.exam.views import exam_page
from clinic.i18n import N_
from clinic.i18n.values import coded_words
from clinic.media import services
from clinic.media.forms import CorrectPhotoForm, OpenPhotoForm, OriginalForm, PhotoForm
from clinic.media.intake import Limits
from clinic.media.models import Variant
from clinic.media.resources import VIEWS
from clinic.media.vault import key_problem

bp = Blueprint("media", __name__)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _keyring() -> Any:
    return current_app.extensions["clinic.media_keys"]


def media_vault(uow: UnitOfWork) -> services.Vault:
    config = current_app.config
    return services.vault_for(
        uow,
        _keyring(),
        Limits(config["MEDIA_MAX_PHOTO_BYTES"], config["MEDIA_MAX_PIXELS"]),
    )


def _injury_choices(exam_id: str) -> list[tuple[str, str]]:
    slots = exam_services.injury_ids(current_uow(), exam_id)
    return [
        (slot, f"Injury {slot.split(':')[1]}")
        for slot in sorted(slots, key=lambda s: int(s.split(":")[1]))
    ]


def _gallery(exam_id: str, form: PhotoForm, status: int) -> Any:
    cards = services.photos_of_exam(
        current_uow(), _registry(), actor=current_actor(), exam_id=exam_id
    )
    return exam_page(
        "media/photos.html",
        exam_id,
        form,
        status,
        cards=cards,
        key_problem=key_problem(_keyring()),
        views=coded_words("photo-view", VIEWS),
        regions=coded_words("body-region", BODY_REGIONS),
        open_form=OpenPhotoForm(formdata=None),
    )


@bp.route("/exams/<exam_id>/photos", methods=["GET", "POST"])
@view_rule(Action.CREATE, "Media", body_limit="MEDIA_MAX_UPLOAD_BYTES")
def photos(exam_id: str) -> Any:
    try:
        injuries = _injury_choices(exam_id)
        if request.method == "GET":
            return _gallery(exam_id, PhotoForm(formdata=None, injuries=injuries), 200)
        form = PhotoForm(injuries=injuries)
        if form.validate_on_submit():
            uploads = []
            for file in request.files.getlist(form.photos.name):
                try:
                    if file.filename or file.content_length:
                        uploads.append(services.Upload(file.filename, file.read()))
                finally:
                    file.close()
            try:
                taken = services.take_photos(
                    current_uow(),
                    _registry(),
                    media_vault(current_uow()),
                    actor=current_actor(),
                    exam_id=exam_id,
                    uploads=uploads,
                    details=services.PhotoDetails(
                        view=form.view.data or "",
                        region=form.region.data or "",
                        site=form.site.data or "",
                        scale_in_frame=bool(form.scale_in_frame.data),
                        intimate=form.intimate.data == "yes",
                        injury_slot=form.injury.data or None,
                    ),
                    reason=form.amendment_reason.data or None,
                )
            except services.PhotoNotFound:
                abort(404)
            except (services.MediaRefused, exam_services.ExamRefused) as refused:
                current_uow().rollback()  # nothing of a refused upload is kept
                attach_refusal(form, refused)
            else:
                flash(
                    gettext("Photograph saved.")
                    if len(taken) == 1
                    else gettext("%(number)s photographs saved.", number=len(taken))
                )
                return redirect(url_for("media.photos", exam_id=exam_id))
        return _gallery(exam_id, form, 422)
    except exam_services.ExamNotFound:
        abort(404)


def _unavailable(error: services.MediaUnavailable) -> Response:
    """The photographs cannot be read (the media key): said plainly, never a 500."""
    response = Response(render_template("media/unavailable.html", message=error.said()), status=503)
    response.headers["Retry-After"] = "3600"
    return response


def _served(found: services.PhotoBytes, *, download: bool) -> Response:
    """The bytes with the type checked at intake (never sniffed), never cached."""
    response = Response(found.data, mimetype=found.content_type)
    disposition = "attachment" if download else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{found.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _read(photo_id: str, variant: Variant, reason: str | None = None) -> services.PhotoBytes:
    try:
        return services.read_photo(
            current_uow(),
            _registry(),
            _keyring(),
            actor=current_actor(),
            photo_id=photo_id,
            variant=variant,
            reason=reason,
        )
    except services.PhotoNotFound:
        abort(404)
    except services.PhotoRetired:
        abort(410)
    except services.MediaUnavailable as error:
        abort(_unavailable(error))
    except services.MediaRefused:
        # An intimate image asked for without opening it on purpose.
        abort(403)


@bp.get("/photos/<photo_id>/thumbnail")
@view_rule(Action.READ, "Media")
def thumbnail(photo_id: str) -> Any:
    return _served(_read(photo_id, Variant.THUMBNAIL), download=False)


@bp.get("/photos/<photo_id>/display")
@view_rule(Action.READ, "Media")
def display(photo_id: str) -> Any:
    return _served(_read(photo_id, Variant.DISPLAY), download=False)


@bp.post("/photos/<photo_id>/open")
@view_rule(Action.READ, "Media")
def open_photo(photo_id: str) -> Any:
    """An intimate image, opened on purpose: shown once, on this page, for this
    reason (audited); it is never served at an address of its own."""
    form = OpenPhotoForm()
    if not form.validate_on_submit():
        return render_template("media/open.html", form=form, photo_id=photo_id), 422
    found = _read(photo_id, Variant.DISPLAY, form.reason.data)
    return render_template(
        "media/opened.html",
        found=found,
        reason=form.reason.data,
        image=base64.b64encode(found.data).decode(),
        original_form=OriginalForm(data={"reason": form.reason.data}),
        can_download=decide(current_actor(), Action.EXPORT, "Media").permitted,
    )


@bp.route("/photos/<photo_id>/original", methods=["GET", "POST"])
@view_rule(Action.READ, "Media")
def original(photo_id: str) -> Any:
    """The original exactly as taken, as a download (audited). An intimate image's
    original only by POST, with the reason it was opened for."""
    reason = None
    if request.method == "POST":
        form = OriginalForm()
        if not form.validate_on_submit():
            abort(400)
        reason = form.reason.data
    return _served(_read(photo_id, Variant.ORIGINAL, reason), download=True)


@bp.route("/photos/<photo_id>/correct", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Media")
def correct(photo_id: str) -> Any:
    """Correct a photograph (mark it intimate or not, or retire it as entered in
    error), with a reason: the examiners of her site."""
    try:
        card = services.photo_to_correct(
            current_uow(), _registry(), actor=current_actor(), photo_id=photo_id
        )
    except services.PhotoNotFound:
        abort(404)
    if card.is_retired:
        abort(410)
    intimate = card.is_intimate
    if request.method == "GET":
        form = CorrectPhotoForm(formdata=None, intimate=intimate)
        return render_template("media/correct.html", form=form, card=card), 200
    form = CorrectPhotoForm(intimate=intimate)
    if form.validate_on_submit():
        try:
            services.correct_photo(
                current_uow(),
                _registry(),
                actor=current_actor(),
                photo_id=photo_id,
                change=form.change.data or "",
                reason=form.reason.data or "",
            )
        except services.PhotoNotFound:
            abort(404)
        except (services.MediaRefused, exam_services.ExamRefused) as refused:
            current_uow().rollback()
            attach_refusal(form, refused)
        else:
            flash(gettext(CORRECTED[form.change.data or ""], number=card.number))
            return redirect(url_for("media.photos", exam_id=card.photo.exam_id))
    return render_template("media/correct.html", form=form, card=card), 422


CORRECTED = {
    "intimate": N_("Photograph %(number)s is now marked as an intimate image."),
    "not-intimate": N_("Photograph %(number)s is now marked as not an intimate image."),
    "retire": N_("Photograph %(number)s is retired as entered in error."),
}
