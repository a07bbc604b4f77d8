"""The /fhir REST API: thin adapters from HTTP to clinic.fhir.services.

Conventions: application/fhir+json in and out; bearer tokens; errors as
OperationOutcome; ETag/Last-Modified/Location on writes; If-Match for
version-aware updates; search and history paged with opaque cursors.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request

from clinic.accounts.services import authenticate_token
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import isoformat
from clinic.core.web import current_actor, current_uow, source_address, view_rule
from clinic.fhir.capability import capability_statement
from clinic.fhir.handlers import Paging, creator_for, handler_for, handlers_of, operations_of
from clinic.fhir.limits import MAX_JSON_DEPTH, check_body_limits, check_search_size
from clinic.fhir.outcome import FhirError, Issue, operation_outcome
from clinic.fhir.package import package_of
from clinic.fhir.query import parse_history, parse_search
from clinic.fhir.services import (
    STORED_TYPES,
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
from clinic.fhir.urls import base_url
from clinic.fhir.validation import control_character_issues

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

FHIR_JSON = "application/fhir+json"
_ACCEPTED_BODY_TYPES = {"application/fhir+json", "application/json"}
_ACCEPTABLE = ("application/fhir+json", "application/json", "*/*", "application/*")


def fhir_response(
    body: dict[str, Any] | str | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`body` as a dict, or as JSON text already (a version's stored bytes)."""
    if body is None:
        payload = ""
    elif isinstance(body, str):
        payload = body
    else:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
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
    if request.endpoint == "fhir.package":
        return None  # a file for package tools, public like /metadata
    accept = request.headers.get("Accept", "*/*")
    if not any(kind in accept for kind in _ACCEPTABLE):
        return outcome_response(406, "not-supported", "only application/fhir+json is served")
    if request.endpoint == "fhir.metadata":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    holder = None
    if scheme.lower() == "bearer" and secret.strip():
        holder = authenticate_token(current_uow(), secret.strip())
    if holder is None:
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
    # Her chosen language is what clinic.i18n reads from g.user.
    g.user = holder
    g.actor = holder.actor
    return None


def _caller() -> Caller:
    return Caller(
        uow=current_uow(),
        actor=current_actor(),
        channel="fhir",
        registry=current_app.extensions["clinic.profiles"],
        source_address=source_address(),
    )


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
    return fhir_response(version.json_text(), status, headers)


# -- conformance ---------------------------------------------------------------


@bp.get("/metadata")
@view_rule(public=True)
def metadata() -> Response:
    return fhir_response(capability_statement(current_app, base_url()))


@bp.get("/package.tgz")
@view_rule(public=True)
def package() -> Response:
    """The definitions as a FHIR package, the same bytes as scripts/build_fhir_package.py."""
    built = package_of(current_app.extensions["clinic.profiles"].directory)
    response = Response(built.tarball, mimetype="application/gzip")
    response.headers["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    response.headers["ETag"] = f'"{built.sha256}"'
    return response


# -- instance level --------------------------------------------------------------


@bp.get("/<resource_type>/<logical_id>")
@view_rule(self_checked=True, auth="bearer")
def read(resource_type: str, logical_id: str) -> Response:
    handler = handler_for(current_app, resource_type, current_actor(), None)
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
    """Specimen/{id}/$custody: the item's chain of custody with inclusion proofs."""
    return _operation(resource_type, logical_id, "custody")


@bp.get("/<resource_type>/<logical_id>/$release")
@view_rule(self_checked=True, auth="bearer")
def release(resource_type: str, logical_id: str) -> Response:
    """Task/{id}/$release: the signed release bundle of an approved request."""
    return _operation(resource_type, logical_id, "release")


@bp.get("/$log-consistency")
@view_rule(self_checked=True, auth="bearer")
def log_consistency() -> Response:
    """$log-consistency?log=custody&old=M[&new=N]: the RFC 9162 consistency proof
    between two sizes of a log, with the signed checkpoints at those sizes."""
    from clinic.ledger.services import BadProofRequest, log_origin, read_consistency

    try:
        proof = read_consistency(
            current_uow(),
            actor=current_actor(),
            log_name=request.args.get("log"),
            old_size=request.args.get("old"),
            new_size=request.args.get("new"),
            channel="fhir",
            source_address=source_address(),
        )
    except BadProofRequest as error:
        raise FhirError.single(400, "value", str(error)) from error
    parameters: list[dict[str, Any]] = [
        {"name": "log", "valueString": log_origin(current_app.config, proof.log_name)},
        {"name": "oldSize", "valueInteger": proof.old_size},
        {"name": "newSize", "valueInteger": proof.new_size},
    ]
    for name, value in (
        ("oldCheckpoint", proof.old_checkpoint),
        ("newCheckpoint", proof.new_checkpoint),
        ("proof", proof.text()),
    ):
        if value:  # a FHIR string is never empty: equal sizes have an empty proof
            parameters.append({"name": name, "valueString": value})
    return fhir_response({"resourceType": "Parameters", "parameter": parameters})


def _operation(resource_type: str, logical_id: str, name: str) -> Response:
    operation = operations_of(current_app).get((resource_type, name))
    if operation is None:
        defined = sorted(t for t, n in operations_of(current_app) if n == name)
        raise FhirError.single(
            404, "not-supported", f"${name} is defined on {', '.join(defined)} only"
        )
    return fhir_response(operation.run(_caller(), logical_id))


@bp.put("/<resource_type>/<logical_id>")
@view_rule(self_checked=True, auth="bearer")
def update(resource_type: str, logical_id: str) -> Response:
    _check_writable(resource_type)
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
@view_rule(self_checked=True, auth="bearer", only_reads=True)
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
    handler = handler_for(current_app, resource_type, current_actor(), args)
    found = handler.find(_caller(), args, _paging()) if handler is not None else None
    if found is not None:
        page = Page([], has_next=found.has_next, has_previous=found.has_previous)
        matches = [(reference, _json(resource)) for reference, resource in found.resources]
        return fhir_response(_searchset(resource_type, matches, found.keys, page, found.applied))
    check_type(resource_type)
    query = parse_search(resource_type, args, **_page_limits())
    page = search_resources(_caller(), resource_type, query)
    resources = [(v.reference, v.json_text()) for v in page.items]
    return fhir_response(
        _searchset(
            resource_type, resources, [search_key(v) for v in page.items], page, query.applied
        )
    )


@bp.post("/<resource_type>")
@view_rule(self_checked=True, auth="bearer")
def create(resource_type: str) -> Response:
    creator = creator_for(current_app, resource_type)
    if creator is not None and creator.create is not None:
        created = creator.create(_caller(), _read_json_body)
        location = f"{base_url()}/{resource_type}/{created['id']}"
        return fhir_response(created, 201, {"Location": location})
    _check_writable(resource_type)
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


def _check_writable(resource_type: str) -> None:
    """405 for a type served read-only from a domain's tables, as for the store's."""
    if resource_type in handlers_of(current_app) and resource_type not in STORED_TYPES:
        raise FhirError.single(
            405,
            "not-supported",
            f"{resource_type} is maintained by the clinic itself, not written through the API",
        )
    check_writable(resource_type)


def _paging() -> Paging:
    return Paging(**_page_limits())


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
    resources: list[tuple[str, str]],
    keys: list[Any],
    page: Page,
    applied: list[tuple[str, str]],
) -> str:
    """The searchset Bundle as JSON text, each resource given as its JSON text (a
    stored version's own bytes, when no obligation changed it): 20 resources are
    not parsed and written out again to be served."""
    base = base_url()
    # No Bundle.total: a count would tell a caller about records it cannot see.
    bundle = _json(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": _links(
                path, applied, page, keys[0] if keys else None, keys[-1] if keys else None
            ),
        }
    )
    entries = ",".join(
        f'{{"fullUrl":{_json(f"{base}/{reference}")},"resource":{resource},'
        '"search":{"mode":"match"}}'
        for reference, resource in resources
    )
    return f'{bundle[:-1]},"entry":[{entries}]}}'


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
