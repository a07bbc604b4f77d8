"""Login, logout, password and the user's own API tokens."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from clinic.access import Action
from clinic.accounts.forms import (
    ConfirmPasswordForm,
    LoginForm,
    LogoutForm,
    PasswordForm,
    RevokeForm,
    TokenForm,
)
from clinic.accounts.services import (
    AccountError,
    LoginRefused,
    LoginThrottled,
    change_password,
    confirm_password,
    create_token,
    end_all_sessions,
    list_tokens,
    live_sessions,
    log_in,
    log_out,
    revoke_token,
    session_ends_by_timeout,
    session_time_left,
    token_is_live,
)
from clinic.accounts.throttle import ThrottleSettings
from clinic.core.web import (
    ENDED_SESSION_KEY,
    SESSION_KEY,
    attach_refusal,
    current_actor,
    current_uow,
    safe_next,
    source_address,
    view_rule,
)

bp = Blueprint("accounts", __name__)


def throttle_settings(config: Any) -> ThrottleSettings:
    return ThrottleSettings(
        window=config["LOGIN_THROTTLE_WINDOW"],
        free_per_username=config["LOGIN_FREE_FAILURES_PER_USERNAME"],
        free_per_address=config["LOGIN_FREE_FAILURES_PER_ADDRESS"],
        free_overall=config["LOGIN_FREE_FAILURES_OVERALL"],
        first_delay=config["LOGIN_BACKOFF_FIRST"],
        max_delay=config["LOGIN_BACKOFF_MAX"],
    )


@bp.route("/login", methods=["GET", "POST"])
@view_rule(public=True)
def login() -> Any:
    if g.get("actor") is not None:
        return redirect(url_for("home.index"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            result = log_in(
                current_uow(),
                username=form.username.data or "",
                password=form.password.data or "",
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
                unused_after=timedelta(days=current_app.config["ACCOUNT_UNUSED_DEACTIVATE_DAYS"]),
            )
        except LoginThrottled as throttled:
            page = render_template("accounts/login.html", form=form, error=throttled.message)
            seconds = max(1, math.ceil(throttled.retry_after.total_seconds()))
            return page, 429, {"Retry-After": str(seconds)}
        except LoginRefused as refused:
            error, status = refused.message, 401
        else:
            session.clear()  # no session fixation: a fresh session for the new login
            session[SESSION_KEY] = result.session_token
            session.permanent = False
            return redirect(safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 400
    return render_template("accounts/login.html", form=form, error=error), status


@bp.post("/logout")
@view_rule()
def logout() -> Any:
    form = LogoutForm()
    if form.validate_on_submit():
        log_out(
            current_uow(),
            session.get(SESSION_KEY, ""),
            actor=current_actor(),
            source_address=source_address(),
        )
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("accounts.login"))


@bp.get("/session")
@view_rule(public=True, extends_session=False)
def session_status() -> Any:
    """How many seconds the browser session has left, as the server sees it. Asking
    does not extend it. Also the page script's check that the server can be reached
    before a form is submitted."""
    return _time_left()


@bp.post("/session/extend")
@view_rule(public=True)
def extend_session() -> Any:
    """'Stay signed in': the request itself has extended a live session (CSRF
    checked); answers the time it now has, zero if it had already ended."""
    return _time_left()


def _time_left() -> Any:
    """`seconds_left`, and `kept_if_saved`: whether a step posted now would be kept
    for her (the session is live or timed out) or not (signed out, unknown)."""
    token = session.get(SESSION_KEY)
    seconds = 0
    if token:
        left = session_time_left(
            current_uow(),
            token,
            idle_timeout=current_app.config["SESSION_IDLE_TIMEOUT"],
            absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
        )
        seconds = int(left.total_seconds())
    token = token or session.get(ENDED_SESSION_KEY)
    kept = session_ends_by_timeout(current_uow(), token) if token else False
    return jsonify(seconds_left=seconds, kept_if_saved=kept)


@bp.route("/account/password", methods=["GET", "POST"])
@view_rule()
def password() -> Any:
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            change_password(
                current_uow(),
                g.user,
                current_password=form.current_password.data or "",
                new_password=form.new_password.data or "",
                keep_session=session.get(SESSION_KEY),
                source_address=source_address(),
            )
        except AccountError as error:
            attach_refusal(form, error)
            status = 422
        else:
            flash(
                _("Your password is changed. Every other browser signed in as you is signed out.")
            )
            return redirect(url_for("home.index"))
    elif form.is_submitted():
        status = 422
    return _password_page(form, status)


def _password_page(form: PasswordForm, status: int) -> Any:
    return render_template(
        "accounts/password.html",
        form=form,
        everywhere_form=LogoutForm(formdata=None),
        sessions=live_sessions(current_uow(), actor=current_actor()),
        must_change=g.user.must_change_password,
    ), status


@bp.route("/account/confirm", methods=["GET", "POST"])
@view_rule()
def confirm_password_view() -> Any:
    """Type the password again before a sensitive action, then go back to it."""
    form = ConfirmPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            confirm_password(
                current_uow(),
                g.user,
                token=session.get(SESSION_KEY, ""),
                password=form.password.data or "",
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
            )
        except LoginThrottled as throttled:
            form.password.errors = [throttled.message]
            seconds = max(1, math.ceil(throttled.retry_after.total_seconds()))
            page = render_template("accounts/confirm.html", form=form)
            return page, 429, {"Retry-After": str(seconds)}
        except AccountError as error:
            attach_refusal(form, error)
            status = 401
        else:
            return redirect(safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 422
    return render_template("accounts/confirm.html", form=form), status


@bp.post("/account/sessions/end")
@view_rule()
def sign_out_everywhere() -> Any:
    """Ends every browser session of the signed-in person, this one included."""
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("accounts.password"))
    end_all_sessions(current_uow(), actor=current_actor(), source_address=source_address())
    session.clear()
    flash(_("You are signed out on every browser. Sign in again to go on."))
    return redirect(url_for("accounts.login"))


@bp.get("/account/tokens")
@view_rule(Action.SEARCH, "ApiToken")
def tokens() -> Any:
    return _tokens_page(TokenForm(), None, 200)


def _tokens_page(form: TokenForm, secret: str | None, status: int) -> Any:
    items = list_tokens(current_uow(), actor=current_actor())
    return render_template(
        "accounts/tokens.html",
        form=form,
        tokens=items,
        secret=secret,
        revoke_form=RevokeForm(),
        is_live=token_is_live,
    ), status


@bp.post("/account/tokens")
@view_rule(Action.CREATE, "ApiToken", reauthenticate=True)
def create_token_view() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, None, 422)
    try:
        issued = create_token(
            current_uow(),
            actor=current_actor(),
            name=form.name.data or "",
            days=form.days.data or 0,
            max_days=current_app.config["API_TOKEN_MAX_DAYS"],
        )
    except AccountError as error:
        form[error.field or "name"].errors.append(error.message)
        return _tokens_page(form, None, 422)
    # Shown once, on this response only; never stored or logged.
    return _tokens_page(TokenForm(formdata=None), issued.secret, 201)


@bp.post("/account/tokens/<token_id>/revoke")
@view_rule(Action.UPDATE, "ApiToken")
def revoke_token_view(token_id: str) -> Any:
    form = RevokeForm()
    if form.validate_on_submit():
        revoke_token(current_uow(), token_id, actor=current_actor())
        flash(_("The token is revoked."))
    return redirect(url_for("accounts.tokens"))
