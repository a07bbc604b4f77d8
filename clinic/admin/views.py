"""Administration: organisations (sites, police forces, labs) and user accounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from clinic.access import Action
from clinic.access.roles import OrganizationKind, Role
from clinic.accounts.forms import (
    ActivationForm,
    OrganizationEditForm,
    OrganizationForm,
    RegistrationForm,
    ResetPasswordForm,
    UserForm,
)
from clinic.accounts.models import Organization
from clinic.accounts.services import (
    AccountError,
    create_organization,
    create_user,
    get_user,
    list_organizations,
    list_users,
    reset_password,
    set_professional_registration,
    set_user_active,
    update_organization,
)
from clinic.admin.forms import AccessReviewForm, RenewForm
from clinic.admin.hygiene import (
    HygieneRefused,
    access_review,
    confirm_access_review,
    renew_account,
    unused_accounts,
)
from clinic.core.web import attach_refusal, current_actor, current_uow, view_rule

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _registry() -> Any:
    return current_app.extensions["clinic.profiles"]


@bp.get("/organizations")
@view_rule(Action.UPDATE, "Organization")
def organizations() -> Any:
    items = list_organizations(current_uow(), actor=current_actor())
    return render_template(
        "admin/organizations.html", organizations=items, form=OrganizationForm(formdata=None)
    )


@bp.post("/organizations")
@view_rule(Action.CREATE, "Organization")
def create_organization_view() -> Any:
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            organization = create_organization(
                current_uow(),
                _registry(),
                actor=current_actor(),
                kind=OrganizationKind(form.kind.data),
                name=form.name.data or "",
                code=form.code.data or "",
            )
        except AccountError as error:
            form[error.field or "name"].errors.append(error.said())
        else:
            flash(_("%(name)s is added.", name=organization.name))
            return redirect(url_for("admin.organizations"))
    items = list_organizations(current_uow(), actor=current_actor())
    return render_template("admin/organizations.html", organizations=items, form=form), 422


@bp.route("/organizations/<organization_id>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "Organization")
def edit_organization(organization_id: str) -> Any:
    organization = current_uow().session.get(Organization, organization_id)
    if organization is None:
        abort(404)
    form = OrganizationEditForm(obj=organization)
    if form.validate_on_submit():
        try:
            update_organization(
                current_uow(),
                _registry(),
                organization,
                actor=current_actor(),
                name=form.name.data or "",
                is_active=bool(form.is_active.data),
            )
        except AccountError as error:
            attach_refusal(form, error)
        else:
            flash(_("%(name)s is saved.", name=organization.name))
            return redirect(url_for("admin.organizations"))
        return render_template("admin/organization.html", organization=organization, form=form), 422
    status = 422 if form.is_submitted() else 200
    return render_template("admin/organization.html", organization=organization, form=form), status


@bp.get("/users")
@view_rule(Action.SEARCH, "User")
def users() -> Any:
    uow, actor = current_uow(), current_actor()
    form = UserForm(formdata=None, organizations=list_organizations(uow, actor=actor))
    return render_template(
        "admin/users.html",
        users=list_users(uow, actor=actor),
        form=form,
        activation_form=ActivationForm(),
    )


@bp.post("/users")
@view_rule(Action.CREATE, "User", reauthenticate=True)
def create_user_view() -> Any:
    uow, actor = current_uow(), current_actor()
    form = UserForm(organizations=list_organizations(uow, actor=actor))
    if form.validate_on_submit():
        try:
            user = create_user(
                uow,
                actor=actor,
                username=form.username.data or "",
                display_name=form.display_name.data or "",
                role=Role(form.role.data),
                organization_id=form.organization_id.data or "",
                password=form.password.data or "",
                professional_registration=form.professional_registration.data or None,
            )
        except AccountError as error:
            form[error.field or "username"].errors.append(error.said())
        else:
            flash(
                _(
                    "The account %(username)s is created. Give the person their initial password in person.",
                    username=user.username,
                )
            )
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/users.html",
        users=list_users(uow, actor=actor),
        form=form,
        activation_form=ActivationForm(),
    ), 422


@bp.post("/users/<user_id>/active")
@view_rule(Action.UPDATE, "User", reauthenticate=True)
def set_active(user_id: str) -> Any:
    uow, actor = current_uow(), current_actor()
    form = ActivationForm()
    user = get_user(uow, user_id, actor=actor)
    if user is None or not form.validate_on_submit():
        abort(404)
    try:
        set_user_active(uow, user, actor=actor, is_active=not user.is_active)
        if user.is_active:
            # Reactivated: a use, or the unused-account rule would refuse it at once.
            renew_account(uow, actor=actor, user=user)
    except AccountError as error:
        flash(error.said(), "error")
        return redirect(url_for("admin.users"))
    flash(
        _("%(username)s is active again.", username=user.username)
        if user.is_active
        else _(
            "%(username)s is deactivated: their sessions ended and tokens were revoked.",
            username=user.username,
        )
    )
    return redirect(url_for("admin.users"))


def _days(setting: str) -> timedelta:
    return timedelta(days=int(current_app.config[setting]))


@bp.get("/unused")
@view_rule(Action.SEARCH, "User")
def unused() -> Any:
    return _unused_page(200)


def _unused_page(status: int) -> Any:
    accounts = unused_accounts(
        current_uow(),
        actor=current_actor(),
        listed_after=_days("ACCOUNT_UNUSED_LIST_DAYS"),
        deactivated_after=_days("ACCOUNT_UNUSED_DEACTIVATE_DAYS"),
    )
    return render_template(
        "admin/unused.html",
        accounts=accounts,
        form=RenewForm(),
        listed_days=current_app.config["ACCOUNT_UNUSED_LIST_DAYS"],
        deactivated_days=current_app.config["ACCOUNT_UNUSED_DEACTIVATE_DAYS"],
    ), status


@bp.post("/users/<user_id>/renew")
@view_rule(Action.UPDATE, "User", reauthenticate=True)
def renew(user_id: str) -> Any:
    uow, actor = current_uow(), current_actor()
    form = RenewForm()
    user = get_user(uow, user_id, actor=actor)
    if user is None or not form.validate_on_submit():
        abort(404)
    if not user.is_active:
        flash(
            _("%(username)s is deactivated: reactivate it instead.", username=user.username),
            "error",
        )
        return _unused_page(409)
    renew_account(uow, actor=actor, user=user)
    flash(_("%(username)s is renewed: counted as used today.", username=user.username))
    return redirect(url_for("admin.unused"))


@bp.get("/access-review")
@view_rule(Action.READ, "AccessReview")
def access_review_page() -> Any:
    return _access_review_page(None, 200)


def _access_review_page(error: str | None, status: int) -> Any:
    review = access_review(
        current_uow(), actor=current_actor(), interval=_days("ACCESS_REVIEW_INTERVAL_DAYS")
    )
    return render_template(
        "admin/access_review.html",
        review=review,
        form=AccessReviewForm(formdata=None, digest=review.digest),
        error=error,
        interval_days=current_app.config["ACCESS_REVIEW_INTERVAL_DAYS"],
    ), status


@bp.post("/access-review")
@view_rule(Action.CREATE, "AccessReview", reauthenticate=True)
def confirm_access_review_view() -> Any:
    form = AccessReviewForm()
    if not form.validate_on_submit():
        return _access_review_page(_("The form has expired. Review the list again."), 422)
    try:
        confirm_access_review(current_uow(), actor=current_actor(), digest=form.digest.data or "")
    except HygieneRefused as refused:
        return _access_review_page(refused.said(), 409)
    flash(_("The access review is recorded."))
    return redirect(url_for("admin.access_review_page"))


@bp.route("/users/<user_id>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "User", reauthenticate=True)
def user(user_id: str) -> Any:
    """One account: its details and a new password for a person who forgot theirs."""
    uow, actor = current_uow(), current_actor()
    account = get_user(uow, user_id, actor=actor)
    if account is None:
        abort(404)
    if request.method == "POST" and request.form.get("change") == "registration":
        registration_form = RegistrationForm()
        if registration_form.validate_on_submit():
            try:
                set_professional_registration(
                    uow,
                    account,
                    actor=actor,
                    registration=registration_form.professional_registration.data or None,
                )
            except AccountError as error:
                registration_form.professional_registration.errors.append(error.said())
            else:
                flash(
                    _(
                        "The professional registration of %(username)s is saved.",
                        username=account.username,
                    )
                )
                return redirect(url_for("admin.user", user_id=account.id))
        return render_template(
            "admin/user.html",
            account=account,
            form=ResetPasswordForm(formdata=None),
            registration_form=registration_form,
        ), 422
    registration_form = RegistrationForm(
        formdata=None, data={"professional_registration": account.professional_registration}
    )
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            reset_password(uow, account, actor=actor, new_password=form.new_password.data or "")
        except AccountError as error:
            form.new_password.errors.append(error.said())
            status = 422
        else:
            flash(
                _(
                    "%(username)s has a new password; their sessions ended. Give it to them in person.",
                    username=account.username,
                )
            )
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "admin/user.html", account=account, form=form, registration_form=registration_form
    ), status


def _retention_row(mode: str, group: str) -> str:
    """A retention rule's row, named in the reader's language: "Reported, adult"."""
    from clinic.evidence.retention import AGE_GROUP_WORDS
    from clinic.i18n.values import VALUE_WORDS

    words = _(VALUE_WORDS["reporting-mode"][mode])
    return f"{words[:1].upper()}{words[1:]}, {_(AGE_GROUP_WORDS[group])}"


@bp.route("/organizations/<organization_id>/retention", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "RetentionRule")
def retention(organization_id: str) -> Any:
    """A site's retention rules by reporting mode and age group, and its deadlines."""
    from clinic.cases.models import ReportingMode
    from clinic.evidence.forms import retention_form_class
    from clinic.evidence.models import AgeGroup, CountedFrom
    from clinic.evidence.retention import (
        RetentionRefused,
        RetentionTerms,
        SiteDeadlines,
        rules_for_site,
        set_site_retention,
        site_deadlines,
    )

    uow = current_uow()
    site = uow.session.get(Organization, organization_id)
    if site is None or site.kind != OrganizationKind.SITE.value:
        abort(404)
    form = retention_form_class()()
    keys = [(mode, group) for mode in ReportingMode for group in AgeGroup]
    if not form.is_submitted():
        rules = rules_for_site(uow.session, site.id)
        deadlines = site_deadlines(
            uow.session, site.id, current_app.config["TRANSFER_OVERDUE_DAYS"]
        )
        for mode, group in keys:
            terms = rules[(mode, group)]
            form[f"{mode.value}_{group.value}_years"].data = terms.years
            form[f"{mode.value}_{group.value}_months"].data = terms.months
            form[f"{mode.value}_{group.value}_from"].data = terms.counted_from.value
        form.transfer_limit_days.data = deadlines.transfer_limit_days
        form.objection_extension_months.data = deadlines.objection_extension_months
        form.coming_due_days.data = deadlines.coming_due_days
    status = 200
    if form.validate_on_submit():
        rules = {
            (mode, group): RetentionTerms(
                form[f"{mode.value}_{group.value}_years"].data,
                form[f"{mode.value}_{group.value}_months"].data,
                CountedFrom(form[f"{mode.value}_{group.value}_from"].data),
            )
            for mode, group in keys
        }
        try:
            set_site_retention(
                uow,
                actor=current_actor(),
                site_id=site.id,
                rules=rules,
                deadlines=SiteDeadlines(
                    form.transfer_limit_days.data,
                    form.objection_extension_months.data,
                    form.coming_due_days.data,
                ),
            )
        except RetentionRefused as refused:
            name = refused.field or ""
            for candidate in (name, f"{name.replace('-', '_')}_years", "transfer_limit_days"):
                if candidate in form:
                    target = form[candidate]
                    break
            target.errors.append(refused.said())
            status = 422
        else:
            flash(
                _(
                    "Retention for %(site)s is saved. It applies to kits sealed from now on.",
                    site=site.name,
                )
            )
            return redirect(url_for("admin.retention", organization_id=site.id))
    elif form.is_submitted():
        status = 422
    rows = [
        (
            _retention_row(mode.value, group.value),
            form[f"{mode.value}_{group.value}_years"],
            form[f"{mode.value}_{group.value}_months"],
            form[f"{mode.value}_{group.value}_from"],
        )
        for mode, group in keys
    ]
    return render_template("admin/retention.html", site=site, form=form, rows=rows), status
