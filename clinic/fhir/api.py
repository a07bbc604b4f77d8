"""The /fhir REST API: thin adapters from HTTP to clinic.fhir.services.

Conventions: application/fhir+json in and out; bearer tokens; errors as
OperationOutcome; ETag/Last-Modified/Location on writes; If-Match for
version-aware updates; search and history paged with opaque cursors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request

from clinic.access import Action, decide, require
from clinic.accounts.services import actor_for, authenticate_token
from clinic.audit.fhir import audit_event_resource, read_audit_event, search_audit_events
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import isoformat
from clinic.core.web import current_actor, current_uow, source_address, view_rule
from clinic.fhir.capability import capability_statement
from clinic.fhir.handlers import handlers_of
from clinic.fhir.limits import MAX_JSON_DEPTH, check_body_limits, check_search_size
from clinic.fhir.outcome import FhirError, Issue, not_found, operation_outcome
from clinic.fhir.query import parse_count, parse_history, parse_search
from clinic.fhir.services import (
    Caller,
    Page,
    check_type,
    check_writable,
    create_resource,
    history_key,
    parse_if_match,
    read_resource,
    resource_history,
    run_transaction,
    search_key,
    search_resources,
    update_resource,
    vread_resource,
)
from clinic.fhir.store import StoredVersion, encode_cursor
from clinic.fhir.validation import control_character_issues

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

FHIR_JSON = "application/fhir+json"
_ACCEPTED_BODY_TYPES = {"application/fhir+json", "application/json"}
_ACCEPTABLE = ("application/fhir+json", "application/json", "*/*", "application/*")


def fhir_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    payload = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = Response(payload, status=status, headers=headers or {})
    response.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return response


def outcome_response(
    status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None
) -> Response:
    body = operation_outcome([Issue(code, diagnostics)])
    return fhir_response(body, status, headers)


def fhir_error_response(error: FhirError) -> Response:
    g.failure_description = "; ".join(issue.diagnostics for issue in error.issues)[:500]
    return fhir_response(operation_outcome(error.issues), error.status, error.headers)


@bp.before_request
def _authenticate() -> Response | None:
    accept = request.headers.get("Accept", "*/*")
    if not any(kind in accept for kind in _ACCEPTABLE):
        return outcome_response(406, "not-supported", "only application/fhir+json is served")
    if request.endpoint == "fhir.metadata":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and secret.strip():
        user = authenticate_token(current_uow(), secret.strip())
    if user is None:
        if header:
            # A presented but unusable token is a failed authentication attempt.
            current_uow().audit(
                AuditRecord(
                    kind=EventKind.AUTHENTICATE,
                    channel="fhir",
                    actor=None,
                    outcome=Outcome.MINOR_FAILURE,
                    outcome_desc="unusable bearer token",
                    source_address=source_address(),
                )
            )
        g.failure_description = "authentication required"
        return outcome_response(
            401,
            "login",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
        )
    g.user = user
    g.actor = actor_for(user)
    return None


def _caller() -> Caller:
    return Caller(
        uow=current_uow(),
        actor=current_actor(),
        channel="fhir",
        registry=current_app.extensions["clinic.profiles"],
        source_address=source_address(),
    )


def base_url() -> str:
    configured = current_app.config.get("FHIR_BASE_URL")
    return (configured or request.url_root.rstrip("/") + "/fhir").rstrip("/")


def _read_json_body() -> Any:
    if request.mimetype not in _ACCEPTED_BODY_TYPES:
        raise FhirError.single(
            415,
            "not-supported",
            f"Content-Type {request.mimetype or '(none)'} is not accepted; send {FHIR_JSON}",
        )
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FhirError.single(400, "structure", f"the body is not valid JSON: {error}") from error
    except ValueError as error:
        raise FhirError.single(400, "structure", str(error)) from error
    except RecursionError as error:
        raise FhirError.single(
            400,
            "structure",
            f"the body is nested deeper than {MAX_JSON_DEPTH} levels, "
            "deeper than any FHIR resource",
        ) from error
    check_body_limits(body)
    issues = control_character_issues(
        body, body.get("resourceType", "") if isinstance(body, dict) else ""
    )
    if issues:
        raise FhirError(422, issues)
    return body


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the property {key!r} appears twice in one object")
        result[key] = value
    return result


def _version_headers(version: StoredVersion) -> dict[str, str]:
    return {
        "ETag": version.etag,
        "Last-Modified": version.last_updated.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }


def _representation(
    version: StoredVersion, status: int, extra: dict[str, str] | None = None
) -> Response:
    headers = {**_version_headers(version), **(extra or {})}
    prefer = request.headers.get("Prefer", "")
    if "return=minimal" in prefer:
        return fhir_response(None, status, headers)
    return fhir_response(version.content, status, headers)


# -- conformance ---------------------------------------------------------------


@bp.get("/metadata")
@view_rule(public=True)
def metadata() -> Response:
    return fhir_response(capability_statement(current_app, base_url()))


# -- instance level --------------------------------------------------------------


@bp.get("/<resource_type>/<logical_id>")
@view_rule(self_checked=True, auth="bearer")
def read(resource_type: str, logical_id: str) -> Response:
    if resource_type == "AuditEvent":
        entry = read_audit_event(_caller(), logical_id)
        return fhir_response(audit_event_resource(entry))
    if resource_type == "Provenance":
        from clinic.fhir.provenance import read_provenance

        return fhir_response(read_provenance(_caller(), logical_id))
    if resource_type == "Task" and not _about_referrals():
        return fhir_response(_release_task(logical_id))
    handler = handlers_of(current_app).get(resource_type)
    if handler is not None and handler.serves(logical_id):
        return fhir_response(handler.read(_caller(), logical_id))
    version = read_resource(_caller(), resource_type, logical_id)
    return _representation(version, 200)


@bp.get("/<resource_type>/<logical_id>/_history/<version_id>")
@view_rule(self_checked=True, auth="bearer")
def vread(resource_type: str, logical_id: str, version_id: str) -> Response:
    version = vread_resource(_caller(), resource_type, logical_id, version_id)
    return _representation(version, 200)


@bp.get("/<resource_type>/<logical_id>/$custody")
@view_rule(self_checked=True, auth="bearer")
def custody(resource_type: str, logical_id: str) -> Response:
    """The item's chain of custody with inclusion proofs and the signed checkpoint."""
    from clinic.evidence.services import EvidenceNotFound, custody_parameters

    if resource_type != "Specimen":
        raise FhirError.single(404, "not-supported", "$custody is defined on Specimen only")
    try:
        parameters = custody_parameters(current_uow(), actor=current_actor(), item_id=logical_id)
    except EvidenceNotFound as missing:
        raise not_found("Specimen", logical_id) from missing
    return fhir_response(parameters)


@bp.get("/<resource_type>/<logical_id>/$release")
@view_rule(self_checked=True, auth="bearer")
def release(resource_type: str, logical_id: str) -> Response:
    """Task/{id}/$release: the signed release bundle of an approved request, for an
    officer of its force; audited, and recorded as delivered."""
    from clinic.release.bundle import ReleaseUnavailable, release_bundle, release_key_name
    from clinic.release.services import RequestNotFound

    if resource_type != "Task":
        raise FhirError.single(404, "not-supported", f"$release is not defined on {resource_type}")
    try:
        bundle = release_bundle(
            current_uow(),
            current_app.extensions["clinic.profiles"],
            actor=current_actor(),
            request_id=logical_id,
            instance_path=Path(current_app.instance_path),
            key_name=release_key_name(current_app.config),
        )
    except RequestNotFound as missing:
        raise not_found("Task", logical_id) from missing
    except ReleaseUnavailable as unavailable:
        raise FhirError.single(409, "business-rule", unavailable.message) from unavailable
    return fhir_response(bundle)


@bp.put("/<resource_type>/<logical_id>")
@view_rule(self_checked=True, auth="bearer")
def update(resource_type: str, logical_id: str) -> Response:
    check_writable(resource_type)
    data = _read_json_body()
    version = update_resource(
        _caller(),
        resource_type,
        logical_id,
        data,
        expected_version=parse_if_match(request.headers.get("If-Match")),
    )
    return _representation(version, 200)


@bp.get("/<resource_type>/<logical_id>/_history")
@view_rule(self_checked=True, auth="bearer")
def history_instance(resource_type: str, logical_id: str) -> Response:
    query = parse_history(request.args.items(multi=True), **_page_limits())
    page = resource_history(_caller(), resource_type, logical_id, query)
    return fhir_response(
        _history_bundle(page, f"{resource_type}/{logical_id}/_history", query.applied)
    )


# -- type level -----------------------------------------------------------------


@bp.get("/<resource_type>")
@view_rule(self_checked=True, auth="bearer")
def search(resource_type: str) -> Response:
    return _search(resource_type, list(request.args.items(multi=True)))


@bp.post("/<resource_type>/_search")
@view_rule(self_checked=True, auth="bearer")
def search_post(resource_type: str) -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise FhirError.single(
            415, "not-supported", "_search takes application/x-www-form-urlencoded parameters"
        )
    return _search(
        resource_type, list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    )


def _search(resource_type: str, args: list[tuple[str, str]]) -> Response:
    check_search_size(args)
    if resource_type == "AuditEvent":
        query = parse_search("AuditEvent", args, **_page_limits())
        page = search_audit_events(_caller(), query)
        resources = [(f"AuditEvent/{e.id}", audit_event_resource(e)) for e in page.items]
        keys = [(e.recorded_at, e.id) for e in page.items]
        return fhir_response(_searchset(resource_type, resources, keys, page, query.applied))
    if resource_type == "Provenance":
        from clinic.fhir.provenance import provenance_resources, search_provenance

        caller = _caller()
        found, request_, target = search_provenance(caller, args, **_page_limits())
        resources = [
            (f"Provenance/{resource['id']}", resource)
            for resource in provenance_resources(caller, found.items)
        ]
        keys = [history_key(v) for v in found.items]
        applied = [("target", target), *request_.applied]
        return fhir_response(_searchset(resource_type, resources, keys, found, applied))
    if resource_type == "Task" and not _about_referrals(args):
        return _release_tasks(args)
    handler = handlers_of(current_app).get(resource_type)
    if handler is not None and handler.search is not None:
        matches = handler.search(_caller(), args)
        everything = Page(matches, has_next=False, has_previous=False)
        resources = [(f"{resource_type}/{resource['id']}", resource) for resource in matches]
        return fhir_response(_searchset(resource_type, resources, [], everything, list(args)))
    check_type(resource_type)
    query = parse_search(resource_type, args, **_page_limits())
    page = search_resources(_caller(), resource_type, query)
    resources = [(v.reference, v.content) for v in page.items]
    return fhir_response(
        _searchset(
            resource_type, resources, [search_key(v) for v in page.items], page, query.applied
        )
    )


@bp.post("/<resource_type>")
@view_rule(self_checked=True, auth="bearer")
def create(resource_type: str) -> Response:
    if resource_type == "Task":
        return _file_release_request()
    check_writable(resource_type)
    data = _read_json_body()
    if isinstance(data, dict) and data.get("resourceType") != resource_type:
        raise FhirError.single(
            400,
            "invalid",
            f"resourceType is {data.get('resourceType')} but this endpoint takes {resource_type}",
            "resourceType",
        )
    if isinstance(data, dict):
        data.pop("id", None)  # the server assigns ids on create
    version = create_resource(_caller(), data)
    location = f"{base_url()}/{version.versioned_reference}"
    return _representation(version, 201, {"Location": location})


@bp.get("/<resource_type>/_history")
@view_rule(self_checked=True, auth="bearer")
def history_type(resource_type: str) -> Response:
    query = parse_history(request.args.items(multi=True), **_page_limits())
    page = resource_history(_caller(), resource_type, None, query)
    return fhir_response(_history_bundle(page, f"{resource_type}/_history", query.applied))


# -- release requests (police) ----------------------------------------------------


def _file_release_request() -> Response:
    """A force files a release request: always 201 with the same Task shape."""
    from clinic.release.fhir import read_filed_task, request_task
    from clinic.release.services import ReleaseRefused, file_request

    # Whether this caller may file at all is decided before the body is read: staff
    # are refused (403) whatever they send.
    require(current_actor(), Action.CREATE, "ReleaseRequest")
    cited, crime, requested = read_filed_task(_read_json_body())
    try:
        filed = file_request(
            current_uow(),
            actor=current_actor(),
            cited_reference=cited,
            crime_reference=crime,
            requested=requested,
            channel="fhir",
        )
    except ReleaseRefused as refused:
        raise FhirError.single(
            422, "value", refused.message, f"Task.input:{refused.field}"
        ) from refused
    task = request_task(filed, g.user.organization)
    return fhir_response(task, 201, {"Location": f"{base_url()}/Task/{filed.id}"})


def _about_referrals(args: list[tuple[str, str]] | None = None) -> bool:
    """A Task here is either a police force's release request or where a referral
    stands. Police only ever get their requests; staff get referral Tasks on a read,
    or on a search that names a referral, her or a status (a bare Task search stays
    the release requests', which staff are refused)."""
    if decide(current_actor(), Action.READ, "ReleaseRequest").permitted:
        return False
    return args is None or any(name in ("focus", "patient", "status") for name, _ in args)


def _release_task(logical_id: str) -> dict[str, Any]:
    from clinic.release.fhir import request_task
    from clinic.release.services import RequestNotFound, read_request

    try:
        found = read_request(
            current_uow(), actor=current_actor(), request_id=logical_id, channel="fhir"
        )
    except RequestNotFound as missing:
        raise not_found("Task", logical_id) from missing
    return request_task(found, g.user.organization)


def _release_tasks(args: list[tuple[str, str]]) -> Response:
    """The force's own requests, newest first. Only `_count` is taken."""
    from clinic.release.fhir import request_task
    from clinic.release.services import requests_of_force

    unknown = sorted({name for name, _ in args if name not in ("_count", "_format")})
    if unknown:
        raise FhirError.single(400, "not-supported", f"Task search takes no {', '.join(unknown)}")
    count = parse_count(dict(args).get("_count"), *_task_page())
    found = requests_of_force(current_uow(), actor=current_actor(), channel="fhir")[:count]
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "self", "url": f"{base_url()}/Task?_count={count}"}],
            "entry": [
                {
                    "fullUrl": f"{base_url()}/Task/{r.id}",
                    "resource": request_task(r, g.user.organization),
                    "search": {"mode": "match"},
                }
                for r in found
            ],
        }
    )


def _task_page() -> tuple[int, int]:
    limits = _page_limits()
    return limits["default_count"], limits["max_count"]


# -- system level ---------------------------------------------------------------


@bp.post("")
@view_rule(self_checked=True, auth="bearer")
def transaction() -> Response:
    bundle = _read_json_body()
    results = run_transaction(_caller(), bundle)
    base = base_url()
    entries = []
    for result in results:
        version = result.version
        entries.append(
            {
                "fullUrl": f"{base}/{version.reference}",
                "resource": version.content,
                "response": {
                    "status": result.status,
                    "location": f"{version.versioned_reference}",
                    "etag": version.etag,
                    "lastModified": isoformat(version.last_updated),
                },
            }
        )
    return fhir_response(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    )


# -- bundles ----------------------------------------------------------------------


def _page_limits() -> dict[str, int]:
    return {
        "default_count": current_app.config["FHIR_PAGE_SIZE"],
        "max_count": current_app.config["FHIR_MAX_PAGE_SIZE"],
    }


def _links(
    path: str, applied: list[tuple[str, str]], page: Page, first_key: Any, last_key: Any
) -> list[dict[str, str]]:
    base = base_url()
    current = request.args.get("_cursor")
    self_params = applied + ([("_cursor", current)] if current else [])
    links = [{"relation": "self", "url": f"{base}/{path}?{urlencode(self_params)}"}]
    if page.has_next and last_key is not None:
        links.append(
            {
                "relation": "next",
                "url": f"{base}/{path}?{urlencode([*applied, ('_cursor', 'a.' + encode_cursor(last_key))])}",
            }
        )
    if page.has_previous and first_key is not None:
        links.append(
            {
                "relation": "previous",
                "url": f"{base}/{path}?{urlencode([*applied, ('_cursor', 'b.' + encode_cursor(first_key))])}",
            }
        )
    return links


def _searchset(
    path: str,
    resources: list[tuple[str, dict[str, Any]]],
    keys: list[Any],
    page: Page,
    applied: list[tuple[str, str]],
) -> dict[str, Any]:
    base = base_url()
    # No Bundle.total: a count would tell a caller about records it cannot see.
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": _links(path, applied, page, keys[0] if keys else None, keys[-1] if keys else None),
        "entry": [
            {"fullUrl": f"{base}/{reference}", "resource": content, "search": {"mode": "match"}}
            for reference, content in resources
        ],
    }


def _history_bundle(page: Page, path: str, applied: list[tuple[str, str]]) -> dict[str, Any]:
    base = base_url()
    items: list[StoredVersion] = page.items
    keys = [history_key(v) for v in items]
    return {
        "resourceType": "Bundle",
        "type": "history",
        "link": _links(path, applied, page, keys[0] if keys else None, keys[-1] if keys else None),
        "entry": [
            {
                "fullUrl": f"{base}/{v.reference}",
                "resource": v.content,
                "request": {
                    "method": "POST" if v.change == "create" else "PUT",
                    "url": v.resource_type if v.change == "create" else v.reference,
                },
                "response": {
                    "status": "201 Created" if v.change == "create" else "200 OK",
                    "etag": v.etag,
                    "lastModified": isoformat(v.last_updated),
                },
            }
            for v in items
        ],
    }
