"""FHIR interactions: the only way anything reads or writes the resource store.

Each interaction asks the decision point first about the kind (before anything is
looked up) and then about every record it would return or change, audits what
it did with the decision's reasons, and answers "not known" for a record the
caller may not see exactly as for one that does not exist (promise 2).
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from clinic.access import AccessDenied, Action, Actor, Decision, Target, decide, search_scope
from clinic.access.policy import (
    CUSTODY_VIEW,
    LABEL_LOOKUP,
    OMIT_CONTACT_NOTE,
    OMIT_CORRECTION_NOTES,
    OMIT_NARRATIVE,
)
from clinic.audit.services import AuditRecord, EventKind, Outcome, refused_or_missing
from clinic.consent.book import ConsentBook, consent_book
from clinic.core.numbers import small_whole_number
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.canonical import CODE_SYSTEM
from clinic.fhir.outcome import FhirError, not_found
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.query import SearchRequest
from clinic.fhir.search_params import TYPE_PARAMS
from clinic.fhir.store import ResourceStore, StoredVersion, TokenCriterion, _local_reference

# Types held in the store, and those of them clients may write through the API.
STORED_TYPES = (
    "Patient",
    "EpisodeOfCare",
    "Encounter",
    "Observation",
    "MedicationAdministration",
    "AllergyIntolerance",
    "MedicationStatement",
    "Condition",
    "Composition",
    "Consent",
    "Organization",
    "Specimen",
    "Media",
    "CarePlan",
    "Appointment",
    "Communication",
    "DocumentReference",
    "RiskAssessment",
    "QuestionnaireResponse",
    "Flag",
)
WRITABLE_TYPES = ("Patient", "Observation")
# Rows examined per database round trip while filling a page.
_BATCH = 50

T = TypeVar("T")


@dataclass
class Caller:
    """Who is calling, through which channel, inside which unit of work."""

    uow: UnitOfWork
    actor: Actor
    channel: str  # "fhir", "web" or "cli"
    registry: ProfileRegistry
    source_address: str | None = None
    # Why records were handed out by her consent, since the last audit record: a
    # search or export is audited with them, not only with the kind's reasons.
    consent_reasons: list[str] = field(default_factory=list)

    @property
    def store(self) -> ResourceStore:
        return ResourceStore(self.uow.session, self.registry)

    @property
    def consents(self) -> ConsentBook:
        return consent_book(self.uow)

    def decide_on(
        self,
        action: Action,
        version: StoredVersion,
        operation: str | None = None,
        at: datetime | None = None,
    ) -> Decision:
        """The decision point's answer on one stored record, with her Consents, now
        or at the moment `at` (the records of one page are decided at one moment)."""
        return decide(
            self.actor,
            action,
            version.resource_type,
            version.facts(),
            operation=operation,
            consents=self.consents,
            at=at,
        )

    def visible(
        self,
        action: Action,
        version: StoredVersion,
        operation: str | None = None,
        at: datetime | None = None,
    ) -> StoredVersion | None:
        """The record as this caller may receive it (obligations applied), or None."""
        decision = self.decide_on(action, version, operation, at)
        if not decision.permitted:
            return None
        if decision.obligations:
            self.consent_reasons.extend(
                reason for reason in decision.reasons if reason not in self.consent_reasons
            )
        return self.received(decision, version)

    def received(self, decision: Decision, version: StoredVersion) -> StoredVersion:
        """The record as a permitted `decision` lets this caller receive it: its
        obligations fulfilled, and a report read by her consent holding only the
        entries this caller may read. Every read, search, history and export path
        goes through here."""
        if OMIT_NARRATIVE in decision.obligations and version.resource_type == "Composition":
            version = dataclasses.replace(version, content=self._readable_entries(version.content))
        return fulfil(decision, version)

    def _readable_entries(self, report: dict[str, Any]) -> dict[str, Any]:
        """A report read by her consent keeps only the section entries that lead to
        records this reader may read too: a reference to a record she keeps back
        (her account, when she shares the report without it) would say that it
        exists and how many there are. A section left with no entry then says it
        is withheld, as one that held only narrative (without_narrative)."""
        kept = copy.deepcopy(report)
        sections = list(kept.get("section", []))
        while sections:
            section = sections.pop()
            if "entry" in section:
                entries = [e for e in section["entry"] if self._readable(e.get("reference"))]
                if entries:
                    section["entry"] = entries
                else:
                    section.pop("entry")
                    section.pop("orderedBy", None)
            sections.extend(section.get("section", []))
        return kept

    def _readable(self, reference: Any) -> bool:
        """Whether this reader may read the record a report's entry leads to (a
        signed report names the version it was signed with: Type/id/_history/n)."""
        parts = str(reference or "").split("/")
        if len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit():
            kind, logical_id = parts[0], parts[1]
            target = (
                self.store.version(kind, logical_id, int(parts[3]))
                if kind in STORED_TYPES
                else None
            )
        elif len(parts) == 2 and parts[0] in STORED_TYPES:
            target = self.store.current(parts[0], parts[1])
        else:
            return False
        return target is not None and self.decide_on(Action.READ, target).permitted

    def audit(
        self,
        kind: EventKind,
        *,
        entities: Sequence[str] = (),
        decision: Decision | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        description: str | None = None,
        query: str | None = None,
    ) -> None:
        reasons = (*(decision.reasons if decision is not None else ()), *self.consent_reasons)
        self.consent_reasons.clear()
        self.uow.audit(
            AuditRecord(
                kind=kind,
                channel=self.channel,
                actor=self.actor,
                outcome=outcome,
                entities=tuple(entities),
                reasons=reasons,
                outcome_desc=description,
                query=query,
                source_address=self.source_address,
            )
        )

    def audit_miss(self, kind: EventKind, reference: str, decision: Decision | None = None) -> None:
        """A record that does not exist (no decision) or that the decision refused:
        one minor-failure AuditEvent with the decision's reasons. The store's reads
        and the table-backed handlers (clinic/fhir/handlers.py) both use it."""
        reasons = None if decision is None else (*decision.reasons, *self.consent_reasons)
        self.consent_reasons.clear()
        self.uow.audit(
            refused_or_missing(
                kind,
                self.channel,
                self.actor,
                reference,
                reasons,
                source_address=self.source_address,
            )
        )


def fulfil(decision: Decision, version: StoredVersion) -> StoredVersion:
    """Apply the decision's obligations to what is handed out. A record handed out
    under any obligation never carries its stored bytes: it is served from its
    content, even if an obligation were one day applied in place."""
    if decision.obligations and version.stored is not None:
        version = dataclasses.replace(version, stored=None)
    if CUSTODY_VIEW in decision.obligations:
        return dataclasses.replace(version, content=custody_view(version.content))
    content = version.content
    if OMIT_CONTACT_NOTE in decision.obligations or OMIT_CORRECTION_NOTES in decision.obligations:
        content = without_note(content)
    if OMIT_NARRATIVE in decision.obligations:
        content = without_narrative(content)
    return version if content is version.content else dataclasses.replace(version, content=content)


def without_note(content: dict[str, Any]) -> dict[str, Any]:
    """A record without its staff notes (a counsellor's note on a contact attempt, a
    photo's correction notes) nor a narrative, which could repeat them."""
    stripped = copy.deepcopy(content)
    stripped.pop("note", None)
    stripped.pop("text", None)
    return stripped


def custody_view(content: dict[str, Any]) -> dict[str, Any]:
    """A Specimen as custodians receive it: what identifies the item (label, type,
    status, kit, container, when collected), without clinical detail: no body site,
    no notes (why she declined), no narrative, nor who collected it."""
    view = copy.deepcopy(content)
    for key in ("text", "note", "request", "processing", "condition"):
        view.pop(key, None)
    collection = view.get("collection", {})
    for key in (
        "bodySite",
        "collector",
        "method",
        "quantity",
        "duration",
        "fastingStatusCodeableConcept",
    ):
        collection.pop(key, None)
    return view


# How a section says what was in it is not shown (FHIR's list-empty-reason).
EMPTY_REASON_WITHHELD = {
    "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
    "code": "withheld",
    "display": "Information Withheld",
}
NARRATIVE_WITHHELD_TEXT = "Withheld: this section's narrative is not shown to this reader."


def without_narrative(content: dict[str, Any]) -> dict[str, Any]:
    """The resource without its narrative `text`, nor any section's (a Composition).
    A section that held nothing but its narrative says it is withheld instead, with
    its empty reason, so it still holds text, entries or sub-sections (cmp-1) and
    the reader knows something is not shown to her."""
    stripped = copy.deepcopy(content)
    stripped.pop("text", None)

    def strip_sections(sections: list[dict[str, Any]]) -> None:
        for section in sections:
            section.pop("text", None)
            strip_sections(section.get("section", []))
            if not section.get("entry") and not section.get("section"):
                section["text"] = {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                    f"{NARRATIVE_WITHHELD_TEXT}</div>",
                }
                section.setdefault("emptyReason", {"coding": [dict(EMPTY_REASON_WITHHELD)]})

    strip_sections(stripped.get("section", []))
    return stripped


@dataclass
class Page:
    items: list[Any]
    has_next: bool
    has_previous: bool


def check_type(resource_type: str, *, allowed: Sequence[str] = STORED_TYPES) -> None:
    if resource_type not in allowed:
        raise FhirError.single(
            404, "not-supported", f"resource type {resource_type} is not supported here"
        )


def _kind_allowed(
    caller: Caller,
    action: Action,
    kind: str,
    event: EventKind,
    reference: str | None,
    *,
    operation: str | None = None,
) -> bool:
    """Kind-level decision. A concealed refusal returns False (caller answers as
    for nothing found); an open refusal raises AccessDenied (403)."""
    decision = decide(caller.actor, action, kind, operation=operation)
    if decision.permitted:
        return True
    caller.audit(
        event,
        entities=[reference] if reference else [],
        decision=decision,
        outcome=Outcome.MINOR_FAILURE,
        description="refused",
    )
    if decision.concealed:
        return False
    raise AccessDenied(caller.actor, action, Target(kind), decision)


def _load_permitted(
    caller: Caller,
    action: Action,
    event: EventKind,
    kind: str,
    reference: str,
    load: Callable[[], StoredVersion | None],
    missing: FhirError,
) -> tuple[StoredVersion, Decision]:
    """Decide on the kind, load the record, decide on the record. A record the
    caller may not see raises `missing`, exactly as a record that does not exist
    (promise 2); every refusal and every miss is audited."""
    if not _kind_allowed(caller, action, kind, event, reference):
        raise missing
    version = load()
    if version is None:
        caller.audit_miss(event, reference)
        raise missing
    decision = caller.decide_on(action, version)
    if not decision.permitted:
        caller.audit_miss(event, version.versioned_reference, decision)
        if decision.concealed:
            raise missing
        raise AccessDenied(caller.actor, action, Target(kind, version.facts()), decision)
    return caller.received(decision, version), decision


# -- reads ---------------------------------------------------------------------


def read_resource(caller: Caller, resource_type: str, logical_id: str) -> StoredVersion:
    check_type(resource_type)
    version, decision = _load_permitted(
        caller,
        Action.READ,
        EventKind.READ,
        resource_type,
        f"{resource_type}/{logical_id}",
        lambda: caller.store.current(resource_type, logical_id),
        not_found(resource_type, logical_id),
    )
    caller.audit(EventKind.READ, entities=[version.versioned_reference], decision=decision)
    return version


def vread_resource(
    caller: Caller, resource_type: str, logical_id: str, version_id: str
) -> StoredVersion:
    check_type(resource_type)
    version, decision = _load_permitted(
        caller,
        Action.READ,
        EventKind.VREAD,
        resource_type,
        f"{resource_type}/{logical_id}/_history/{version_id}",
        lambda: (
            caller.store.version(resource_type, logical_id, number)
            if (number := small_whole_number(version_id)) is not None
            else None
        ),
        _version_not_found(resource_type, logical_id, version_id),
    )
    caller.audit(EventKind.VREAD, entities=[version.versioned_reference], decision=decision)
    return version


def _version_not_found(resource_type: str, logical_id: str, version_id: str) -> FhirError:
    return FhirError.single(
        404, "not-found", f"{resource_type}/{logical_id}/_history/{version_id} is not known"
    )


def fill_page(
    fetch: Callable[[tuple[Any, ...] | None, tuple[Any, ...] | None, int], list[T]],
    permitted: Callable[[T], T | None],
    key: Callable[[T], tuple[Any, ...]],
    count: int,
    after: tuple[Any, ...] | None,
    before: tuple[Any, ...] | None,
) -> Page:
    """Fill one page with records the caller may see, in order, reading batches
    until the page (plus one, to know whether there is a next) is full. `permitted`
    gives each record as the caller may have it, or None: records the caller may
    not see are skipped, never counted."""
    backward = before is not None
    found: list[T] = []
    cursor_after, cursor_before = after, before
    while True:
        batch = fetch(cursor_after, cursor_before, _BATCH)
        for item in reversed(batch) if backward else batch:
            allowed = permitted(item)
            if allowed is not None:
                found.append(allowed)
                if len(found) > count:
                    break
        if len(found) > count or len(batch) < _BATCH:
            break
        if backward:
            cursor_before = key(batch[0])
        else:
            cursor_after = key(batch[-1])
    more = len(found) > count
    found = found[:count]
    if backward:
        found.reverse()
        return Page(found, has_next=True, has_previous=more)
    return Page(found, has_next=more, has_previous=after is not None)


def search_resources(caller: Caller, resource_type: str, request: SearchRequest) -> Page:
    check_type(resource_type)
    operation = _search_operation(resource_type, request)
    if not _kind_allowed(
        caller, Action.SEARCH, resource_type, EventKind.SEARCH, None, operation=operation
    ):
        return Page([], has_next=False, has_previous=False)
    sites = search_scope(caller.actor, Action.SEARCH, resource_type)
    store = caller.store
    # One moment for the page: her Consents answer the same question once for
    # all her records on it (clinic.access.consent.Directives).
    moment = datetime.now(UTC)

    def fetch(after: Any, before: Any, limit: int) -> list[StoredVersion]:
        return store.search(
            resource_type, request.criteria, site_ids=sites, after=after, before=before, limit=limit
        )

    def permitted(version: StoredVersion) -> StoredVersion | None:
        return caller.visible(Action.SEARCH, version, operation=operation, at=moment)

    page = fill_page(
        fetch, permitted, search_key, request.page.count, request.page.after, request.page.before
    )
    caller.audit(
        EventKind.SEARCH,
        entities=[version.versioned_reference for version in page.items],
        decision=decide(caller.actor, Action.SEARCH, resource_type, operation=operation),
        query=f"{resource_type}?{request.audit_query()}",
    )
    return page


def _search_operation(resource_type: str, request: SearchRequest) -> str | None:
    """A Specimen search by its printed label alone is a label lookup, which the
    decision point treats as an operation of its own (custodians at the bench)."""
    if (
        resource_type == "Specimen"
        and request.criteria
        and all(isinstance(c, TokenCriterion) and c.param == "identifier" for c in request.criteria)
    ):
        return LABEL_LOOKUP
    return None


def search_key(version: StoredVersion) -> tuple[Any, ...]:
    return (version.last_updated, version.logical_id)


def history_key(version: StoredVersion) -> tuple[Any, ...]:
    return (version.last_updated, version.logical_id, version.version_id)


def resource_history(
    caller: Caller, resource_type: str, logical_id: str | None, request: SearchRequest
) -> Page:
    check_type(resource_type)
    event = EventKind.HISTORY_INSTANCE if logical_id else EventKind.HISTORY_TYPE
    path = f"{resource_type}/{logical_id}/_history" if logical_id else f"{resource_type}/_history"
    store = caller.store
    if logical_id is not None:
        _load_permitted(
            caller,
            Action.READ,
            event,
            resource_type,
            f"{resource_type}/{logical_id}",
            lambda: store.current(resource_type, logical_id),
            not_found(resource_type, logical_id),
        )
    elif not _kind_allowed(caller, Action.READ, resource_type, event, None):
        return Page([], has_next=False, has_previous=False)
    sites = search_scope(caller.actor, Action.READ, resource_type)

    def fetch(after: Any, before: Any, limit: int) -> list[StoredVersion]:
        return store.history(
            resource_type,
            logical_id,
            site_ids=sites,
            since=request.since,
            after=after,
            before=before,
            limit=limit,
        )

    def permitted(version: StoredVersion) -> StoredVersion | None:
        return caller.visible(Action.READ, version)

    page = fill_page(
        fetch, permitted, history_key, request.page.count, request.page.after, request.page.before
    )
    caller.audit(
        event,
        entities=[version.versioned_reference for version in page.items],
        decision=decide(caller.actor, Action.READ, resource_type),
        query=f"{path}?{request.audit_query()}",
    )
    return page


def export_resources(caller: Caller, resource_type: str) -> Iterator[StoredVersion]:
    """Every current resource of a type the caller may export, audited as one export.
    A refused export is audited as refused and yields nothing."""
    check_type(resource_type)
    if not _kind_allowed(caller, Action.EXPORT, resource_type, EventKind.EXPORT, None):
        return
    exported: list[str] = []
    sites = search_scope(caller.actor, Action.EXPORT, resource_type)
    after: tuple[Any, ...] | None = None
    while True:
        batch = caller.store.search(
            resource_type, [], site_ids=sites, after=after, before=None, limit=_BATCH
        )
        for version in batch:
            allowed = caller.visible(Action.EXPORT, version)
            if allowed is not None:
                exported.append(allowed.versioned_reference)
                yield allowed
        if len(batch) < _BATCH:
            break
        after = search_key(batch[-1])
    caller.audit(
        EventKind.EXPORT,
        entities=exported,
        decision=decide(caller.actor, Action.EXPORT, resource_type),
        query=f"{resource_type} (all)",
    )


# -- writes --------------------------------------------------------------------


def create_resource(caller: Caller, data: Any, *, logical_id: str | None = None) -> StoredVersion:
    if not isinstance(data, dict):
        raise FhirError.single(400, "structure", "the body is not a JSON object")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise FhirError.single(400, "structure", "resourceType is missing", "resourceType")
    check_type(resource_type)
    check_writable(resource_type)
    if not _kind_allowed(caller, Action.CREATE, resource_type, EventKind.CREATE, None):
        # Creating reveals nothing about existing records, so say no plainly.
        raise FhirError.single(403, "forbidden", f"you may not create {resource_type}")
    site_id = caller.actor.organization_id
    _refuse_exam_records(data)
    _check_references(caller, data, site_id)
    version = caller.store.create(
        data, site_id=site_id, author_id=caller.actor.user_id, logical_id=logical_id
    )
    decision = decide(caller.actor, Action.CREATE, resource_type, version.facts())
    if not decision.permitted:
        raise AccessDenied(
            caller.actor, Action.CREATE, Target(resource_type, version.facts()), decision
        )
    caller.audit(EventKind.CREATE, entities=[version.versioned_reference], decision=decision)
    return version


def update_resource(
    caller: Caller, resource_type: str, logical_id: str, data: Any, *, expected_version: int | None
) -> StoredVersion:
    check_type(resource_type)
    check_writable(resource_type)
    if not isinstance(data, dict):
        raise FhirError.single(400, "structure", "the body is not a JSON object")
    if data.get("resourceType") != resource_type:
        raise FhirError.single(
            400,
            "invalid",
            f"resourceType is {data.get('resourceType')} but the URL names {resource_type}",
            "resourceType",
        )
    current, decision = _load_permitted(
        caller,
        Action.UPDATE,
        EventKind.UPDATE,
        resource_type,
        f"{resource_type}/{logical_id}",
        lambda: caller.store.current(resource_type, logical_id),
        not_found(resource_type, logical_id),
    )
    _refuse_exam_records(data)
    _refuse_exam_records(current.content)
    _check_references(caller, data, current.site_id)
    version = caller.store.update(
        resource_type,
        logical_id,
        data,
        author_id=caller.actor.user_id,
        expected_version=expected_version,
    )
    caller.audit(EventKind.UPDATE, entities=[version.versioned_reference], decision=decision)
    return version


def check_writable(resource_type: str) -> None:
    """404 for a type the server does not hold at all, 405 for one it holds read-only."""
    if resource_type not in (*STORED_TYPES, "AuditEvent"):
        check_type(resource_type)
    if resource_type not in WRITABLE_TYPES:
        raise FhirError.single(
            405,
            "not-supported",
            f"{resource_type} is maintained by the clinic itself, not written through the API",
        )


_EXAM_OBSERVATION = f"{CODE_SYSTEM}/exam-observation"


def _refuse_exam_records(data: dict[str, Any]) -> None:
    """Exam findings are written only by the exam service, which keeps a signed exam
    read-only, records every amendment and refuses findings of a part she declined;
    the API cannot go around it, with an encounter or without one (an exam
    finding's code, from exam-observation, says what it is)."""
    codings = data.get("code", {}).get("coding", []) if isinstance(data.get("code"), dict) else []
    exam_coded = any(
        isinstance(coding, dict) and coding.get("system") == _EXAM_OBSERVATION for coding in codings
    )
    if data.get("encounter") is not None or exam_coded:
        where = f"{data.get('resourceType')}.{'encounter' if data.get('encounter') else 'code'}"
        raise FhirError.single(
            422,
            "business-rule",
            f"{where}: findings of an exam are recorded in the exam itself (and amended there "
            "after sign-off), not through the API",
            where,
        )


def _check_references(caller: Caller, data: dict[str, Any], site_id: str | None) -> None:
    """References that search indexes follow must point at a record of the same
    site that the caller may read; an unknown and a hidden target look the same."""
    resource_type = data.get("resourceType", "")
    for param in TYPE_PARAMS.get(resource_type, ()):
        if param.type != "reference" or param.expression is None:
            continue
        element = param.expression.split(".", 1)[1]
        node = data.get(element)
        reference = node.get("reference") if isinstance(node, dict) else None
        if reference is None:
            continue
        target = _local_reference(reference)
        problem = f"{resource_type}.{element}: {reference} does not resolve to a record you can use"
        if target is None or target[0] not in param.target_types:
            raise FhirError.single(
                422,
                "business-rule",
                f"{resource_type}.{element} must be a literal reference to {'/'.join(param.target_types)}/<id>",
                f"{resource_type}.{element}",
            )
        version = caller.store.current(*target)
        if (
            version is None
            or version.site_id != site_id
            or not caller.decide_on(Action.READ, version).permitted
        ):
            raise FhirError.single(422, "business-rule", problem, f"{resource_type}.{element}")


# -- transactions --------------------------------------------------------------


@dataclass
class EntryResult:
    version: StoredVersion
    status: str  # "201 Created" or "200 OK"


def run_transaction(caller: Caller, bundle: Any) -> list[EntryResult]:
    """All entries or none: the caller's unit of work is rolled back on any error."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError.single(
            400, "invalid", "POST to the base URL takes a transaction Bundle", "resourceType"
        )
    if bundle.get("type") != "transaction":
        raise FhirError.single(
            400,
            "not-supported",
            f"Bundle.type {bundle.get('type')!r} is not supported; only transaction",
            "Bundle.type",
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise FhirError.single(400, "invalid", "the transaction has no entries", "Bundle.entry")
    planned: list[tuple[int, str, str, str | None, dict[str, Any]]] = []
    new_ids: dict[str, str] = {}
    targets: set[str] = set()
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"Bundle.entry[{index}]"
        if not isinstance(request, dict) or not isinstance(resource, dict):
            raise FhirError.single(
                400, "invalid", f"entry {index} needs a request and a resource", where
            )
        method, url = request.get("method"), str(request.get("url", "")).strip("/")
        if method == "POST":
            if url != resource.get("resourceType"):
                raise FhirError.single(
                    400,
                    "invalid",
                    f"entry {index}: POST url must be the resource type",
                    f"{where}.request.url",
                )
            full_url = entry.get("fullUrl")
            new_id = str(uuid.uuid4())
            if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
                new_ids[full_url] = f"{url}/{new_id}"
            planned.append((index, "POST", url, new_id, resource))
        elif method == "PUT":
            parts = url.split("/")
            if len(parts) != 2 or parts[0] != resource.get("resourceType"):
                raise FhirError.single(
                    400,
                    "invalid",
                    f"entry {index}: PUT url must be Type/id of the resource",
                    f"{where}.request.url",
                )
            if url in targets:
                raise FhirError.single(
                    400,
                    "invalid",
                    f"entry {index}: {url} is changed twice in one transaction",
                    f"{where}.request.url",
                )
            targets.add(url)
            planned.append((index, "PUT", url, request.get("ifMatch"), resource))
        else:
            raise FhirError.single(
                400,
                "not-supported",
                f"entry {index}: method {method!r} is not supported in transactions; use POST or PUT",
                f"{where}.request.method",
            )
    results: dict[int, EntryResult] = {}
    # FHIR processing order: creates before updates.
    for index, method, url, extra, resource in sorted(planned, key=lambda item: item[1] != "POST"):
        content = _resolve_placeholders(resource, new_ids)
        try:
            if method == "POST":
                version = create_resource(caller, content, logical_id=extra)
                results[index] = EntryResult(version, "201 Created")
            else:
                resource_type, logical_id = url.split("/")
                version = update_resource(
                    caller,
                    resource_type,
                    logical_id,
                    content,
                    expected_version=parse_if_match(extra),
                )
                results[index] = EntryResult(version, "200 OK")
        except FhirError as error:
            raise error.at_entry(index) from error
    caller.audit(
        EventKind.TRANSACTION, entities=[r.version.versioned_reference for r in results.values()]
    )
    return [results[index] for index in range(len(entries))]


def _resolve_placeholders(resource: dict[str, Any], new_ids: dict[str, str]) -> dict[str, Any]:
    content = copy.deepcopy(resource)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str) and value in new_ids:
                    node[key] = new_ids[value]
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(content)
    return content


def parse_if_match(value: Any) -> int | None:
    """`W/"3"` (or `"3"`, or `3`) -> 3."""
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    number = small_whole_number(text)
    if number is None:
        raise FhirError.single(
            400, "invalid", f'If-Match {value!r} is not a version ETag such as W/"3"'
        )
    return number
