"""Referral screens: her referrals and a new one (counsellors, and the examiner at her
plan), a referral's status, the printed letter; the partner directory (site
administrators). Views load, check, call one service and render."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext

from clinic.access import Action, decide
from clinic.access.policy import REFERRAL_RECIPIENT
from clinic.access.terms import DATA_CLASS_SYSTEM, DATA_CLASSES, RECIPIENT_SYSTEM, RECIPIENTS
from clinic.accounts.models import Organization
from clinic.core.clock import to_local
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule
from clinic.fhir.terminology import display
from clinic.followup import directory, referrals, services
from clinic.followup.letter_words import letter_words, service_kind_words
from clinic.followup.referral_forms import PartnerServiceForm, ReferralForm, ReferralStatusForm
from clinic.followup.terms import REFERRAL_NEXT, REFERRAL_STATUS, SERVICE_KIND_SYSTEM, SERVICE_KINDS
from clinic.followup.views import day_in_words
from clinic.i18n import N_
from clinic.i18n.values import coded_words, translated_words

bp = Blueprint("referrals", __name__)


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


def _zone() -> str:
    return str(current_app.config["CLINIC_TIMEZONE"])


def _words() -> dict[str, Any]:
    recipients = coded_words(RECIPIENT_SYSTEM, RECIPIENTS, inline=True)
    return {
        "service_kinds": coded_words(SERVICE_KIND_SYSTEM, SERVICE_KINDS),
        "referral_status": translated_words(REFERRAL_STATUS),
        "referral_next": REFERRAL_NEXT,
        "recipient_of": {kind: recipients[r] for kind, r in REFERRAL_RECIPIENT.items()},
        "data_classes": coded_words(DATA_CLASS_SYSTEM, DATA_CLASSES, inline=True),
        "local": lambda moment: to_local(moment, _zone()),
        "day_in_words": day_in_words,
    }


@bp.route("/followup/plans/<plan_id>/referrals", methods=["GET", "POST"])
@view_rule(Action.READ, "ServiceRequest")
def plan_referrals(plan_id: str) -> Any:
    """Her referrals, and a new one to a service of her site's directory."""
    uow, actor = current_uow(), current_actor()
    try:
        record = services.read_plan(uow, _registry(), actor=actor, plan_id=plan_id, zone=_zone())
    except services.PlanNotFound:
        abort(404)
    may_refer = decide(actor, Action.CREATE, "ServiceRequest").permitted
    form = ReferralForm()
    status = 200
    if may_refer and form.validate_on_submit():
        try:
            referral = referrals.make_referral(
                uow,
                _registry(),
                actor=actor,
                plan_id=plan_id,
                service_id=form.service.data,
                reason=form.reason.data,
                she_declined=bool(form.she_declined.data),
            )
        except services.PlanNotFound:
            abort(404)
        except referrals.ReferralRefused as refused:
            uow.rollback()
            attach_refusal(form, refused)
            status = 422
        else:
            flash(
                gettext("Recorded: she declined the referral.")
                if referral.status == "declined"
                else gettext("Referral sent. Print the letter for a partner without an account.")
            )
            return redirect(url_for("referrals.plan_referrals", plan_id=plan_id))
    elif form.is_submitted():
        status = 422 if may_refer else 403
        if not may_refer:
            abort(403)
    available = directory.directory(uow, actor=actor, site_id=record.plan.site_id, only_active=True)
    form.service.choices = [
        (s.id, f"{s.name} ({display(SERVICE_KIND_SYSTEM, s.kind)}), {s.organisation}")
        for s in available
    ]
    return render_template(
        "followup/referrals.html",
        record=record,
        form=form,
        may_refer=may_refer,
        may_update=decide(actor, Action.UPDATE, "ServiceRequest").permitted,
        status_form=ReferralStatusForm(formdata=None),
        available=available,
        found=referrals.referrals_of_plan(uow, actor=actor, plan=record.plan),
        **_words(),
    ), status


@bp.post("/followup/referrals/<referral_id>/status")
@view_rule(Action.UPDATE, "ServiceRequest")
def referral_status(referral_id: str) -> Any:
    uow = current_uow()
    try:
        referral = referrals.find_referral(
            uow, actor=current_actor(), referral_id=referral_id, action=Action.UPDATE
        )
    except referrals.ReferralNotFound:
        abort(404)
    plan_id = referral.plan_id
    form = ReferralStatusForm()
    try:
        if not form.validate_on_submit():
            raise referrals.ReferralRefused(N_("Choose what became of the referral."), "status")
        referrals.set_status(
            uow,
            _registry(),
            actor=current_actor(),
            referral_id=referral_id,
            status=form.status.data,
            outcome=form.outcome.data,
        )
    except referrals.ReferralNotFound:
        abort(404)
    except referrals.ReferralRefused as refused:
        uow.rollback()
        flash(refused.said(), "error")
        return redirect(url_for("referrals.plan_referrals", plan_id=plan_id), 303)
    flash(
        gettext("Referral: %(status)s.", status=gettext(REFERRAL_STATUS[form.status.data]).lower())
    )
    return redirect(url_for("referrals.plan_referrals", plan_id=plan_id))


@bp.get("/followup/referrals/<referral_id>/letter")
@view_rule(Action.READ, "ServiceRequest")
def letter(referral_id: str) -> Any:
    """The printable referral letter, in her language, with only what she shares."""
    try:
        written = referrals.letter(
            current_uow(), _registry(), actor=current_actor(), referral_id=referral_id
        )
    except referrals.ReferralNotFound:
        abort(404)
    except referrals.ReferralRefused as refused:
        abort(409, refused.said())
    return render_template(
        "followup/referral_letter.html",
        letter=written,
        words=letter_words(written.language),
        kinds=service_kind_words(written.language),
        **_words(),
    )


# -- the partner directory (site administrators) -----------------------------------------


def _sites() -> list[Organization]:
    from clinic.access.roles import OrganizationKind

    return list(
        current_uow().session.scalars(
            sa.select(Organization)
            .where(Organization.kind == OrganizationKind.SITE)
            .order_by(Organization.name)
        )
    )


@bp.route("/admin/partner-services", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "HealthcareService")
def partner_services() -> Any:
    """Every site's directory of partner services, and a new entry."""
    uow, actor = current_uow(), current_actor()
    sites = _sites()
    form = PartnerServiceForm()
    form.site.choices = [("", gettext("Choose…")), *((site.id, site.name) for site in sites)]
    status = 200
    if form.validate_on_submit():
        try:
            added = directory.add_service(
                uow,
                actor=actor,
                site_id=form.site.data,
                entry=directory.ServiceEntry(
                    kind=form.kind.data,
                    name=form.name.data or "",
                    organisation=form.organisation.data or "",
                    phone=form.phone.data or "",
                    email=form.email.data or "",
                    address=form.address.data or "",
                    languages=form.languages.data or "",
                    accepts=form.accepts.data or "",
                    has_account=bool(form.has_account.data),
                ),
            )
        except directory.DirectoryRefused as refused:
            uow.rollback()
            attach_refusal(form, refused)
            status = 422
        else:
            flash(gettext("%(name)s is in the directory.", name=added.name))
            return redirect(url_for("referrals.partner_services"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "followup/referral_directory.html",
        form=form,
        sites={site.id: site.name for site in sites},
        entries=directory.directory(uow, actor=actor),
        **_words(),
    ), status


@bp.post("/admin/partner-services/<service_id>/active")
@view_rule(Action.UPDATE, "HealthcareService")
def partner_service_active(service_id: str) -> Any:
    uow = current_uow()
    service = uow.session.get(directory.PartnerService, service_id)
    try:
        changed = directory.set_active(
            uow,
            actor=current_actor(),
            service_id=service_id,
            active=not service.active if service is not None else False,
        )
    except directory.ServiceNotFound:
        abort(404)
    flash(
        gettext("%(name)s: listed.", name=changed.name)
        if changed.active
        else gettext("%(name)s: taken off the directory.", name=changed.name)
    )
    return redirect(url_for("referrals.partner_services"))
