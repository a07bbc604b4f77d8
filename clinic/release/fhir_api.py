"""Release requests as the FHIR API serves them: a force's Tasks (file, read, list)
and `Task/{id}/$release`, registered with the API's handler registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from clinic.access import Action, decide, require
from clinic.accounts.models import Organization
from clinic.audit.services import EventKind
from clinic.fhir.canonical import CANONICAL_BASE
from clinic.fhir.handlers import (
    Args,
    Found,
    Operation,
    Paging,
    Resource,
    TableHandler,
    register,
    register_operation,
)
from clinic.fhir.outcome import FhirError, not_found
from clinic.fhir.query import parse_count
from clinic.fhir.urls import base_url
from clinic.release.bundle import ReleaseUnavailable, release_bundle, release_key_name
from clinic.release.fhir import read_filed_task, request_task
from clinic.release.services import (
    ReleaseRefused,
    RequestNotFound,
    file_request,
    read_request,
    requests_of_force,
)

# What a staff search of Task names when it means her referrals' status.
_REFERRAL_PARAMS = ("focus", "patient", "status")


def _serves(actor: Any, args: Args | None) -> bool:
    """A Task here is either a police force's release request or where a referral
    stands. Police only ever get their requests; staff get referral Tasks on a read,
    or on a search that names a referral, her or a status (a bare Task search stays
    the release requests', which staff are refused)."""
    if decide(actor, Action.READ, "ReleaseRequest").permitted:
        return True
    return args is not None and not any(name in _REFERRAL_PARAMS for name, _ in args)


def _force(caller: Any) -> Organization:
    force: Organization = caller.uow.session.get(Organization, caller.actor.organization_id)
    return force


def _read(caller: Any, logical_id: str) -> Resource:
    try:
        found = read_request(caller.uow, actor=caller.actor, request_id=logical_id, channel="fhir")
    except RequestNotFound as missing:
        # Another force's request and a guessed id leave the same trace: a refused read.
        caller.audit_miss(EventKind.READ, f"Task/{logical_id}")
        raise not_found("Task", logical_id) from missing
    return request_task(found, _force(caller))


def _search(caller: Any, args: list[tuple[str, str]], paging: Paging) -> Found:
    """The force's own requests, newest first. Only `_count` is taken."""
    unknown = sorted({name for name, _ in args if name not in ("_count", "_format")})
    if unknown:
        raise FhirError.single(400, "not-supported", f"Task search takes no {', '.join(unknown)}")
    count = parse_count(dict(args).get("_count"), paging.default_count, paging.max_count)
    found = requests_of_force(caller.uow, actor=caller.actor, channel="fhir")[:count]
    force = _force(caller)
    return Found(
        [(f"Task/{r.id}", request_task(r, force)) for r in found], [("_count", str(count))]
    )


def _file(caller: Any, read_body: Callable[[], Any]) -> Resource:
    """A force files a release request: always 201 with the same Task shape."""
    # Whether this caller may file at all is decided before the body is read: staff
    # are refused (403) whatever they send.
    require(caller.actor, Action.CREATE, "ReleaseRequest")
    cited, crime, requested = read_filed_task(read_body())
    try:
        filed = file_request(
            caller.uow,
            actor=caller.actor,
            cited_reference=cited,
            crime_reference=crime,
            requested=requested,
            channel="fhir",
        )
    except ReleaseRefused as refused:
        raise FhirError.single(
            422, "value", refused.message, f"Task.input:{refused.field}"
        ) from refused
    return request_task(filed, _force(caller))


def _release(caller: Any, logical_id: str) -> Resource:
    """Task/{id}/$release: the signed release bundle of an approved request, for an
    officer of its force; audited, and recorded as delivered."""
    try:
        return release_bundle(
            caller.uow,
            caller.registry,
            actor=caller.actor,
            request_id=logical_id,
            instance_path=Path(current_app.instance_path),
            key_name=release_key_name(current_app.config),
            base=base_url(),
        )
    except RequestNotFound as missing:
        raise not_found("Task", logical_id) from missing
    except ReleaseUnavailable as unavailable:
        raise FhirError.single(409, "business-rule", unavailable.message) from unavailable


def register_handlers(app: Flask) -> None:
    """Registered before the referral status Tasks: a force's Tasks are asked first."""
    registry = app.extensions["clinic.profiles"]
    register(
        app,
        TableHandler(
            "Task",
            registry.default_profiles["Task"],
            "Release requests (fc-release-request), for police forces: POST a Task citing "
            "the case reference or kit label the survivor gave you, your crime reference "
            "and what you ask for. It is always accepted and shows 'awaiting survivor "
            "decision' whatever it cites; read and search return your force's requests "
            "only (search takes _count). Custody events are Tasks too (fc-custody-task), "
            "served by $custody.",
            (),
            _read,
            None,
            paged_search=_search,
            create=_file,
            applies=_serves,
            interactions=("read", "search-type", "create"),
            supported_profiles=tuple(registry.specialisations("Task")),
        ),
    )
    register_operation(
        app,
        Operation(
            "Task",
            "release",
            f"{CANONICAL_BASE}/OperationDefinition/Task-release",
            "GET Task/{id}/$release: the signed release bundle of an approved request, for "
            "officers of its force, while her consent permits it.",
            _release,
        ),
    )
