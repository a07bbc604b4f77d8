"""Resource types the API serves from a domain's operational tables, not from the
versioned store: one handler per type, found through a registry
(`app.extensions["clinic.fhir_handlers"]`), so that the API module holds no branch
per type and the CapabilityStatement lists exactly what is registered.

A handler reads through its domain's services, which ask the decision point and
audit every read and search; it answers a record the caller may not see exactly
as one that does not exist (promise 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask

from clinic.fhir.search_params import SearchParam

Resource = dict[str, Any]


@dataclass(frozen=True)
class TableHandler:
    resource_type: str
    profile: str  # its fc-* profile; every resource served validates against it
    documentation: str  # for the CapabilityStatement: who may read it, and how
    params: tuple[SearchParam, ...]
    # (caller, logical id) -> the resource, or a FhirError 404 when not known.
    read: Callable[[Any, str], Resource]
    # (caller, [(name, value)]) -> the matches, after the decision point; None when
    # searches of the type stay the versioned store's (the handler serves reads only).
    search: Callable[[Any, Sequence[tuple[str, str]]], list[Resource]] | None
    # Which logical ids it serves, when the type is also kept in the versioned store
    # (Organization: partner organisations have ids the store never gives); None: all.
    owns: Callable[[str], bool] | None = None

    def serves(self, logical_id: str) -> bool:
        return self.owns is None or self.owns(logical_id)


def register(app: Flask, handler: TableHandler) -> None:
    handlers: dict[str, TableHandler] = app.extensions.setdefault("clinic.fhir_handlers", {})
    if handler.resource_type in handlers:
        raise ValueError(f"a second handler for {handler.resource_type}")
    handlers[handler.resource_type] = handler


def handlers_of(app: Flask) -> dict[str, TableHandler]:
    found: dict[str, TableHandler] = app.extensions.get("clinic.fhir_handlers", {})
    return found
