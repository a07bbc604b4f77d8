"""Consent screens: the dashboard per case, recording a form with her in her
language, the printable form as signed, and withdrawal. Views translate forms
into service calls and nothing more."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from clinic.access import Action
from clinic.consent import services
from clinic.consent.definitions import FALLBACK_LANGUAGE, LANGUAGES, FormLibrary, FormVersion
from clinic.consent.forms import WithdrawForm, capture_form, item_field, name_field
from clinic.consent.resources import (
    DRAWN,
    SIGNATURE_METHODS,
    WITHDRAWAL_METHODS,
    Answers,
    GivenBy,
    Withdrawal,
)
from clinic.consent.words import WORDS, date_in_words, words_for
from clinic.core.clock import LocalTimeRefused, from_local, to_local, utcnow
from clinic.core.errors import DomainError
from clinic.core.images import ImageRefused, check_signature_png, png_from_data_url
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.fhir.outcome import FhirError

bp = Blueprint("consent", __name__, url_prefix="/cases/<case_id>/consent")
log = logging.getLogger(__name__)


@bp.errorhandler(FhirError)
def _not_as_json(error: FhirError) -> Any:
    """A consent screen never answers with raw FHIR JSON: a resource the profile
    registry refuses here is our fault, not hers. Nothing is written (the request's
    transaction fails) and the person sees a page, not an OperationOutcome."""
    log.error("consent screen: a resource failed validation: %s", error.issues)
    g.failure_description = "consent could not be written: invalid resource"
    return render_template("errors/error.html", status=422), 422


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _forms() -> FormLibrary:
    library: FormLibrary = current_app.extensions["clinic.consent_forms"]
    return library


@bp.get("")
@view_rule(Action.SEARCH, "Consent")
def dashboard(case_id: str) -> Any:
    try:
        case, states = services.case_consents(
            current_uow(), _registry(), _forms(), actor=current_actor(), case_id=case_id
        )
    except services.ConsentNotFound:
        abort(404)
    from clinic.release.services import releases_of_case

    return render_template(
        "consent/dashboard.html",
        case=case,
        states=states,
        releases=releases_of_case(current_uow(), actor=current_actor(), case_id=case.id),
        languages=LANGUAGES,
        methods=WITHDRAWAL_METHODS,
    )


def _form_version(form_id: str) -> FormVersion:
    try:
        return _forms().newest(form_id)
    except KeyError:
        abort(404)


def _capture(form: FormVersion, language: str, formdata: Any = None) -> Any:
    uow = current_uow()
    return capture_form(
        form,
        language,
        forces=[(o.id, o.name) for o in services.police_forces(uow)],
        organizations=[(o.id, o.name) for o in services.other_organizations(uow)],
        formdata=formdata,
    )


def _kept_signature(capture: Any) -> str:
    """The drawn signature sent with a refused submit, to send back and redraw, so
    she never signs twice; anything that is not a usable PNG is dropped."""
    data = capture.signature.data or ""
    try:
        check_signature_png(_png(data))
    except ImageRefused:
        return ""
    return str(data)


def _record_page(case_id: str, form: FormVersion, language: str, capture: Any, status: int) -> Any:
    shown, fallback = form.language(language)
    capture.signature.data = _kept_signature(capture) if status != 200 else ""
    return render_template(
        "consent/record.html",
        case_id=case_id,
        definition=form,
        language=shown,
        fallback=fallback,
        wanted=language,
        languages=LANGUAGES,
        words=WORDS[shown],
        capture=capture,
        item_field=item_field,
        name_field=name_field,
        summary=_summary(form, capture),
    ), status


def _summary(form: FormVersion, capture: Any) -> list[tuple[str, str, str]]:
    """Every error as (field id, label, message), in the order the page shows them,
    for the summary at the top that links to each."""
    order: list[str] = []
    for item in form.items:
        order += [item_field(item.id), name_field(item.id)]
    order += ["police_force", "until", "never_share", "never_share_people", "free_choice"]
    order += ["given_by", "proxy_relationship", "proxy_name", "proxy_reason", "interpreter"]
    order += ["witness", "signature_method", "signature", "typed_name", "signature_witness"]
    rest = [name for name in capture._fields if name not in order]
    found = []
    for name in order + rest:
        if name in capture and capture[name].errors:
            anchor = "signature-pad" if name == "signature" else capture[name].id
            for message in capture[name].errors:
                found.append((anchor, capture[name].label.text, message))
    return found


@bp.get("/shared")
@view_rule(Action.READ, "EpisodeOfCare")
def shared(case_id: str) -> Any:
    """What she shares with the reader (a counsellor: her exam report, as far as her
    information-sharing consent goes), each record decided on its own."""
    try:
        case, records = services.shared_with(
            current_uow(), _registry(), actor=current_actor(), case_id=case_id
        )
    except services.ConsentNotFound:
        abort(404)
    return render_template("consent/shared.html", case=case, records=records)


@bp.get("/<form_id>/record")
@view_rule(Action.CREATE, "Consent")
def record(case_id: str, form_id: str) -> Any:
    form = _form_version(form_id)
    wanted = request.args.get("lang", FALLBACK_LANGUAGE)
    if wanted not in LANGUAGES:
        wanted = FALLBACK_LANGUAGE
    language = form.language(wanted)[0]
    return _record_page(case_id, form, wanted, _capture(form, language), 200)


@bp.post("/<form_id>/record")
@view_rule(Action.CREATE, "Consent")
def record_post(case_id: str, form_id: str) -> Any:
    form = _form_version(form_id)
    wanted = request.form.get("language", FALLBACK_LANGUAGE)
    language = form.language(wanted if wanted in LANGUAGES else FALLBACK_LANGUAGE)[0]
    capture = _capture(form, language, request.form)
    try:
        if capture.validate():
            try:
                version = services.record_consent(
                    current_uow(),
                    _registry(),
                    _forms(),
                    actor=current_actor(),
                    case_id=case_id,
                    form_key=form.key,
                    answers=_answers(form, language, capture, wanted),
                )
            except services.ConsentRefused as refused:
                if isinstance(refused, services.ConsentNotFound):
                    raise
                _attach_all(capture, refused.problems)
            else:
                flash(_("Her consent is recorded. Print it for her to keep."))
                return redirect(
                    url_for("consent.show", case_id=case_id, consent_id=version.logical_id)
                )
        else:
            # The form's own checks failed: add what the service would refuse too,
            # so that every problem shows at once.
            problems = services.check_consent(
                current_uow(),
                _forms(),
                actor=current_actor(),
                case_id=case_id,
                form_key=form.key,
                answers=_answers(form, language, capture, wanted),
            )
            _attach_all(capture, [p for p in problems if not _has_errors(capture, p[0])])
    except services.ConsentNotFound:
        abort(404)
    return _record_page(case_id, form, wanted, capture, 422)


def _has_errors(capture: Any, name: str | None) -> bool:
    return bool(name and name in capture and capture[name].errors)


def _attach_all(capture: Any, problems: list[tuple[str | None, str]]) -> None:
    """Every (field, message) next to its field, in the form's order for the summary."""
    for name, message in problems:
        attach_refusal(capture, DomainError(message, name))


def _answers(form: FormVersion, language: str, capture: Any, wanted: str) -> Answers:
    agreed: dict[str, bool] = {}
    names: dict[str, str] = {}
    for item in form.items:
        value = capture[item_field(item.id)].data
        # An item that narrows another is asked only when she agreed to that one.
        asked = item.within is None or agreed.get(item.within) is True
        if asked and value in ("agree", "decline"):
            agreed[item.id] = value == "agree"
        if "person-name" in item.asks:
            names[item.id] = (capture[name_field(item.id)].data or "").strip()
    force = None
    if "police-force" in form.asks and capture.police_force.data:
        forces = {choice.value: choice.label for choice in capture.police_force.choices}
        force = (capture.police_force.data, forces.get(capture.police_force.data, ""))
    until = None
    if "until" in form.asks and capture.until.data:
        try:
            until = from_local(
                datetime.combine(capture.until.data, time(23, 59, 59)),
                str(current_app.config["CLINIC_TIMEZONE"]),
            )
        except LocalTimeRefused:
            # The last second of a date at the calendar's end: beyond any permission,
            # and the service says so next to the field.
            until = datetime.max.replace(tzinfo=UTC)
    organizations: tuple[tuple[str, str], ...] = ()
    people: tuple[str, ...] = ()
    if "never-share" in form.asks:
        named = {choice.value: choice.label for choice in capture.never_share.choices}
        organizations = tuple(
            (oid, named[oid]) for oid in capture.never_share.data or [] if oid in named
        )
        people = tuple(
            line.strip()
            for line in (capture.never_share_people.data or "").splitlines()
            if line.strip()
        )
    proxy = capture.given_by.data == "proxy"
    return Answers(
        agreed=agreed,
        person_names=names,
        language=language,
        given_by=GivenBy(
            proxy_relationship=(capture.proxy_relationship.data or "other") if proxy else None,
            proxy_name=(capture.proxy_name.data or "").strip() or None if proxy else None,
            proxy_reason=(capture.proxy_reason.data or "").strip() if proxy else None,
        ),
        interpreter=(capture.interpreter.data or "").strip() or None,
        witness=(capture.witness.data or "").strip() or None,
        free_choice=bool(capture.free_choice.data),
        signature_png=_png(capture.signature.data),
        signature_method=capture.signature_method.data or DRAWN,
        typed_name=(capture.typed_name.data or "").strip() or None,
        signature_witness=(capture.signature_witness.data or "").strip() or None,
        police_force=force,
        until=until,
        never_share_organizations=organizations,
        never_share_people=people,
        requested_language=wanted if wanted in LANGUAGES else None,
    )


def _png(data: str | None) -> bytes:
    return png_from_data_url(data) or b""


def _view(case_id: str, consent_id: str) -> tuple[Any, services.ConsentView]:
    try:
        return services.read_consent(
            current_uow(),
            _registry(),
            _forms(),
            actor=current_actor(),
            case_id=case_id,
            consent_id=consent_id,
        )
    except services.ConsentNotFound:
        abort(404)


@bp.get("/c/<consent_id>")
@view_rule(Action.READ, "Consent")
def show(case_id: str, consent_id: str) -> Any:
    """The consent as signed: the exact text of that form version in the language
    she read it in, her answers and her signature. Printable."""
    case, view = _view(case_id, consent_id)
    zone = str(current_app.config["CLINIC_TIMEZONE"])

    def local(value: str) -> str:
        """A recorded moment in the clinic's time zone, the date in words in her
        language (06/02 is read two ways), the time as numbers."""
        moment = to_local(datetime.fromisoformat(value.replace("Z", "+00:00")), zone)
        return f"{date_in_words(moment.date(), view.language)}, {moment:%H:%M}"

    return render_template(
        "consent/show.html",
        case=case,
        view=view,
        language=view.language,
        words=words_for(view.language),
        languages=LANGUAGES,
        local=local,
        signature_methods=SIGNATURE_METHODS,
    )


@bp.get("/c/<consent_id>/signature.png")
@view_rule(Action.READ, "Consent")
def signature(case_id: str, consent_id: str) -> Any:
    _, view = _view(case_id, consent_id)
    png = services.signature_png(view)
    if png is None:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Content-Disposition": "inline"})


def _withdraw_page(case_id: str, consent_id: str, form: WithdrawForm, status: int) -> Any:
    case, view = _view(case_id, consent_id)
    item = request.values.get("item") or ""
    chosen = next((state for state in view.items if state.item_id == item), None)
    if item and (chosen is None or chosen.answer != "agreed"):
        abort(404)
    everything = not item and (request.method == "GET" or request.form.get("everything") == "yes")
    return render_template(
        "consent/withdraw.html",
        case=case,
        view=view,
        item=chosen,
        everything=everything,
        form=form,
    ), status


@bp.get("/c/<consent_id>/withdraw")
@view_rule(Action.UPDATE, "Consent")
def withdraw(case_id: str, consent_id: str) -> Any:
    return _withdraw_page(case_id, consent_id, WithdrawForm(formdata=None), 200)


@bp.post("/c/<consent_id>/withdraw")
@view_rule(Action.UPDATE, "Consent")
def withdraw_post(case_id: str, consent_id: str) -> Any:
    form = WithdrawForm()
    item = request.form.get("item") or ""
    # Withdrawing everything is an explicit choice (the whole-consent page sends it);
    # a request naming no item and not choosing everything is refused by the service.
    everything = request.form.get("everything") == "yes"
    if not item and not everything:
        # Refused before anything else: never read as "withdraw everything".
        g.failure_description = "withdrawal names no item"
        return _withdraw_page(case_id, consent_id, form, 422)
    if form.validate_on_submit():
        if not form.confirm.data:
            form.confirm.errors = [_("Read back to her what stops, then confirm.")]
        else:
            try:
                services.withdraw(
                    current_uow(),
                    _registry(),
                    actor=current_actor(),
                    case_id=case_id,
                    consent_id=consent_id,
                    withdrawal=Withdrawal(
                        method=form.method.data or "",
                        by=(form.by.data or "").strip(),
                        items=(item,) if item else (),
                        at=utcnow(),
                        note=(form.note.data or "").strip() or None,
                        verified=bool(form.verified.data),
                        everything=everything,
                    ),
                )
            except services.ConsentNotFound:
                abort(404)
            except services.ConsentRefused as refused:
                attach_refusal(form, refused)
            else:
                flash(_("The withdrawal is recorded and in effect now."))
                return redirect(url_for("consent.dashboard", case_id=case_id))
    return _withdraw_page(case_id, consent_id, form, 422)
