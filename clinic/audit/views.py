"""The audit trail for auditors: every access, newest first, and its verification."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from clinic.access import Action, Role
from clinic.audit import said
from clinic.audit.fhir import search_audit_events
from clinic.audit.services import check_audit_trail
from clinic.core.web import current_actor, current_uow, source_address, view_rule
from clinic.fhir.outcome import FhirError
from clinic.fhir.query import parse_search
from clinic.fhir.services import Caller
from clinic.fhir.store import encode_cursor
from clinic.ledger.said import problem as verification_problem

bp = Blueprint("audit", __name__, url_prefix="/audit")

_FILTERS = ("altid", "outcome", "subtype", "entity")


@bp.get("/")
@view_rule(Action.SEARCH, "AuditEvent")
def events() -> Any:
    args = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if value and (name in _FILTERS or name == "_cursor")
    ]
    caller = Caller(
        current_uow(),
        current_actor(),
        "web",
        current_app.extensions["clinic.profiles"],
        source_address(),
    )
    error = None
    try:
        query = parse_search("AuditEvent", args, default_count=50, max_count=50)
        page = search_audit_events(caller, query)
    except FhirError as problem:
        error = str(problem)
        page = None
    filters = {name: value for name, value in args if name in _FILTERS}
    next_cursor = None
    if page is not None and page.has_next and page.items:
        last = page.items[-1]
        next_cursor = "a." + encode_cursor((last.recorded_at, last.id))
    return render_template(
        "audit/events.html",
        page=page,
        filters=filters,
        error=error,
        next_cursor=next_cursor,
        roles={role.value: role.display for role in Role},
        words_of=said.event_words,
    ), (400 if error else 200)


@bp.get("/verify")
@view_rule(Action.READ, "AuditEvent")
def verify() -> Any:
    report = check_audit_trail(
        current_uow(), actor=current_actor(), channel="web", source_address=source_address()
    )
    return render_template(
        "audit/verify.html", report=report, problem=verification_problem(report.problem)
    )
