"""The web base: one unit of work per request, access rules on every view, errors
and security headers.

Every view is registered with `view_rule`, which states what it needs (an action
on a kind, public, or a rule the view applies itself from its URL). `create_app`
refuses to start if any endpoint lacks one, and the access-matrix test checks each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from clinic.access import AccessDenied, Action, Actor, require
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import utcnow
from clinic.core.db import CommitOutcomeUnknown, database_unavailable, db
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from clinic.drafts.services import DraftSettings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "sid"
# Where the cookie keeps the id of a session that has ended, so that a step posted
# afterwards can still be kept for the person whose session it was.
ENDED_SESSION_KEY = "ended_sid"


# What a person whose password an administrator chose may open before choosing
# their own (`User.must_change_password`): the password page and signing out.
OPEN_BEFORE_PASSWORD_CHANGE = frozenset(
    {"accounts.password", "accounts.logout", "accounts.sign_out_everywhere"}
)


@dataclass(frozen=True)
class ViewRule:
    """What a view requires. `kind`/`action` are checked before the view runs;
    `self_checked` views (the FHIR API) ask the decision point per request."""

    action: Action | None = None
    kind: str | None = None
    public: bool = False
    self_checked: bool = False
    # Authentication: "session" (browser), "bearer" (API) or None (public).
    auth: str | None = "session"
    # False for the session-status endpoint: asking how long is left must not
    # count as activity, or the warning could never be right.
    extends_session: bool = True
    # The config key of a larger request body this view accepts (photographs).
    body_limit: str | None = None
    # An action (any method but GET) that needs the password typed within
    # REAUTHENTICATE_AFTER in this session: API tokens, account administration,
    # approving a release.
    reauthenticate: bool = False
    # A POST that changes nothing but its audit records (a FHIR search sent as a
    # form): when its commit's outcome is unknown, it may simply be asked again.
    only_reads: bool = False


def view_rule(
    action: Action | None = None,
    kind: str | None = None,
    *,
    public: bool = False,
    self_checked: bool = False,
    auth: str | None = "session",
    extends_session: bool = True,
    body_limit: str | None = None,
    reauthenticate: bool = False,
    only_reads: bool = False,
) -> Callable[[F], F]:
    rule = ViewRule(
        action,
        kind,
        public,
        self_checked,
        None if public else auth,
        extends_session,
        body_limit,
        reauthenticate,
        only_reads,
    )

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if rule.auth == "session" and g.get("actor") is None:
                if request.method == "POST":
                    _keep_what_was_typed()
                return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
            if (
                rule.auth == "session"
                and g.user.must_change_password
                and request.endpoint not in OPEN_BEFORE_PASSWORD_CHANGE
            ):
                # A password an administrator chose: nothing opens before their own.
                return redirect(url_for("accounts.password"))
            if rule.action is not None and rule.kind is not None:
                require(current_actor(), rule.action, rule.kind)
            if rule.reauthenticate and request.method != "GET" and not _password_fresh():
                flash(
                    _(
                        "For your safety, confirm it is you with your password and a code, "
                        "then repeat what you were doing."
                    )
                )
                return redirect(
                    url_for("accounts.confirm_password_view", next=_page_to_return_to())
                )
            if rule.auth == "session" and request.method == "GET":
                _restore_what_was_typed()
            return view(*args, **kwargs)

        wrapped._view_rule = rule  # type: ignore[attr-defined]
        return cast(F, wrapped)

    return decorate


def _password_fresh() -> bool:
    from clinic.accounts.services import password_confirmed_since

    token = session.get(SESSION_KEY)
    if not token:
        return False
    since = utcnow() - current_app.config["REAUTHENTICATE_AFTER"]
    return password_confirmed_since(current_uow(), str(token), since)


def _page_to_return_to() -> str:
    """The page the action was posted from: the page of the same address, or of
    the address it is an action of (`/x/<id>/approve` is posted from `/x/<id>`);
    else home."""
    adapter = current_app.url_map.bind("localhost")
    for path in (request.path, request.path.rstrip("/").rpartition("/")[0]):
        try:
            adapter.match(path, method="GET")
        except HTTPException:
            continue
        return path
    return url_for("home.index")


def rule_of(app: Flask, endpoint: str) -> ViewRule | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "_view_rule", None)


def current_rule() -> ViewRule | None:
    """The rule of the view this request was routed to (None when it matched none)."""
    return rule_of(current_app, request.endpoint) if request.endpoint else None


def answer_head_as_get() -> None:
    """HEAD is answered exactly as GET, without its body (RFC 9110 section 9.3.2):
    the views that serve a form on GET and save it on POST branch on the method,
    and a HEAD must never reach the saving branch. Runs before everything else, so
    that the views, the CSRF check and the audit trail all see a GET. Werkzeug
    still leaves the body out, since it reads the method from the environment."""
    if request.method == "HEAD":
        request.method = "GET"


def apply_body_limit() -> None:
    """Runs before anything reads the body (the CSRF check does): a view that takes
    photographs accepts the larger body its rule names; every other view keeps
    MAX_CONTENT_LENGTH."""
    rule = current_rule()
    if rule is not None and rule.body_limit is not None:
        request.max_content_length = current_app.config[rule.body_limit]


NUL_REFUSED = (
    "The request holds a NUL character, a control character that no id, search or "
    "form value may hold; nothing was done."
)


def refuse_nul_characters() -> None:
    """Runs before anything looks the request up (after the body limit): a NUL
    character is never part of an id, a search or a form value, and PostgreSQL cannot
    compare or store one. Refused alike on every route and both databases."""
    values: list[str] = [request.path]
    for key, value in request.args.items(multi=True):
        values += (key, value)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            values += (key, value)
        for key, upload in request.files.items(multi=True):
            values += (key, upload.filename or "")
    if any("\x00" in value for value in values):
        abort(400, NUL_REFUSED)


def check_every_view_has_a_rule(app: Flask) -> None:
    missing = [
        endpoint
        for endpoint in app.view_functions
        if endpoint != "static" and rule_of(app, endpoint) is None
    ]
    if missing:
        raise RuntimeError(f"views without an access rule: {', '.join(sorted(missing))}")


def current_uow() -> UnitOfWork:
    uow: UnitOfWork = g.uow
    return uow


def current_actor() -> Actor:
    actor: Actor | None = g.get("actor")
    if actor is None:
        abort(401)
    return actor


def source_address() -> str | None:
    return request.remote_addr


def is_api_request() -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login. Anything else goes home: an
    absolute or protocol-relative URL, a backslash (browsers read a backslash as a
    slash, so slash-backslash-host is another host), and any control character (a
    CR or LF would split the Location header; browsers drop tabs and newlines, so a
    slash, a tab and a slash would make a protocol-relative URL)."""
    home = url_for("home.index")
    if not target or not target.startswith("/") or len(target) > 2000:
        return home
    if any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in target):
        return home
    if "\\" in target or target.startswith("//"):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return home
    return target


def _draft_settings() -> DraftSettings:
    from clinic.drafts.services import DraftSettings

    config = current_app.config
    return DraftSettings(
        lifetime=config["DRAFT_LIFETIME"],
        max_bytes=config["DRAFT_MAX_BYTES"],
        max_per_user=config["DRAFT_MAX_PER_USER"],
    )


def _keep_what_was_typed() -> None:
    """A step posted after its author's session timed out: keep it for her. The
    CSRF check has already passed (CSRFProtect runs first), so a cross-site post
    cannot plant a draft; a post without a session that timed out keeps nothing."""
    token = session.get(ENDED_SESSION_KEY)
    rule = request.url_rule
    if not token or rule is None or "GET" not in (rule.methods or ()):
        return  # nothing to restore it into: an action, not a form page
    from clinic.accounts.services import timed_out_session_owner
    from clinic.drafts.services import DraftNotKept, keep_draft

    owner = timed_out_session_owner(current_uow(), token)
    if owner is None:
        return
    try:
        draft = keep_draft(
            current_uow(),
            owner=owner,
            path=request.path,
            # Uploaded files (request.files) are never kept.
            fields=request.form.items(multi=True),
            secret_key=current_app.config["SECRET_KEY"],
            settings=_draft_settings(),
        )
    except DraftNotKept as refused:
        flash(
            _(
                "Your session had ended and what you typed on that page could not be kept: "
                "%(why)s Sign in again and enter it once more.",
                why=refused.said(),
            ),
            "error",
        )
        return
    if draft is not None:
        flash(
            _(
                "Your session had ended, so nothing was saved. What you typed is kept for you: "
                "sign in again and it will be back in the form, ready for you to check and save."
            )
        )


def _restore_what_was_typed() -> None:
    """Give the signed-in user back the draft she posted to this page, once."""
    from clinic.drafts.services import take_draft

    g.restored_draft = take_draft(
        current_uow(),
        actor=current_actor(),
        path=request.path,
        secret_key=current_app.config["SECRET_KEY"],
        delete=False,  # only once the page holding it is shown (_finish_request)
    )


def init_web(app: Flask) -> None:
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.register_error_handler(AccessDenied, _access_denied)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _begin_request() -> None:
    g.uow = UnitOfWork(db.session)
    g.actor = None
    g.user = None
    if is_api_request() or request.endpoint == "static":
        return
    rule = current_rule()
    if rule is not None and not rule.extends_session:
        return
    token = session.get(SESSION_KEY)
    if token:
        from clinic.accounts.services import actor_for, resume_session

        user = resume_session(
            g.uow,
            token,
            idle_timeout=current_app.config["SESSION_IDLE_TIMEOUT"],
            absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
        )
        if user is None:
            session.pop(SESSION_KEY, None)
            session[ENDED_SESSION_KEY] = token
        else:
            from clinic.emergency.services import with_grants

            g.user = user
            g.actor = with_grants(g.uow, actor_for(user))


def _finish_request(response: Response) -> Response:
    uow: UnitOfWork | None = g.pop("uow", None)
    if uow is not None:
        try:
            if response.status_code == 200 and g.get("restored_draft"):
                # The form page that holds it was shown: it is restored once. A
                # redirect or a refusal keeps it for the page she lands on later.
                from clinic.drafts.services import forget_draft

                forget_draft(uow, actor=current_actor(), path=request.path)
            if response.status_code < 400:
                uow.commit()
            else:
                outcome = (
                    Outcome.SERIOUS_FAILURE
                    if response.status_code >= 500
                    else Outcome.MINOR_FAILURE
                )
                uow.fail(outcome, g.get("failure_description") or f"HTTP {response.status_code}")
        except CommitOutcomeUnknown:
            log.exception("the connection broke during the COMMIT: its outcome is not known")
            # A read committed at most its audit record and may be asked again; a
            # change (a restored draft forgotten included) may have been saved, and
            # must not be made twice unawares.
            response = (
                _internal_error_response(503) if _only_read() else _outcome_unknown_response()
            )
        except Exception as error:
            log.exception("could not finish the request's transaction")
            # Nothing was committed: a database gone or busy (a deadlock or a
            # serialisation failure at the COMMIT included) is "try again".
            response = _internal_error_response(503 if database_unavailable(error) else 500)
    _security_headers(response)
    return response


def _security_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


_EVENT_OF_ACTION = {
    Action.READ: EventKind.READ,
    Action.SEARCH: EventKind.SEARCH,
    Action.CREATE: EventKind.CREATE,
    Action.UPDATE: EventKind.UPDATE,
    Action.EXPORT: EventKind.EXPORT,
}


def _access_denied(error: AccessDenied) -> Any:
    uow: UnitOfWork | None = g.get("uow")
    if uow is not None:
        target = error.target
        reference = (
            f"{target.kind}/{target.resource.logical_id}" if target.resource else target.kind
        )
        uow.audit(
            AuditRecord(
                kind=_EVENT_OF_ACTION[error.action],
                channel="fhir" if is_api_request() else "web",
                actor=error.actor,
                outcome=Outcome.MINOR_FAILURE,
                entities=(reference,),
                reasons=error.decision.reasons,
                outcome_desc="refused",
                source_address=source_address(),
            )
        )
    g.failure_description = "refused"
    status = 404 if error.decision.concealed else 403
    if is_api_request():
        from clinic.fhir.api import outcome_response

        message = "not known" if status == 404 else "you are not allowed to do this"
        return outcome_response(status, "not-found" if status == 404 else "forbidden", message)
    return render_template("errors/error.html", status=status), status


def _http_error(error: HTTPException) -> Any:
    status = error.code or 500
    g.failure_description = error.name
    if is_api_request():
        from clinic.fhir.api import outcome_response

        code = {
            404: "not-found",
            405: "not-supported",
            413: "too-costly",
            415: "not-supported",
            401: "login",
        }.get(status, "processing")
        headers = {}
        if status == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
        return outcome_response(status, code, _api_message(status, error), headers=headers)
    if status == 401:
        return redirect(url_for("accounts.login"))
    # A refusal that names its reason (abort(400, "...")) says it; Werkzeug's own
    # descriptions are not shown.
    message = error.description if error.description != type(error).description else None
    return render_template("errors/error.html", status=status, message=message), status


def _api_message(status: int, error: HTTPException) -> str:
    return {
        401: "a valid bearer token is required",
        404: "no such endpoint",
        405: f"{request.method} is not supported here",
        413: f"the request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes",
    }.get(status, error.description or error.name)


def _unexpected_error(error: Exception) -> Any:
    if database_unavailable(error):
        # The transaction was rolled back, nothing was written, and the same
        # request can simply be sent again.
        log.warning("database unavailable: %s", error)
        g.failure_description = "database unavailable"
        return _internal_error_response(503)
    log.exception("unexpected error", exc_info=error)
    g.failure_description = "internal error"
    return _internal_error_response()


def _internal_error_response(status: int = 500) -> Response:
    if is_api_request():
        from clinic.fhir.api import outcome_response

        if status == 503:
            return outcome_response(
                503,
                "transient",
                "the database could not be reached; the request changed nothing; try again",
                headers={"Retry-After": "1"},
            )
        return outcome_response(500, "exception", "the server failed; the request changed nothing")
    response = Response(
        render_template("errors/error.html", status=status), status=status, mimetype="text/html"
    )
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _only_read() -> bool:
    """Whether the request's transaction held nothing but its audit records: a page
    or a record shown (unless it forgot a restored draft), or a view whose rule says
    it only reads (a FHIR search sent by POST)."""
    rule = current_rule()
    if rule is not None and rule.only_reads:
        return True
    return request.method in ("GET", "HEAD") and not g.get("restored_draft")


def _outcome_unknown_response() -> Response:
    """The COMMIT was sent and its answer never came: whether the request was saved
    is not known, so neither "nothing was changed" nor "try again" is said."""
    if is_api_request():
        from clinic.fhir.api import outcome_response

        return outcome_response(
            500,
            "exception",
            "the connection to the database broke while the request was being saved:"
            " whether it was saved is not known; read before sending it again",
        )
    return Response(
        render_template("errors/error.html", status=500, outcome_unknown=True),
        status=500,
        mimetype="text/html",
    )


def attach_refusal(form: Any, refused: DomainError) -> None:
    """Show a service's refusal next to the field it names (or the form's first
    field), so the error summary links to it."""
    name = refused.field if refused.field in form else None
    target = form[name] if name else next(iter(form))
    if isinstance(target.errors, tuple):
        target.errors = list(target.errors)
    # A message marked where the service raises it is shown in the screen's language.
    target.errors.append(refused.said())
