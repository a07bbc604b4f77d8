"""Resource types the API serves from a domain's operational tables, not from the
versioned store, and the operations defined on a type: one handler per type (or per
kind of caller, when a type means two things), found through a registry
(`app.extensions["clinic.fhir_handlers"]` and `["clinic.fhir_operations"]`), so that
the API module holds no branch per type and the CapabilityStatement lists exactly
what is registered.

A handler reads through its domain's services, which ask the decision point and
audit every read and search; it answers a record the caller may not see exactly
as one that does not exist (promise 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from clinic.fhir.search_params import SearchParam

Resource = dict[str, Any]
Args = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Paging:
    """The page sizes configured for the deployment."""

    default_count: int
    max_count: int


@dataclass
class Found:
    """One page of a handler's matches, as the searchset Bundle shows them."""

    resources: list[tuple[str, Resource]]  # (Type/id, resource)
    applied: list[tuple[str, str]]  # the parameters applied, for the self link
    keys: list[Any] = field(default_factory=list)  # paging keys, first to last
    has_next: bool = False
    has_previous: bool = False


@dataclass(frozen=True)
class TableHandler:
    resource_type: str
    profile: str  # its fc-* profile; every resource served validates against it
    documentation: str  # for the CapabilityStatement: who may read it, and how
    params: tuple[SearchParam, ...]
    # (caller, logical id) -> the resource, or a FhirError 404 when not known.
    read: Callable[[Any, str], Resource]
    # (caller, [(name, value)]) -> every match, after the decision point; None when
    # searches of the type stay the versioned store's (the handler serves reads only).
    search: Callable[[Any, Args], list[Resource]] | None
    # Which logical ids it serves, when the type is also kept in the versioned store
    # (Organization: partner organisations have ids the store never gives); None: all.
    owns: Callable[[str], bool] | None = None
    # A search that pages itself (the audit trail, Provenance): used instead of
    # `search` when given.
    paged_search: Callable[[Any, list[tuple[str, str]], Paging], Found] | None = None
    # (caller, read_body) -> the created resource. `read_body` reads and parses the
    # request body: a handler decides whether the caller may create at all first.
    create: Callable[[Any, Callable[[], Any]], Resource] | None = None
    # Whether it serves this caller's read (args None) or search, when a type has two
    # handlers (Task: a force's release requests, staff's referral status); None: all.
    applies: Callable[[Any, Args | None], bool] | None = None
    # For the CapabilityStatement.
    interactions: tuple[str, ...] = ("read", "search-type")
    versioning: str = "no-version"
    supported_profiles: tuple[str, ...] = ()

    def serves(self, logical_id: str) -> bool:
        return self.owns is None or self.owns(logical_id)

    def takes(self, actor: Any, args: Args | None) -> bool:
        return self.applies is None or self.applies(actor, args)

    def find(self, caller: Any, args: list[tuple[str, str]], paging: Paging) -> Found | None:
        """The matches of a search, or None when the type's searches are not its own."""
        if self.paged_search is not None:
            return self.paged_search(caller, args, paging)
        if self.search is None:
            return None
        matches = self.search(caller, args)
        return Found(
            [(f"{self.resource_type}/{resource['id']}", resource) for resource in matches],
            list(args),
        )


@dataclass(frozen=True)
class Operation:
    """An instance operation (`GET <type>/<id>/$<name>`)."""

    resource_type: str
    name: str
    definition: str  # the OperationDefinition's canonical URL
    documentation: str
    # (caller, logical id) -> the answer (a Parameters or a Bundle), or a FhirError.
    run: Callable[[Any, str], Resource]


def register(app: Flask, handler: TableHandler) -> None:
    """Handlers of one type are asked in the order registered; one that serves every
    caller (no `applies`) must come last."""
    handlers: dict[str, list[TableHandler]] = app.extensions.setdefault("clinic.fhir_handlers", {})
    served = handlers.setdefault(handler.resource_type, [])
    if any(other.applies is None for other in served):
        raise ValueError(f"a second handler for {handler.resource_type}")
    served.append(handler)


def handlers_of(app: Flask) -> dict[str, list[TableHandler]]:
    found: dict[str, list[TableHandler]] = app.extensions.get("clinic.fhir_handlers", {})
    return found


def handler_for(
    app: Flask, resource_type: str, actor: Any, args: Args | None
) -> TableHandler | None:
    """The handler serving this caller's read (args None) or search of the type."""
    for handler in handlers_of(app).get(resource_type, []):
        if handler.takes(actor, args):
            return handler
    return None


def creator_for(app: Flask, resource_type: str) -> TableHandler | None:
    return next((h for h in handlers_of(app).get(resource_type, []) if h.create), None)


def register_operation(app: Flask, operation: Operation) -> None:
    operations: dict[tuple[str, str], Operation] = app.extensions.setdefault(
        "clinic.fhir_operations", {}
    )
    key = (operation.resource_type, operation.name)
    if key in operations:
        raise ValueError(f"a second ${operation.name} on {operation.resource_type}")
    operations[key] = operation


def operations_of(app: Flask) -> dict[tuple[str, str], Operation]:
    found: dict[tuple[str, str], Operation] = app.extensions.get("clinic.fhir_operations", {})
    return found
