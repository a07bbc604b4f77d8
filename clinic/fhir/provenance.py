"""Provenance of the records: who wrote or amended which version, when.

Each version in the store already records its author, time and kind of change;
a Provenance is that fact rendered as FHIR when a client asks for it, one per
version, never stored twice. Reading one is reading the version it is about: the
same decision, the same concealment, the same audit (policy in one place).

Ids are `<type>-<logical id>-<version>`. Search: `target=<type>/<id>`, paged
like history, newest first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.core.clock import isoformat
from clinic.core.numbers import small_whole_number
from clinic.fhir.canonical import STRUCTURE_DEFINITION, USER_IDENTIFIER_SYSTEM
from clinic.fhir.handlers import Found, Paging, TableHandler, register
from clinic.fhir.outcome import FhirError
from clinic.fhir.query import SearchRequest, parse_history
from clinic.fhir.search_params import params_for
from clinic.fhir.services import (
    STORED_TYPES,
    Caller,
    Page,
    history_key,
    resource_history,
    vread_resource,
)
from clinic.fhir.store import StoredVersion

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def provenance_id(version: StoredVersion) -> str:
    return f"{version.resource_type}-{version.logical_id}-{version.version_id}"


def provenance_resources(caller: Caller, versions: list[StoredVersion]) -> list[dict[str, Any]]:
    """Provenance for each version, with the authors looked up in one query."""
    ids = {version.author_id for version in versions if version.author_id}
    authors = (
        {
            user.id: user
            for user in caller.uow.session.scalars(sa.select(User).where(User.id.in_(ids)))
        }
        if ids
        else {}
    )
    return [_provenance(version, authors.get(version.author_id or "")) for version in versions]


def _provenance(version: StoredVersion, author: User | None) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}]},
        "who": {
            "identifier": {
                "system": USER_IDENTIFIER_SYSTEM,
                "value": author.username if author else "system",
            },
            "display": author.display_name if author else "the clinic system",
        },
    }
    if version.site_id:
        agent["onBehalfOf"] = {"reference": f"Organization/{version.site_id}"}
    operation = "CREATE" if version.change == "create" else "UPDATE"
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": provenance_id(version),
        "meta": {
            "profile": [f"{STRUCTURE_DEFINITION}/fc-provenance"],
            "security": [
                {"system": label.split("|", 1)[0], "code": label.split("|", 1)[1]}
                for label in version.security_labels
            ],
        },
        "target": [{"reference": version.versioned_reference}],
        "recorded": isoformat(version.last_updated),
        "activity": {
            "coding": [
                {
                    "system": DATA_OPERATION,
                    "code": operation,
                    "display": "create" if operation == "CREATE" else "revise",
                }
            ]
        },
        "agent": [agent],
    }
    if not resource["meta"]["security"]:
        del resource["meta"]["security"]
    return resource


def read_provenance(caller: Caller, provenance: str) -> dict[str, Any]:
    """One Provenance by id; unknown and not-permitted look the same (404)."""
    resource_type, _, rest = provenance.partition("-")
    logical_id, _, version_id = rest.rpartition("-")
    if (
        resource_type not in STORED_TYPES
        or not logical_id
        or small_whole_number(version_id) is None
    ):
        raise FhirError.single(404, "not-found", f"Provenance/{provenance} is not known")
    try:
        version = vread_resource(caller, resource_type, logical_id, version_id)
    except FhirError as error:
        if error.status == 404:
            raise FhirError.single(
                404, "not-found", f"Provenance/{provenance} is not known"
            ) from error
        raise
    return provenance_resources(caller, [version])[0]


def search_provenance(
    caller: Caller, args: list[tuple[str, str]], *, default_count: int, max_count: int
) -> tuple[Page, SearchRequest, str]:
    """Provenance of every version of one record, newest first: `target` is required."""
    targets = [value for name, value in args if name == "target"]
    others = [(name, value) for name, value in args if name != "target"]
    if len(targets) != 1:
        raise FhirError.single(
            400, "required", "search Provenance with exactly one target=Type/id", "target"
        )
    resource_type, _, logical_id = targets[0].partition("/")
    logical_id = logical_id.split("/_history/")[0]
    if resource_type not in STORED_TYPES or not logical_id:
        raise FhirError.single(
            400, "invalid", "target must be a reference Type/id to a record held here", "target"
        )
    try:
        request = parse_history(others, default_count=default_count, max_count=max_count)
    except FhirError as error:
        raise FhirError.single(
            400, "not-supported", "Provenance takes target, _count and _since", "target"
        ) from error
    try:
        page = resource_history(caller, resource_type, logical_id, request)
    except FhirError as error:
        if error.status == 404:
            # A target the caller may not see has no provenance to show: an empty
            # result, exactly as for a target that does not exist.
            return Page([], has_next=False, has_previous=False), request, targets[0]
        raise
    return page, request, f"{resource_type}/{logical_id}"


def _search(caller: Caller, args: list[tuple[str, str]], paging: Paging) -> Found:
    found, request, target = search_provenance(
        caller, args, default_count=paging.default_count, max_count=paging.max_count
    )
    return Found(
        [
            (f"Provenance/{resource['id']}", resource)
            for resource in provenance_resources(caller, found.items)
        ],
        [("target", target), *request.applied],
        [history_key(version) for version in found.items],
        found.has_next,
        found.has_previous,
    )


def register_handler(app: Flask) -> None:
    register(
        app,
        TableHandler(
            "Provenance",
            app.extensions["clinic.profiles"].default_profiles["Provenance"],
            "Who wrote or amended which version of a record, and when: one Provenance per "
            "version, read under the same rules as the version it is about. Search needs "
            "target=Type/id; results are newest first.",
            tuple(params_for("Provenance").values()),
            read_provenance,
            None,
            paged_search=_search,
        ),
    )
