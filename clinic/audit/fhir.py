"""The audit trail as FHIR AuditEvent, shaped after IHE BALP, for auditors."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.access import Action, decide
from clinic.audit.models import AuditEntry
from clinic.audit.services import EventKind
from clinic.core.clock import isoformat
from clinic.core.numbers import small_whole_number
from clinic.fhir.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION, USER_IDENTIFIER_SYSTEM
from clinic.fhir.handlers import Found, Paging, TableHandler, register
from clinic.fhir.outcome import FhirError, not_found
from clinic.fhir.query import SearchRequest, parse_search
from clinic.fhir.search_params import params_for
from clinic.fhir.services import Caller, Page, _kind_allowed, fill_page
from clinic.fhir.store import DateCriterion, IdCriterion, ReferenceCriterion, TokenCriterion

PROFILE = f"{STRUCTURE_DEFINITION}/fc-audit-event"

_TYPES = {
    "rest": ("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation"),
    "110114": ("http://dicom.nema.org/resources/ontology/DCM", "110114", "User Authentication"),
    "110106": ("http://dicom.nema.org/resources/ontology/DCM", "110106", "Export"),
}
_SUBTYPES = {
    EventKind.LOGIN.value: ("http://dicom.nema.org/resources/ontology/DCM", "110122", "Login"),
    EventKind.LOGOUT.value: ("http://dicom.nema.org/resources/ontology/DCM", "110123", "Logout"),
    EventKind.AUTHENTICATE.value: (
        "http://dicom.nema.org/resources/ontology/DCM",
        "110122",
        "Login",
    ),
    EventKind.EXPORT.value: ("http://dicom.nema.org/resources/ontology/DCM", "110106", "Export"),
}
_OUTCOME_TEXT = {"0": "success", "4": "refused or invalid", "8": "failed", "12": "major failure"}


def audit_event_resource(entry: AuditEntry) -> dict[str, Any]:
    """Render one entry. References name resources and versions, never content."""
    system, code, display = _TYPES[entry.event_type]
    subtype = _SUBTYPES.get(
        entry.subtype, ("http://hl7.org/fhir/restful-interaction", entry.subtype, entry.subtype)
    )
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser",
                    "display": "human user",
                }
            ]
        },
        "who": (
            {
                "identifier": {"system": USER_IDENTIFIER_SYSTEM, "value": entry.username},
                "display": entry.username,
            }
            if entry.username
            else {"display": "unauthenticated"}
        ),
        "requestor": True,
    }
    if entry.username:
        agent["altId"] = entry.username
    if entry.role:
        agent["role"] = [{"coding": [{"system": f"{CODE_SYSTEM}/clinic-role", "code": entry.role}]}]
    if entry.source_address:
        agent["network"] = {"address": entry.source_address, "type": "2"}  # IP address
    if entry.purpose:
        agent["purposeOfUse"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": entry.purpose,
                    }
                ]
            }
        ]
    description = "; ".join(part for part in (entry.outcome_desc, *entry.reasons) if part)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.id),
        "meta": {
            "profile": [PROFILE],
            "versionId": "1",
            "lastUpdated": isoformat(entry.recorded_at),
        },
        "type": {"system": system, "code": code, "display": display},
        "subtype": [{"system": subtype[0], "code": subtype[1], "display": subtype[2]}],
        "action": entry.action,
        "recorded": isoformat(entry.recorded_at),
        "outcome": entry.outcome,
        "outcomeDesc": description or _OUTCOME_TEXT[entry.outcome],
        "agent": [agent],
        "source": {
            "site": entry.channel,
            "observer": {"display": "clinic"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if entry.purpose:
        resource["purposeOfEvent"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": entry.purpose,
                    }
                ]
            }
        ]
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": reference},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object",
            },
        }
        for reference in entry.entities
    ]
    if entry.query:
        entities.append(
            {
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "24",
                    "display": "Query",
                },
                "query": base64.b64encode(entry.query.encode()).decode(),
            }
        )
    if entities:
        resource["entity"] = entities
    return resource


def read_audit_event(caller: Caller, logical_id: str) -> AuditEntry:
    reference = f"AuditEvent/{logical_id}"
    if not _kind_allowed(caller, Action.READ, "AuditEvent", EventKind.READ, reference):
        raise not_found("AuditEvent", logical_id)
    number = small_whole_number(logical_id, digits=18)
    entry = caller.uow.session.get(AuditEntry, number) if number is not None else None
    if entry is None:
        caller.audit(EventKind.READ, entities=[reference], description="not found")
        raise not_found("AuditEvent", logical_id)
    caller.audit(
        EventKind.READ,
        entities=[reference],
        decision=decide(caller.actor, Action.READ, "AuditEvent"),
    )
    return entry


def search_audit_events(caller: Caller, request: SearchRequest) -> Page:
    """Newest first, keyed by the entry id (which follows the log order)."""
    if not _kind_allowed(caller, Action.SEARCH, "AuditEvent", EventKind.SEARCH, None):
        return Page([], False, False)
    query = sa.select(AuditEntry)
    for criterion in request.criteria:
        query = query.where(_clause(criterion))
    session = caller.uow.session

    def fetch(after: Any, before: Any, limit: int) -> list[AuditEntry]:
        q = query
        if before is not None:
            q = q.where(AuditEntry.id > before[1]).order_by(AuditEntry.id)
            return list(reversed(session.scalars(q.limit(limit)).all()))
        if after is not None:
            q = q.where(AuditEntry.id < after[1])
        return list(session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit)))

    page = fill_page(
        fetch,
        lambda entry: entry,
        lambda e: (e.recorded_at, e.id),
        request.page.count,
        request.page.after,
        request.page.before,
    )
    caller.audit(
        EventKind.SEARCH,
        entities=[f"AuditEvent/{entry.id}" for entry in page.items],
        decision=decide(caller.actor, Action.SEARCH, "AuditEvent"),
        query=f"AuditEvent?{request.audit_query()}",
    )
    return page


def _clause(criterion: Any) -> sa.ColumnElement[bool]:
    if isinstance(criterion, IdCriterion):
        ids = [
            n for value in criterion.ids if (n := small_whole_number(value, digits=18)) is not None
        ]
        return AuditEntry.id.in_(ids)
    if isinstance(criterion, DateCriterion):
        clauses = []
        if criterion.lower is not None:
            clauses.append(AuditEntry.recorded_at >= criterion.lower)
        if criterion.upper is not None:
            clauses.append(AuditEntry.recorded_at < criterion.upper)
        return sa.and_(sa.true(), *clauses)
    if isinstance(criterion, TokenCriterion):
        column = {
            "altid": AuditEntry.username,
            "outcome": AuditEntry.outcome,
            "subtype": AuditEntry.subtype,
        }[criterion.param]
        return column.in_([code for _, code in criterion.values])
    if isinstance(criterion, ReferenceCriterion):
        # entities is JSON text; match the quoted reference, with or without version.
        options = []
        for target_type, target_id in criterion.targets:
            reference = f"{target_type}/{target_id}"
            as_text = sa.type_coerce(AuditEntry.entities, sa.Text)
            options.append(as_text.contains(f'"{reference}"', autoescape=True))
            options.append(as_text.contains(f'"{reference}/_history/', autoescape=True))
        return sa.or_(*options)
    raise FhirError.single(400, "not-supported", "unsupported AuditEvent search")


def _read(caller: Caller, logical_id: str) -> dict[str, Any]:
    return audit_event_resource(read_audit_event(caller, logical_id))


def _search(caller: Caller, args: list[tuple[str, str]], paging: Paging) -> Found:
    request = parse_search(
        "AuditEvent", args, default_count=paging.default_count, max_count=paging.max_count
    )
    page = search_audit_events(caller, request)
    return Found(
        [(f"AuditEvent/{entry.id}", audit_event_resource(entry)) for entry in page.items],
        request.applied,
        [(entry.recorded_at, entry.id) for entry in page.items],
        page.has_next,
        page.has_previous,
    )


def register_handler(app: Flask) -> None:
    register(
        app,
        TableHandler(
            "AuditEvent",
            app.extensions["clinic.profiles"].default_profiles["AuditEvent"],
            "The audit trail, for auditors. Read-only; each event has one version.",
            tuple(params_for("AuditEvent").values()),
            _read,
            None,
            paged_search=_search,
            # Each event is served with meta.versionId 1 and never changes.
            versioning="versioned",
        ),
    )
