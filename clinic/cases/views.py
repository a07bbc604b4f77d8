"""Case screens for examiners (register, open, change the reporting mode, print
the survivor's case card) and counsellors (read)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from clinic.access import Action, decide
from clinic.access.policy import CONSENT_GRANTS
from clinic.cases.forms import (
    FindCaseForm,
    RegistrationForm,
    ReportingModeForm,
    SurvivorLanguageForm,
)
from clinic.cases.models import ProxyRelationship, ReportingMode
from clinic.cases.services import (
    MODE_LABELS,
    SURVIVOR_LANGUAGES,
    CaseNotFound,
    CaseRefused,
    Proxy,
    Registration,
    SafeContact,
    change_reporting_mode,
    list_cases,
    proxy_of,
    read_case,
    register_survivor,
    safe_contact_of,
    set_survivor_language,
)
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.evidence.models import EvidenceItem
from clinic.exam.services import exams_awaiting_review, exams_of_case
from clinic.i18n.values import value_word

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.get("/")
@view_rule(Action.SEARCH, "EpisodeOfCare")
def cases() -> Any:
    form = FindCaseForm(request.args)
    reference = form.reference.data if form.validate() else None
    found = list_cases(current_uow(), actor=current_actor(), reference=reference or None)
    return render_template("cases/cases.html", cases=found, form=form, labels=_mode_labels())


@bp.route("/new", methods=["GET", "POST"])
@view_rule(Action.CREATE, "EpisodeOfCare")
def register() -> Any:
    form = RegistrationForm()
    status = 200
    if form.validate_on_submit():
        try:
            case = register_survivor(
                current_uow(),
                current_app.extensions["clinic.profiles"],
                actor=current_actor(),
                registration=_registration(form),
            )
        except CaseRefused as refused:
            attach_refusal(form, refused)
            status = 422
        else:
            flash(
                _(
                    "Case %(reference)s opened. Print the case card for the survivor.",
                    reference=case.reference,
                )
            )
            return redirect(url_for("cases.case", case_id=case.id))
    elif form.is_submitted():
        status = 422
    return render_template("cases/register.html", form=form), status


def _registration(form: RegistrationForm) -> Registration:
    anonymous = form.identity.data == "anonymous"
    wants_contact = any(
        (
            form.may_call.data,
            form.may_text.data,
            form.may_leave_message.data,
            form.code_word.data,
            form.contact_instructions.data,
        )
    )
    proxy = None
    if form.proxy_relationship.data:
        proxy = Proxy(
            ProxyRelationship(form.proxy_relationship.data),
            form.proxy_reason.data or "",
            form.proxy_name.data or None,
        )
    return Registration(
        is_anonymous=anonymous,
        reporting_mode=ReportingMode(form.reporting_mode.data),
        name=form.name.data or None,
        birth_date=form.birth_date.data,
        age_years=form.age_years.data,
        gender=form.gender.data or None,
        phone=form.phone.data or None,
        email=form.email.data or None,
        safe_contact=SafeContact(
            bool(form.may_call.data),
            bool(form.may_text.data),
            bool(form.may_leave_message.data),
            form.code_word.data or None,
            form.contact_instructions.data or None,
        )
        if wants_contact
        else None,
        proxy=proxy,
        language=form.language.data or None,
    )


@bp.get("/<case_id>")
@view_rule(Action.READ, "EpisodeOfCare")
def case(case_id: str) -> Any:
    return _case_page(case_id, None, 200)


def _case_page(
    case_id: str,
    mode_form: ReportingModeForm | None,
    status: int,
    language_form: SurvivorLanguageForm | None = None,
) -> Any:
    uow, actor = current_uow(), current_actor()
    try:
        record = read_case(
            uow, current_app.extensions["clinic.profiles"], actor=actor, case_id=case_id
        )
    except CaseNotFound:
        abort(404)
    kits = _case_kits(record.case.id)
    can_change = decide(actor, Action.UPDATE, "EpisodeOfCare").permitted
    if mode_form is None and can_change:
        mode_form = ReportingModeForm(formdata=None)
    if language_form is None and can_change:
        language_form = SurvivorLanguageForm(formdata=None, language=record.case.language)
    return render_template(
        "cases/case.html",
        record=record,
        patient=record.patient.content if record.patient else None,
        safe_contact=safe_contact_of(record.patient.content) if record.patient else None,
        proxy=proxy_of(record.episode.content),
        kits=kits,
        mode_form=mode_form,
        language_form=language_form,
        survivor_languages=SURVIVOR_LANGUAGES,
        labels=_mode_labels(),
        can_collect=decide(actor, Action.CREATE, "Specimen").permitted,
        exams=exams_of_case(current_uow(), actor=actor, case_id=record.case.id),
        awaiting_review=exams_awaiting_review(current_uow(), actor=actor, case_id=record.case.id),
        can_examine=decide(actor, Action.CREATE, "Encounter").permitted,
        can_read_shared=actor.role in CONSENT_GRANTS,
        can_appoint_expert=decide(actor, Action.CREATE, "ExpertAccount").permitted,
    ), status


@bp.post("/<case_id>/reporting-mode")
@view_rule(Action.UPDATE, "EpisodeOfCare")
def reporting_mode(case_id: str) -> Any:
    form = ReportingModeForm()
    if form.validate_on_submit():
        try:
            changed = change_reporting_mode(
                current_uow(),
                current_app.extensions["clinic.profiles"],
                actor=current_actor(),
                case_id=case_id,
                mode=ReportingMode(form.mode.data),
                reason=form.reason.data or "",
            )
        except CaseNotFound:
            abort(404)
        except CaseRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(
                _(
                    "Case %(reference)s is now %(mode)s.",
                    reference=changed.reference,
                    mode=value_word(changed.reporting_mode, "reporting-mode"),
                )
            )
            return redirect(url_for("cases.case", case_id=case_id))
    return _case_page(case_id, form, 422)


@bp.post("/<case_id>/language")
@view_rule(Action.UPDATE, "EpisodeOfCare")
def survivor_language(case_id: str) -> Any:
    """The language she reads, at her word: what is printed for her follows it."""
    form = SurvivorLanguageForm()
    if form.validate_on_submit():
        try:
            set_survivor_language(
                current_uow(), actor=current_actor(), case_id=case_id, language=form.language.data
            )
        except CaseNotFound:
            abort(404)
        except CaseRefused as refused:
            attach_refusal(form, refused)
        else:
            flash(_("Her language is recorded. What is printed for her is in it from now on."))
            return redirect(url_for("cases.case", case_id=case_id))
    return _case_page(case_id, None, 422, form)


@bp.get("/<case_id>/card")
@view_rule(Action.READ, "EpisodeOfCare")
def card(case_id: str) -> Any:
    """The card the survivor takes home: the case reference and how to reach the
    clinic, never her name."""
    try:
        record = read_case(
            current_uow(),
            current_app.extensions["clinic.profiles"],
            actor=current_actor(),
            case_id=case_id,
        )
    except CaseNotFound:
        abort(404)
    from clinic.consent.services import survivor_language
    from clinic.consent.words import date_in_words, words_for

    # Her language: that of her latest consent (English until one is recorded).
    language = survivor_language(
        current_uow(),
        current_app.extensions["clinic.profiles"],
        actor=current_actor(),
        patient_id=record.case.patient_id,
    )
    # The clinic as the site chooses to be named on paper she takes home (a discreet
    # name and phone, site_settings/), never what it does.
    settings = current_app.extensions["clinic.site_settings"].for_site(record.site.code)
    return render_template(
        "cases/card.html",
        record=record,
        kits=_case_kits(record.case.id),
        site_name=settings.printed_name(language),
        site_phone=settings.phone,
        language=language,
        words=words_for(language),
        date_in_words=date_in_words,
    )


def _mode_labels() -> dict[str, str]:
    return {mode.value: _(label) for mode, label in MODE_LABELS.items()}


def _case_kits(case_id: str) -> list[EvidenceItem]:
    from clinic.evidence.services import kits_of_case

    return kits_of_case(current_uow(), actor=current_actor(), case_id=case_id)
