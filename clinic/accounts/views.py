"""Login, logout, password and the user's own API tokens."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import segno
import sqlalchemy as sa
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
from markupsafe import Markup

from clinic.access import Action
from clinic.accounts import factors, passkeys
from clinic.accounts.forms import (
    CodeForm,
    ConfirmPasswordForm,
    EnrolForm,
    FactorResetForm,
    LoginForm,
    LogoutForm,
    PasskeyEnrolForm,
    PasskeyForm,
    PasswordForm,
    RevokeForm,
    TokenForm,
)
from clinic.accounts.models import User
from clinic.accounts.services import (
    AccountError,
    LoginRefused,
    LoginThrottled,
    account_usable,
    change_password,
    check_credentials,
    confirm_password,
    create_token,
    end_all_sessions,
    list_tokens,
    live_sessions,
    log_out,
    open_session,
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


def _throttled(page: str, throttled: LoginThrottled) -> tuple[str, int, dict[str, str]]:
    """A sign-in step refused during a back-off: the page, 429, and when to retry."""
    seconds = max(1, math.ceil(throttled.retry_after.total_seconds()))
    return page, 429, {"Retry-After": str(seconds)}


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
            user = check_credentials(
                current_uow(),
                username=form.username.data or "",
                password=form.password.data or "",
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
                unused_after=timedelta(days=current_app.config["ACCOUNT_UNUSED_DEACTIVATE_DAYS"]),
            )
        except LoginThrottled as throttled:
            page = render_template("accounts/login.html", form=form, error=throttled.said())
            return _throttled(page, throttled)
        except LoginRefused as refused:
            error, status = refused.said(), 401
        else:
            # The password is right: nothing opens until the second factor is given.
            session.clear()  # no session fixation: a fresh session for the new login
            session[PENDING_KEY] = {
                "user": user.id,
                "at": int(time.time()),
                "next": safe_next(request.args.get("next")),
            }
            session.permanent = False
            return redirect(url_for("accounts.second_factor"))
    elif form.is_submitted():
        status = 400
    return render_template("accounts/login.html", form=form, error=error), status


# Between the password and the second factor the cookie holds only this (signed):
# whose password was right, when, and where to go after. No page opens with it
# but the two below; it lapses after PENDING_SECONDS.
PENDING_KEY = "factor_pending"
PENDING_SECONDS = 300


def _pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    if not isinstance(at, int) or not 0 <= time.time() - at <= PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    user = current_uow().session.get(User, str(pending.get("user")))
    if user is None or not account_usable(user):
        session.pop(PENDING_KEY, None)
        return None
    return user


def _signed_in(user: User) -> Any:
    """Both factors given: the browser session opens (a fresh cookie)."""
    pending = session.get(PENDING_KEY) or {}
    opened = open_session(current_uow(), user, source_address=source_address())
    session.clear()
    session[SESSION_KEY] = opened.session_token
    session.permanent = False
    return safe_next(pending.get("next"))


def _start_again() -> Any:
    flash(_("Sign in again: the time for the second step has run out."))
    return redirect(url_for("accounts.login"))


def _rp() -> passkeys.RelyingParty:
    return passkeys.relying_party(current_app.config, request.host_url)


def _passkey_required(user: User) -> bool:
    return passkeys.required(user, current_app.config["PASSKEY_REQUIRED_ROLES"])


# The ids of the passkey challenges this browser was given, by purpose: an answer
# is checked against this browser's challenge only (and the challenge's owner).
CHALLENGES_KEY = "passkey_challenges"


def _challenge(user: User, purpose: str) -> str:
    """A new challenge for `user`; answers the options for the page's script."""
    if purpose == passkeys.REGISTER:
        challenge_id, options = passkeys.registration_options(current_uow(), user, _rp())
    else:
        challenge_id, options = passkeys.authentication_options(current_uow(), user, _rp(), purpose)
    session[CHALLENGES_KEY] = {**session.get(CHALLENGES_KEY, {}), purpose: challenge_id}
    return options


def _challenge_given(purpose: str) -> str:
    given = session.get(CHALLENGES_KEY)
    return str(given.get(purpose, "")) if isinstance(given, dict) else ""


def _passkey_refusal(form: Any, error: AccountError) -> int:
    """Show a passkey refusal where the person looks (the name, or the passkey
    button's message); answers the status: 400 for an unreadable answer."""
    target = form.name if error.field == "name" and "name" in form else form.credential
    target.errors = [*target.errors, error.said()]
    return 400 if isinstance(error, passkeys.PasskeyMalformed) else 401


def _factor_page(user: User, form: CodeForm, passkey_form: PasskeyForm) -> str:
    """The second step: a passkey (if she has one), a code (unless her role needs
    a passkey), or both."""
    passkey_form.credential.data = ""  # a new challenge: an answer is never sent twice
    uow = current_uow()
    required = _passkey_required(user)
    options = _challenge(user, passkeys.SIGN_IN) if passkeys.has_passkey(uow, user) else None
    return render_template(
        "accounts/factor.html",
        form=form,
        passkey_form=passkey_form,
        passkey_options=options,
        codes_accepted=not required and factors.has_factor(uow, user),
        required=required,
    )


@bp.route("/login/code", methods=["GET", "POST"])
@view_rule(public=True)
def second_factor() -> Any:
    """The second step of a sign-in: a passkey, or a code from the app or a
    recovery code (not for a role that needs a passkey)."""
    if g.get("actor") is not None:
        return redirect(url_for("home.index"))
    user = _pending_user()
    if user is None:
        return _start_again()
    uow = current_uow()
    if _passkey_required(user) and not passkeys.has_passkey(uow, user):
        return redirect(url_for("accounts.passkey_enrol"))
    if not factors.has_factor(uow, user) and not passkeys.has_passkey(uow, user):
        return redirect(url_for("accounts.enrol"))
    form = CodeForm()
    passkey_form = PasskeyForm(formdata=None)
    status = 200
    if form.validate_on_submit():
        try:
            factors.verify(
                uow,
                user,
                code=form.code.data or "",
                secret_key=current_app.config["SECRET_KEY"],
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
                codes_accepted=not _passkey_required(user),
            )
        except LoginThrottled as throttled:
            form.code.errors = [throttled.said()]
            return _throttled(_factor_page(user, form, passkey_form), throttled)
        except AccountError as error:
            attach_refusal(form, error)
            status = 401
        else:
            return redirect(_signed_in(user))
    elif form.is_submitted():
        status = 422
    return _factor_page(user, form, passkey_form), status


@bp.post("/login/passkey")
@view_rule(public=True)
def passkey_sign_in() -> Any:
    """The second step given with a passkey (the browser's answer to the
    challenge the second-step page carried)."""
    if g.get("actor") is not None:
        return redirect(url_for("home.index"))
    user = _pending_user()
    if user is None:
        return _start_again()
    form = PasskeyForm()
    code_form = CodeForm(formdata=None)
    if not form.validate_on_submit():
        return _factor_page(user, code_form, form), 400
    try:
        passkeys.authenticate(
            current_uow(),
            user,
            _rp(),
            challenge_id=_challenge_given(passkeys.SIGN_IN),
            credential=form.credential.data or "",
            source_address=source_address(),
            throttle=throttle_settings(current_app.config),
        )
    except LoginThrottled as throttled:
        form.credential.errors = [throttled.said()]
        return _throttled(_factor_page(user, code_form, form), throttled)
    except AccountError as error:
        status = _passkey_refusal(form, error)
        return _factor_page(user, code_form, form), status
    return redirect(_signed_in(user))


@bp.route("/login/passkey/enrol", methods=["GET", "POST"])
@view_rule(public=True)
def passkey_enrol() -> Any:
    """First sign-in (or after a reset) of a role that needs a passkey: register
    one before anything else opens; the session opens with it."""
    if g.get("actor") is not None:
        return redirect(url_for("home.index"))
    user = _pending_user()
    if user is None:
        return _start_again()
    uow = current_uow()
    if not _passkey_required(user) or passkeys.has_passkey(uow, user):
        return redirect(url_for("accounts.second_factor"))
    form = PasskeyEnrolForm()
    # An account that already has the app (every account before the requirement
    # was switched on) gives its code too: a password alone adds no passkey.
    needs_code = factors.has_factor(uow, user)
    status = 200
    if form.validate_on_submit():
        if needs_code:
            try:
                factors.verify(
                    uow,
                    user,
                    code=form.code.data or "",
                    secret_key=current_app.config["SECRET_KEY"],
                    source_address=source_address(),
                    throttle=throttle_settings(current_app.config),
                    purpose="passkey enrolment",
                )
            except LoginThrottled as throttled:
                form.code.errors = [throttled.said()]
                return _throttled(_passkey_enrol_page(user, form, needs_code), throttled)
            except AccountError as error:
                form.code.errors = [error.said()]
                return _passkey_enrol_page(user, form, needs_code), 401
        try:
            passkeys.register(
                uow,
                user,
                _rp(),
                challenge_id=_challenge_given(passkeys.REGISTER),
                credential=form.credential.data or "",
                name=form.name.data or "",
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
            )
        except LoginThrottled as throttled:
            form.name.errors = [throttled.said()]
            return _throttled(_passkey_enrol_page(user, form, needs_code), throttled)
        except AccountError as error:
            status = _passkey_refusal(form, error)
        else:
            flash(_("Your passkey is set up. Sign in with your password and this passkey."))
            return redirect(_signed_in(user))
    elif form.is_submitted():
        status = 422
    return _passkey_enrol_page(user, form, needs_code), status


def _passkey_enrol_page(user: User, form: PasskeyEnrolForm, needs_code: bool) -> str:
    form.credential.data = ""
    form.code.data = ""  # a code is good once
    return render_template(
        "accounts/passkey_enrol.html",
        form=form,
        passkey_options=_challenge(user, passkeys.REGISTER),
        reset=factors.reset_notice(current_uow(), user),
        needs_code=needs_code,
    )


@bp.route("/login/enrol", methods=["GET", "POST"])
@view_rule(public=True)
def enrol() -> Any:
    """First sign-in, or after a reset: set up the authenticator app before
    anything else opens; the recovery codes are shown once, on this answer."""
    if g.get("actor") is not None:
        return redirect(url_for("home.index"))
    user = _pending_user()
    if user is None:
        return _start_again()
    uow = current_uow()
    if factors.has_factor(uow, user) or _passkey_required(user):
        return redirect(url_for("accounts.second_factor"))
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = factors.enrol(
                uow,
                user,
                code=form.code.data or "",
                secret_key=current_app.config["SECRET_KEY"],
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
            )
        except LoginThrottled as throttled:
            form.code.errors = [throttled.said()]
            return _throttled(_enrol_page(user, form), throttled)
        except AccountError as error:
            attach_refusal(form, error)
            status = 401
        else:
            after = _signed_in(user)
            return render_template("accounts/recovery_codes.html", codes=codes, after=after)
    elif form.is_submitted():
        status = 422
    return _enrol_page(user, form), status


def _enrol_page(user: User, form: EnrolForm) -> str:
    uow = current_uow()
    enrolment = factors.begin_enrolment(uow, user, secret_key=current_app.config["SECRET_KEY"])
    qr = Markup(segno.make(enrolment.uri, error="m").svg_inline(scale=4, omitsize=False))  # noqa: S704 - SVG made by segno from our own otpauth URI
    return render_template(
        "accounts/enrol.html",
        form=form,
        qr=qr,
        secret=" ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)),
        reset=factors.reset_notice(uow, user),
    )


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
    """Type the password again, and give a code or a passkey, before a sensitive
    action, then go back to it."""
    form = ConfirmPasswordForm()
    status = 200
    if form.validate_on_submit():
        uow = current_uow()
        try:
            confirm_password(
                uow,
                g.user,
                token=session.get(SESSION_KEY, ""),
                password=form.password.data or "",
                source_address=source_address(),
                throttle=throttle_settings(current_app.config),
            )
            # Both, in one transaction: a wrong second factor undoes the confirmation.
            if form.credential.data:
                passkeys.authenticate(
                    uow,
                    g.user,
                    _rp(),
                    challenge_id=_challenge_given(passkeys.CONFIRMATION),
                    credential=form.credential.data,
                    source_address=source_address(),
                    throttle=throttle_settings(current_app.config),
                    purpose=passkeys.CONFIRMATION,
                )
            else:
                factors.verify(
                    uow,
                    g.user,
                    code=form.code.data or "",
                    secret_key=current_app.config["SECRET_KEY"],
                    source_address=source_address(),
                    throttle=throttle_settings(current_app.config),
                    purpose="confirmation",
                    codes_accepted=_codes_confirm(g.user),
                )
        except LoginThrottled as throttled:
            form.password.errors = [throttled.said()]
            return _throttled(_confirm_page(form), throttled)
        except AccountError as error:
            if form.credential.data and error.field != "password":
                status = _passkey_refusal(form, error)
            else:
                attach_refusal(form, error)
                status = 401
        else:
            return redirect(safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 422
    return _confirm_page(form), status


def _codes_confirm(user: User) -> bool:
    """Whether a code confirms it is her: not for a role that needs a passkey once
    she has one (one signed in before the requirement came has none yet)."""
    return not _passkey_required(user) or not passkeys.has_passkey(current_uow(), user)


def _confirm_page(form: ConfirmPasswordForm) -> str:
    user = g.user
    form.credential.data = ""
    options = None
    if passkeys.has_passkey(current_uow(), user):
        options = _challenge(user, passkeys.CONFIRMATION)
    return render_template(
        "accounts/confirm.html",
        form=form,
        passkey_options=options,
        codes_accepted=_codes_confirm(user),
    )


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
        form[error.field or "name"].errors.append(error.said())
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


# -- the person's own passkeys -------------------------------------------------------


@bp.get("/account/passkeys")
@view_rule()
def passkeys_page() -> Any:
    return _passkeys_page(PasskeyEnrolForm(formdata=None), 200)


def _passkeys_page(form: PasskeyEnrolForm, status: int) -> Any:
    user = g.user
    form.credential.data = ""
    return render_template(
        "accounts/passkeys.html",
        form=form,
        passkeys=passkeys.list_passkeys(current_uow(), user),
        passkey_options=_challenge(user, passkeys.REGISTER),
        remove_form=LogoutForm(formdata=None),
        required=_passkey_required(user),
    ), status


@bp.post("/account/passkeys")
@view_rule(reauthenticate=True)
def add_passkey() -> Any:
    """Register another passkey (the password and a second factor given lately)."""
    form = PasskeyEnrolForm()
    if not form.validate_on_submit():
        return _passkeys_page(form, 422)
    try:
        passkeys.register(
            current_uow(),
            g.user,
            _rp(),
            challenge_id=_challenge_given(passkeys.REGISTER),
            credential=form.credential.data or "",
            name=form.name.data or "",
            source_address=source_address(),
            throttle=throttle_settings(current_app.config),
        )
    except LoginThrottled as throttled:
        form.name.errors = [throttled.said()]
        return _throttled(_passkeys_page(form, 429)[0], throttled)
    except AccountError as error:
        status = _passkey_refusal(form, error)
        return _passkeys_page(form, 422 if status == 401 else status)
    flash(_("Your passkey is added."))
    return redirect(url_for("accounts.passkeys_page"))


@bp.post("/account/passkeys/<passkey_id>/remove")
@view_rule(reauthenticate=True)
def remove_passkey(passkey_id: str) -> Any:
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("accounts.passkeys_page"))
    try:
        passkeys.remove(
            current_uow(),
            g.user,
            passkey_id,
            roles=current_app.config["PASSKEY_REQUIRED_ROLES"],
        )
    except AccountError as error:
        flash(error.said())
        return _passkeys_page(PasskeyEnrolForm(formdata=None), 409)
    flash(_("The passkey is removed."))
    return redirect(url_for("accounts.passkeys_page"))


# -- lost second factors: one administrator asks, another confirms ---------------


@bp.get("/account/factor-resets")
@view_rule(Action.SEARCH, "User")
def factor_resets() -> Any:
    return _factor_resets_page(FactorResetForm(), 200)


def _factor_resets_page(form: FactorResetForm, status: int) -> Any:
    uow = current_uow()
    waiting = factors.pending_resets(uow, actor=current_actor())
    people = {
        user.id: user
        for user in uow.session.scalars(
            sa.select(User).where(
                User.id.in_(
                    {reset.user_id for reset in waiting} | {reset.requested_by for reset in waiting}
                )
            )
        )
    }
    return render_template(
        "accounts/factor_resets.html",
        form=form,
        waiting=waiting,
        people=people,
        confirm_form=LogoutForm(formdata=None),
    ), status


@bp.post("/account/factor-resets")
@view_rule(Action.UPDATE, "User", reauthenticate=True)
def request_factor_reset() -> Any:
    form = FactorResetForm()
    if not form.validate_on_submit():
        return _factor_resets_page(form, 422)
    try:
        factors.request_reset(
            current_uow(),
            actor=current_actor(),
            username=form.username.data or "",
            reason=form.reason.data or "",
        )
    except AccountError as error:
        attach_refusal(form, error)
        return _factor_resets_page(form, 422)
    flash(_("The reset is asked for. Another administrator must confirm it."))
    return redirect(url_for("accounts.factor_resets"))


@bp.post("/account/factor-resets/<reset_id>/confirm")
@view_rule(Action.UPDATE, "User", reauthenticate=True)
def confirm_factor_reset(reset_id: str) -> Any:
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("accounts.factor_resets"))
    try:
        factors.confirm_reset(current_uow(), reset_id, actor=current_actor())
    except AccountError as error:
        flash(error.said())
        return _factor_resets_page(FactorResetForm(formdata=None), 409)
    flash(_("The second factor is reset. The person sets up a new one at their next sign-in."))
    return redirect(url_for("accounts.factor_resets"))
