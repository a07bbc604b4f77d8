"""Administration: organisations (sites, police forces, labs) and user accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from clinic.access import Action
from clinic.access.roles import OrganizationKind, Role
from clinic.accounts.forms import (
    ActivationForm,
    OrganizationEditForm,
    OrganizationForm,
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
    set_user_active,
    update_organization,
)
from clinic.core.web import current_actor, current_uow, view_rule

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
            form[error.field or "name"].errors.append(error.message)
        else:
            flash(f"{organization.name} is added.")
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
            form.name.errors.append(error.message)
        else:
            flash(f"{organization.name} is saved.")
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
@view_rule(Action.CREATE, "User")
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
            )
        except AccountError as error:
            form[error.field or "username"].errors.append(error.message)
        else:
            flash(
                f"The account {user.username} is created. Give the person their initial password in person."
            )
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/users.html",
        users=list_users(uow, actor=actor),
        form=form,
        activation_form=ActivationForm(),
    ), 422


@bp.post("/users/<user_id>/active")
@view_rule(Action.UPDATE, "User")
def set_active(user_id: str) -> Any:
    uow, actor = current_uow(), current_actor()
    form = ActivationForm()
    user = get_user(uow, user_id, actor=actor)
    if user is None or not form.validate_on_submit():
        abort(404)
    try:
        set_user_active(uow, user, actor=actor, is_active=not user.is_active)
    except AccountError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.users"))
    flash(
        f"{user.username} is {'active again' if user.is_active else 'deactivated: their sessions ended and tokens were revoked'}."
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<user_id>", methods=["GET", "POST"])
@view_rule(Action.UPDATE, "User")
def user(user_id: str) -> Any:
    """One account: its details and a new password for a person who forgot theirs."""
    uow, actor = current_uow(), current_actor()
    account = get_user(uow, user_id, actor=actor)
    if account is None:
        abort(404)
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            reset_password(uow, account, actor=actor, new_password=form.new_password.data or "")
        except AccountError as error:
            form.new_password.errors.append(error.message)
            status = 422
        else:
            flash(
                f"{account.username} has a new password; their sessions ended. Give it to them in person."
            )
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/user.html", account=account, form=form), status
