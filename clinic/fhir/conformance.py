"""The definitions the clinic publishes, served by the API: read by id and searched by
`_id`, `url`, `version` and `name` (StructureDefinition, CodeSystem, ValueSet,
OperationDefinition, SearchParameter), one handler per type in the registry
(clinic/fhir/handlers.py), read from fhir_profiles/ as loaded at start-up: the very
files the FHIR package carries (clinic/fhir/package.py).

Who may read them: every signed-in user with a bearer token, of any role, police
included (the decision point's DEFINITION_KINDS): they hold nothing about anyone,
and the same files are downloadable without a token as the package, like
/metadata. Reads of them are not audited: they are not records about anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask

from clinic.access import Action, require
from clinic.fhir.handlers import Resource, TableHandler, register
from clinic.fhir.outcome import FhirError, not_found
from clinic.fhir.package import DEFINITION_TYPES
from clinic.fhir.search_params import HL7_SP, SearchParam

CORE_PROFILE = "http://hl7.org/fhir/StructureDefinition"
DEFINITION_PARAMS = (
    SearchParam(
        "_id", "token", f"{HL7_SP}/Resource-id", "Logical id; several separated by commas."
    ),
    SearchParam(
        "url", "uri", f"{HL7_SP}/conformance-url", "The canonical URL, exactly (no version)."
    ),
    SearchParam("version", "token", f"{HL7_SP}/conformance-version", "The version, exactly."),
    SearchParam(
        "name",
        "string",
        f"{HL7_SP}/conformance-name",
        "The computable name: starts with the value, ignoring case.",
    ),
)
_ALLOWED = tuple(param.name for param in DEFINITION_PARAMS)


def _published(caller: Any, resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = caller.registry.conformance.get(resource_type, {})
    return found


def _reader(resource_type: str) -> Callable[[Any, str], Resource]:
    def read(caller: Any, logical_id: str) -> Resource:
        require(caller.actor, Action.READ, resource_type)
        resource = _published(caller, resource_type).get(logical_id)
        if resource is None:
            raise not_found(resource_type, logical_id)
        return resource

    return read


def _given(args: Sequence[tuple[str, str]]) -> dict[str, str]:
    given: dict[str, str] = {}
    for name, value in args:
        if name not in _ALLOWED:
            raise FhirError.single(
                400,
                "not-supported",
                f"search parameter {name} is not supported here; use {', '.join(_ALLOWED)}",
                name,
            )
        if name in given:
            raise FhirError.single(400, "invalid", f"{name} is given more than once", name)
        if not value.strip():
            raise FhirError.single(400, "invalid", f"{name} needs a value", name)
        given[name] = value.strip()
    return given


def _matches(resource: dict[str, Any], given: dict[str, str]) -> bool:
    if "_id" in given and resource["id"] not in given["_id"].split(","):
        return False
    if "url" in given and resource.get("url") != given["url"]:
        return False
    if "version" in given and resource.get("version") != given["version"]:
        return False
    name = str(resource.get("name") or "")
    return "name" not in given or name.casefold().startswith(given["name"].casefold())


def _searcher(resource_type: str) -> Callable[[Any, Sequence[tuple[str, str]]], list[Resource]]:
    def search(caller: Any, args: Sequence[tuple[str, str]]) -> list[Resource]:
        given = _given(args)
        require(caller.actor, Action.SEARCH, resource_type)
        published = _published(caller, resource_type)
        return [published[i] for i in sorted(published) if _matches(published[i], given)]

    return search


def register_handlers(app: Flask) -> None:
    for resource_type in DEFINITION_TYPES:
        register(
            app,
            TableHandler(
                resource_type,
                f"{CORE_PROFILE}/{resource_type}",
                f"The {resource_type} resources the clinic publishes (fhir_profiles/, the "
                "same files as the package at package.tgz): read by id and searched by "
                "_id, url, version and name, by any user with a bearer token. Read-only, "
                "unversioned here (each carries its own version).",
                DEFINITION_PARAMS,
                _reader(resource_type),
                _searcher(resource_type),
            ),
        )
