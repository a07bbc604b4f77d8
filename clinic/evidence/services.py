"""Collecting evidence and keeping its chain of custody.

Rules (docs/design.md section 6):

* A kit and each item in it is a FHIR Specimen with a unique, unguessable label,
  and an operational record custodians work with.
* Evidence is collected only where her evidence-collection Consent permits that
  kind; an item offered and declined is recorded as such.
* Every custody action is recorded with who, when, where and the seal's state,
  and appended to the tamper-evident `custody` log in the same transaction.
* An action that makes no sense for the item's state is refused with a reason
  (CUSTODY_TRANSITIONS); a seal number that does not match the one on record is
  refused; destruction needs a second person who confirms with their password,
  and only once the disposal date has passed; transfers go to labs only until a
  survivor's release allows a police force (release work).
* Concurrent actions on one item serialise on its row: one wins, the other is
  decided against the new state.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import rfc8785
import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.roles import OrganizationKind, Role
from clinic.accounts.models import Organization, User
from clinic.audit.services import AuditRecord, EventKind
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import (
    CustodyEvent,
    CustodySignature,
    CustodyState,
    EvidenceItem,
    EvidenceKind,
    StorageLocation,
)
from clinic.fhir.canonical import CODE_SYSTEM, NAMING_SYSTEM
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Day, Listing, Sentence, Word, sentence
from clinic.i18n.values import VALUE_WORDS
from clinic.ledger.merkle import leaf_hash
from clinic.ledger.services import mark_pending

CUSTODY_LOG = "custody"
LABEL_SYSTEM = f"{NAMING_SYSTEM}/evidence-label"
_LABEL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

S = CustodyState
# action -> (states it may follow, state it leads to). Anything else is refused.
CUSTODY_TRANSITIONS: dict[str, tuple[frozenset[CustodyState], CustodyState]] = {
    "sealed": (frozenset({S.COLLECTED, S.CHECKED_OUT, S.RETURNED}), S.SEALED),
    "stored": (frozenset({S.SEALED, S.CHECKED_OUT, S.RETURNED}), S.STORED),
    "checked-out": (frozenset({S.STORED}), S.CHECKED_OUT),
    "transferred": (frozenset({S.SEALED, S.STORED, S.CHECKED_OUT}), S.TRANSFERRED),
    "returned": (frozenset({S.TRANSFERRED}), S.RETURNED),
    "seal-broken": (frozenset({S.CHECKED_OUT}), S.CHECKED_OUT),
    "destroyed": (frozenset({S.STORED}), S.DESTROYED),
}
# Actions that need the seal on record to be intact and its number confirmed.
NEEDS_INTACT_SEAL = frozenset({"stored", "checked-out", "transferred", "destroyed"})


class CustodyRefused(DomainError):
    """An action the chain of custody does not allow; the message says why."""


class EvidenceNotFound(CustodyRefused):
    """No such item, or one the caller may not see: the same answer for both."""


@dataclass(frozen=True)
class ItemSpec:
    kind: EvidenceKind
    name: str
    container: str | None = None
    body_site: str | None = None  # clinical detail: in the Specimen only
    is_declined: bool = False
    declined_reason: str | None = None


@dataclass(frozen=True)
class CollectedKit:
    kit: EvidenceItem
    items: list[EvidenceItem] = field(default_factory=list)


@dataclass(frozen=True)
class CustodyInput:
    """What a person records for one custody action."""

    seal_number: str | None = None  # the number seen on the seal (or the new one, to seal)
    is_seal_intact: bool | None = None  # on return: as found
    location: str | None = None
    storage_condition: str | None = None
    to_person: str | None = None  # check-out: the member of staff taking it
    receiver_name: str | None = None  # transfer: the person signing for it
    receiver_organization_id: str | None = None
    receiver_signature_png: bytes | None = None  # transfer: drawn on screen by the receiver
    second_person: str | None = None  # destruction: the witness's username
    second_person_password: str | None = None
    note: str | None = None
    occurred_at: datetime | None = None


def _custody_word(code: str) -> Any:
    """A custody state or action, as the screens name it (marked for the catalogues)."""
    return _value_word("custody", code)


def _value_word(kind: str, code: str | None) -> Any:
    words = VALUE_WORDS.get(kind, {})
    return Word(words[code]) if code in words else (code or "")


def item_facts(item: EvidenceItem) -> ResourceFacts:
    return ResourceFacts("EvidenceItem", item.id, site_id=item.site_id)


def new_label(site_code: str) -> str:
    return f"{site_code}-K" + "".join(secrets.choice(_LABEL_ALPHABET) for _ in range(8))


# -- collection ------------------------------------------------------------------


# Refusals of collection for want of her consent, by kind: what is missing and what to do.
NOT_CONSENTED = {
    "swab": N_(
        "Item %(number)s: she has not given evidence-collection consent for swabs. Record her"
        " evidence-collection consent first (Her consent > Evidence collection and storage)."
    ),
    "blood": N_(
        "Item %(number)s: she has not given evidence-collection consent for blood samples. "
        "Record her evidence-collection consent first (Her consent > Evidence collection and "
        "storage)."
    ),
    "urine": N_(
        "Item %(number)s: she has not given evidence-collection consent for urine samples. "
        "Record her evidence-collection consent first (Her consent > Evidence collection and "
        "storage)."
    ),
    "clothing": N_(
        "Item %(number)s: she has not given evidence-collection consent for clothing. Record "
        "her evidence-collection consent first (Her consent > Evidence collection and "
        "storage)."
    ),
    "hair": N_(
        "Item %(number)s: she has not given evidence-collection consent for hair combings. "
        "Record her evidence-collection consent first (Her consent > Evidence collection and "
        "storage)."
    ),
    "fingernail": N_(
        "Item %(number)s: she has not given evidence-collection consent for fingernail "
        "scrapings. Record her evidence-collection consent first (Her consent > Evidence "
        "collection and storage)."
    ),
    "debris": N_(
        "Item %(number)s: she has not given evidence-collection consent for debris. Record "
        "her evidence-collection consent first (Her consent > Evidence collection and "
        "storage)."
    ),
    "other": N_(
        "Item %(number)s: her evidence-collection consent form does not ask about other "
        "evidence items, so none can be collected. Choose the kind the item is (swab, blood, "
        "urine, clothing, hair, fingernail, debris), or record it as offered and declined."
    ),
}


def _refuse_without_her_consent(
    uow: UnitOfWork, actor: Actor, case: Any, items: list[ItemSpec]
) -> None:
    """Evidence is collected only where her evidence-collection consent permits that
    kind (asked of the decision point, with her Consents). What she declined is
    refused as such; an item offered and declined can always be recorded."""
    from clinic.access.consent import ConsentRequest, Recipient, denies
    from clinic.access.policy import COLLECT
    from clinic.access.terms import DATA_CLASSES
    from clinic.consent.book import consent_book

    book = consent_book(uow)
    subject = f"Patient/{case.patient_id}"
    for number, spec in enumerate(items, start=1):
        if spec.is_declined:
            continue
        data_class = f"evidence-{spec.kind.value}"
        asked = ConsentRequest(
            recipients=frozenset(
                {Recipient("case-examiner", f"Organization/{actor.organization_id}")}
            ),
            action="collect",
            purpose="TREAT",
            classes=frozenset({data_class}),
            labels=frozenset(),
            at=utcnow(),
        )
        if denies(book.directives(subject), asked) is not None:
            raise CustodyRefused(
                sentence(
                    "Item %(number)s: she declined the collection of %(what)s in her consent. "
                    "Record it as offered and declined, or record her new decision first.",
                    number=number,
                    what=Coded(
                        "consent-data-class",
                        data_class,
                        inline=True,
                        english_text=DATA_CLASSES[data_class],
                    ),
                ),
                "items",
            )
        facts = ResourceFacts(
            "Specimen",
            "",
            site_id=case.site_id,
            subject=subject,
            data_classes=frozenset({data_class}),
        )
        if not decide(
            actor, Action.CREATE, "Specimen", facts, operation=COLLECT, consents=book
        ).permitted:
            raise CustodyRefused(Sentence(NOT_CONSENTED[spec.kind.value], number=number), "items")


def collect_kit(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    kit_name: str,
    items: list[ItemSpec],
    collected_at: datetime | None = None,
) -> CollectedKit:
    """Record a kit and its items for a case as collected (or offered and
    declined), each a Specimen, each with a `collected` or `declined` custody event."""
    from clinic.cases.services import CaseNotFound, _load_case

    require(actor, Action.CREATE, "Specimen")
    require(actor, Action.CREATE, "CustodyEvent", operation="collected")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as error:
        raise CustodyRefused(N_("Choose the survivor's case."), "case_id") from error
    patient_id = case.patient_id
    if not items:
        raise CustodyRefused(N_("A kit holds at least one item."), "items")
    _refuse_without_her_consent(uow, actor, case, items)
    site = uow.session.get(Organization, actor.organization_id)
    assert site is not None
    when = collected_at or utcnow()
    kit_label = new_label(site.code)
    kit = _new_item(
        uow,
        registry,
        actor,
        case_id=case.id,
        patient_id=patient_id,
        label=kit_label,
        spec=ItemSpec(EvidenceKind.KIT, kit_name),
        kit=None,
        when=when,
    )
    collected = [
        _new_item(
            uow,
            registry,
            actor,
            case_id=case.id,
            patient_id=patient_id,
            label=f"{kit_label}-{number:02d}",
            spec=spec,
            kit=kit,
            when=when,
        )
        for number, spec in enumerate(items, start=1)
    ]
    return CollectedKit(kit, collected)


def _new_item(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    actor: Actor,
    *,
    case_id: str,
    patient_id: str,
    label: str,
    spec: ItemSpec,
    kit: EvidenceItem | None,
    when: datetime,
) -> EvidenceItem:
    if not spec.name.strip():
        raise CustodyRefused(N_("Name each item (for example “Swab 1”)."), "name")
    if spec.is_declined and not (spec.declined_reason or "").strip():
        raise CustodyRefused(N_("Say who declined the item and why."), "declined_reason")
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "identifier": [{"system": LABEL_SYSTEM, "value": label}],
        "status": "unavailable" if spec.is_declined else "available",
        "type": {
            "coding": [{"system": f"{CODE_SYSTEM}/evidence-type", "code": spec.kind.value}],
            "text": spec.name,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "collection": {
            "collector": {"display": actor.username},
            "collectedDateTime": _instant(when),
        },
    }
    if kit is not None:
        specimen["parent"] = [{"reference": f"Specimen/{kit.id}"}]
    if spec.body_site:
        specimen["collection"]["bodySite"] = {"text": spec.body_site}
    if spec.container:
        specimen["container"] = [{"description": spec.container}]
    if spec.is_declined:
        specimen["note"] = [{"text": f"Offered and declined: {spec.declined_reason}"}]
    version = ResourceStore(uow.session, registry).create(
        specimen, site_id=actor.organization_id, author_id=actor.user_id
    )
    item = EvidenceItem(
        id=version.logical_id,
        site_id=actor.organization_id,
        patient_id=patient_id,
        case_id=case_id,
        kit_id=kit.id if kit else None,
        label=label,
        kind=spec.kind.value,
        name=spec.name.strip(),
        container=spec.container,
        state=(S.DECLINED if spec.is_declined else S.COLLECTED).value,
        is_seal_intact=False,
        holder=actor.username,
        collected_at=when,
        last_event_at=when,
    )
    uow.session.add(item)
    uow.session.flush()
    action = "declined" if spec.is_declined else "collected"
    _append_event(
        uow,
        actor,
        item,
        action,
        occurred_at=when,
        to_holder=actor.username,
        note=spec.declined_reason if spec.is_declined else None,
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=("evidence collected",),
        )
    )
    return item


def _instant(moment: datetime) -> str:
    from clinic.core.clock import isoformat

    return isoformat(moment)


# -- custody actions -------------------------------------------------------------------


def record_custody(
    uow: UnitOfWork, *, actor: Actor, item_id: str, action: str, details: CustodyInput
) -> CustodyEvent:
    """Record one custody action on one item, if the chain of custody allows it."""
    if action not in CUSTODY_TRANSITIONS:
        raise CustodyRefused(
            sentence("“%(action)s” is not a custody action.", action=action), "action"
        )
    item = uow.session.scalar(
        sa.select(EvidenceItem).where(EvidenceItem.id == item_id).with_for_update()
    )
    facts = item_facts(item) if item else ResourceFacts("EvidenceItem", item_id)
    if item is None or not decide(actor, Action.READ, "EvidenceItem", facts).permitted:
        raise EvidenceNotFound(N_("There is no such evidence item here."), "item")
    event_facts = ResourceFacts("CustodyEvent", item.id, site_id=item.site_id)
    require(actor, Action.CREATE, "CustodyEvent", event_facts, operation=action)
    allowed_from, next_state = CUSTODY_TRANSITIONS[action]
    current = CustodyState(item.state)
    if current not in allowed_from:
        raise CustodyRefused(
            sentence(
                "%(label)s is %(state)s: it cannot be %(action)s now (only when %(allowed)s).",
                label=item.label,
                state=_custody_word(current.value),
                action=_custody_word(action),
                allowed=Listing(
                    tuple(_custody_word(s) for s in sorted(s.value for s in allowed_from))
                ),
            )
        )
    seal = (details.seal_number or "").strip() or None
    if action in NEEDS_INTACT_SEAL:
        if not item.is_seal_intact:
            raise CustodyRefused(
                sentence("The seal of %(label)s is broken: reseal it first.", label=item.label),
                "seal_number",
            )
        if seal != item.seal_number:
            raise CustodyRefused(
                sentence(
                    "The seal number does not match the one recorded for %(label)s. "
                    "Do not proceed: report it to the evidence lead.",
                    label=item.label,
                ),
                "seal_number",
            )
    handler = _HANDLERS[action]
    changes = handler(uow, actor, item, details, seal)
    now = details.occurred_at or utcnow()
    event = _append_event(uow, actor, item, action, occurred_at=now, note=details.note, **changes)
    item.state = next_state.value
    item.last_event_at = now
    uow.session.flush()
    return event


class KitRefused(CustodyRefused):
    """A whole-kit action refused because of one item: nothing in the kit changed."""

    def __init__(self, message: str, field: str | None = None, *, item_id: str) -> None:
        super().__init__(message, field)
        self.item_id = item_id


def seal_and_store_kit(
    uow: UnitOfWork,
    *,
    actor: Actor,
    kit_id: str,
    seals: dict[str, str],
    location: str | None = None,
    note: str | None = None,
) -> list[CustodyEvent]:
    """Seal, and with a location also store, a whole kit in one action: each item
    (then the kit itself) gets its own custody events in the log, as if recorded one
    by one, under the same rules. Items offered and declined are left out; a step an
    item has already taken (sealed, stored there) is not repeated. All or nothing:
    if one item cannot be sealed or stored, nothing in the kit is, and the refusal
    names that item. `seals` maps each item id to the seal number applied (or, for
    one already sealed, read from its seal)."""
    kit, contents = kit_contents(uow, actor=actor, kit_id=kit_id)
    if kit.kit_id is not None:
        raise CustodyRefused(N_("This is an item, not a kit: open its kit."), "seal_number")
    where = (location or "").strip() or None
    events: list[CustodyEvent] = []
    with uow.session.begin_nested():
        for member in (*contents, kit):
            if member.state == S.DECLINED.value:
                continue
            seal = (seals.get(member.id) or "").strip() or None
            try:
                if not member.is_seal_intact:
                    if seal is None:
                        raise CustodyRefused(N_("Give the number printed on its seal."))
                    events.append(
                        record_custody(
                            uow,
                            actor=actor,
                            item_id=member.id,
                            action="sealed",
                            details=CustodyInput(seal_number=seal, note=note),
                        )
                    )
                if where is not None and not (
                    member.state == S.STORED.value and member.location == where
                ):
                    events.append(
                        record_custody(
                            uow,
                            actor=actor,
                            item_id=member.id,
                            action="stored",
                            details=CustodyInput(seal_number=seal, location=where, note=note),
                        )
                    )
            except CustodyRefused as refused:
                raise KitRefused(
                    sentence(
                        "%(label)s (%(name)s): %(refusal)s Nothing in the kit was sealed or stored.",
                        label=member.label,
                        name=member.name,
                        refusal=refused.message
                        if isinstance(refused.message, Sentence)
                        else Sentence(refused.message),
                    ),
                    "location" if refused.field == "location" else "seal_number",
                    item_id=member.id,
                ) from refused
    return events


def find_by_label(uow: UnitOfWork, *, actor: Actor, label: str) -> EvidenceItem:
    """The item (or kit) whose printed label is exactly `label` (as typed or
    scanned: spaces and case do not matter), for those who may see it. An item of
    another site is answered exactly like a label that does not exist."""
    decision = require(actor, Action.SEARCH, "EvidenceItem")
    wanted = "".join(label.split()).upper()
    item = (
        uow.session.scalar(sa.select(EvidenceItem).where(EvidenceItem.label == wanted))
        # A label is printable ASCII: anything else (a NUL byte PostgreSQL refuses,
        # a stray control character from a scanner) is simply no label.
        if 0 < len(wanted) <= 40 and wanted.isascii() and wanted.isprintable()
        else None
    )
    found = (
        item is not None
        and decide(actor, Action.SEARCH, "EvidenceItem", item_facts(item)).permitted
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            reasons=decision.reasons,
            entities=(f"EvidenceItem/{item.id}",) if found and item is not None else (),
            query="EvidenceItem?label=[redacted]",
        )
    )
    if not found or item is None:
        raise EvidenceNotFound(N_("There is no item with this label at your site."), "label")
    return item


def _seal(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    if item.is_seal_intact:
        raise CustodyRefused(
            sentence(
                "%(label)s is already sealed with seal %(seal)s.",
                label=item.label,
                seal=item.seal_number,
            ),
            "seal_number",
        )
    if not seal:
        raise CustodyRefused(N_("Give the number printed on the seal."), "seal_number")
    from clinic.evidence.retention import fix_disposal_date_at_sealing

    item.seal_number, item.is_seal_intact = seal, True
    return {
        "seal_number": seal,
        "is_seal_intact": True,
        "from_holder": item.holder,
        "to_holder": item.holder,
        "disposal_due": fix_disposal_date_at_sealing(uow.session, item),
    }


def _store(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    name = (details.location or "").strip()
    if not name:
        raise CustodyRefused(N_("Choose where it is stored."), "location")
    place = uow.session.scalar(
        sa.select(StorageLocation).where(
            StorageLocation.site_id == item.site_id,
            StorageLocation.name == name,
            StorageLocation.is_active.is_(True),
        )
    )
    if place is None:
        raise CustodyRefused(
            sentence(
                "“%(name)s” is not a storage location of this site: choose one from the list.",
                name=name,
            ),
            "location",
        )
    if details.storage_condition and details.storage_condition != place.condition:
        raise CustodyRefused(
            sentence(
                "%(place)s is %(condition)s, not %(asked)s: choose a location that keeps the "
                "item as it must be kept.",
                place=place.name,
                condition=_value_word("storage", place.condition),
                asked=_value_word("storage", details.storage_condition),
            ),
            "location",
        )
    location = place.name
    previous = item.holder
    item.holder, item.location, item.storage_condition = (
        "evidence store",
        location,
        place.condition,
    )
    return {
        "from_holder": previous,
        "to_holder": "evidence store",
        "location": location,
        "storage_condition": place.condition,
        "seal_number": seal,
        "is_seal_intact": True,
    }


def _check_out(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    person = _staff_member(uow.session, details.to_person, item.site_id, "to_person")
    item.holder, item.location = person.username, None
    return {
        "from_holder": "evidence store",
        "to_holder": person.username,
        "seal_number": seal,
        "is_seal_intact": True,
    }


def _transfer(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    receiver = (details.receiver_name or "").strip()
    if not receiver:
        raise CustodyRefused(
            N_("Give the name of the person receiving it, who signs the receipt."), "receiver_name"
        )
    organization = uow.session.get(Organization, details.receiver_organization_id or "")
    if organization is None or not organization.is_active:
        raise CustodyRefused(N_("Choose the receiving organisation."), "receiver_organization_id")
    if organization.kind == OrganizationKind.POLICE.value:
        # Default deny to police (promise 1): physical evidence goes to a force only
        # as part of a release the survivor consented to and the clinic approved.
        from clinic.release.services import HandoverRefused, record_handover

        try:
            record_handover(uow, actor=actor, item=item, force=organization, officer=receiver)
        except HandoverRefused as refused:
            raise CustodyRefused(refused.message, refused.field) from refused
    elif organization.kind != OrganizationKind.LAB.value:
        raise CustodyRefused(
            N_("Evidence can be transferred to a forensic laboratory."), "receiver_organization_id"
        )
    signature = store_signature(uow.session, details.receiver_signature_png)
    previous = item.holder
    item.holder, item.location, item.storage_condition = organization.name, None, None
    return {
        "from_holder": previous,
        "to_holder": organization.name,
        "receiver_name": receiver,
        "receiver_organization": organization.id,
        "receiver_signature": signature,
        "seal_number": seal,
        "is_seal_intact": True,
    }


def store_signature(session: Session, png: bytes | None) -> str:
    """Keep a receipt signature byte-exact and return its SHA-256."""
    import hashlib

    from clinic.core.images import ImageRefused, check_signature_png

    if not png:
        raise CustodyRefused(
            N_("The receiver signs on the screen before the transfer is recorded."),
            "receiver_signature",
        )
    try:
        width, height = check_signature_png(png)
    except ImageRefused as refused:
        raise CustodyRefused(refused.message, "receiver_signature") from refused
    digest = hashlib.sha256(png).hexdigest()
    if session.get(CustodySignature, digest) is None:
        session.add(
            CustodySignature(
                sha256=digest, png=png, width=width, height=height, created_at=utcnow()
            )
        )
        session.flush()
    return digest


def signature_for(uow: UnitOfWork, *, actor: Actor, sha256: str) -> bytes:
    """A receipt signature, for those who may see an event that carries it."""
    event = uow.session.scalar(
        sa.select(CustodyEvent).where(CustodyEvent.receiver_signature == sha256).limit(1)
    )
    facts = ResourceFacts("CustodyEvent", event.item_id, site_id=event.site_id) if event else None
    if (
        event is None
        or facts is None
        or not decide(actor, Action.READ, "CustodyEvent", facts).permitted
    ):
        raise EvidenceNotFound(N_("There is no such signature here."))
    signature = uow.session.get(CustodySignature, sha256)
    assert signature is not None
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel="web",
            actor=actor,
            entities=(f"CustodySignature/{sha256}",),
        )
    )
    return bytes(signature.png)


def _return(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    if details.is_seal_intact is None or not seal:
        raise CustodyRefused(
            N_("Record the seal as found: its number and whether it is intact."), "seal_number"
        )
    previous = item.holder
    # A laboratory may reseal after analysis: the seal as found becomes the record.
    item.seal_number, item.is_seal_intact, item.holder = (
        seal,
        details.is_seal_intact,
        actor.username,
    )
    return {
        "from_holder": previous,
        "to_holder": actor.username,
        "seal_number": seal,
        "is_seal_intact": details.is_seal_intact,
    }


def _break_seal(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    if not item.is_seal_intact:
        raise CustodyRefused(
            sentence("The seal of %(label)s is already broken.", label=item.label), "seal_number"
        )
    if not (details.note or "").strip():
        raise CustodyRefused(N_("Say why the seal is broken."), "note")
    item.is_seal_intact = False
    return {
        "from_holder": item.holder,
        "to_holder": item.holder,
        "seal_number": item.seal_number,
        "is_seal_intact": False,
    }


def _destroy(
    uow: UnitOfWork, actor: Actor, item: EvidenceItem, details: CustodyInput, seal: str | None
) -> dict[str, Any]:
    today = (details.occurred_at or utcnow()).date()
    if item.disposal_due is None or item.disposal_due > today:
        due: Any = (
            Day(item.disposal_due, item.disposal_due.isoformat())
            if item.disposal_due
            else Word(N_("not set"))
        )
        raise CustodyRefused(
            sentence(
                "%(label)s may not be destroyed before its disposal date (%(due)s).",
                label=item.label,
                due=due,
            )
        )
    witness = _staff_member(uow.session, details.second_person, item.site_id, "second_person")
    if witness.id == actor.user_id:
        raise CustodyRefused(N_("The second person must be someone else."), "second_person")
    from argon2.exceptions import InvalidHashError, VerificationError

    from clinic.accounts.services import _hasher

    try:
        _hasher.verify(witness.password_hash, details.second_person_password or "")
    except (VerificationError, InvalidHashError) as error:
        raise CustodyRefused(
            N_("The second person's password is not right."), "second_person_password"
        ) from error
    previous = item.holder
    item.holder, item.location, item.is_seal_intact = None, None, False
    return {
        "from_holder": previous,
        "to_holder": None,
        "second_person": witness.username,
        "seal_number": item.seal_number,
        "is_seal_intact": False,
        "location": details.location,
    }


_HANDLERS = {
    "sealed": _seal,
    "stored": _store,
    "checked-out": _check_out,
    "transferred": _transfer,
    "returned": _return,
    "seal-broken": _break_seal,
    "destroyed": _destroy,
}


def _staff_member(session: Session, username: str | None, site_id: str, field_name: str) -> User:
    user = session.scalar(
        sa.select(User).where(User.username == (username or "").strip().casefold())
    )
    if (
        user is None
        or not user.is_active
        or user.organization_id != site_id
        or user.role not in (Role.EXAMINER.value, Role.CUSTODIAN.value)
    ):
        raise CustodyRefused(N_("Name an active examiner or custodian of this site."), field_name)
    return user


def _append_event(
    uow: UnitOfWork,
    actor: Actor,
    item: EvidenceItem,
    action: str,
    *,
    occurred_at: datetime,
    note: str | None = None,
    **changes: Any,
) -> CustodyEvent:
    event = CustodyEvent(
        item_id=item.id,
        item_label=item.label,
        site_id=item.site_id,
        action=action,
        occurred_at=occurred_at,
        recorded_by=actor.user_id,
        recorded_by_name=actor.username,
        note=(note or "").strip() or None,
        is_seal_intact=changes.pop("is_seal_intact", item.is_seal_intact),
        **changes,
    )
    event.leaf_hash = leaf_hash(custody_leaf(event)).hex()
    mark_pending(uow.session, CUSTODY_LOG)
    uow.session.add(event)
    uow.session.flush()
    return event


def custody_leaf(event: CustodyEvent) -> bytes:
    return rfc8785.dumps(event.leaf_fields())  # type: ignore[arg-type]


def chain_of(
    uow: UnitOfWork, *, actor: Actor, item_id: str
) -> tuple[EvidenceItem, list[CustodyEvent]]:
    """An item and its custody events, oldest first, for those who may see it.
    An item of another site is answered exactly like one that does not exist."""
    item = uow.session.get(EvidenceItem, item_id)
    facts = item_facts(item) if item else ResourceFacts("EvidenceItem", item_id)
    decision = decide(actor, Action.READ, "EvidenceItem", facts)
    if item is None or not decision.permitted:
        raise EvidenceNotFound(N_("There is no such evidence item here."))
    events = list(
        uow.session.scalars(
            sa.select(CustodyEvent).where(CustodyEvent.item_id == item_id).order_by(CustodyEvent.id)
        )
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel="web",
            actor=actor,
            entities=(f"EvidenceItem/{item.id}",),
            reasons=decision.reasons,
        )
    )
    return item, events


def verify_custody_log(session: Session, origin: str | None = None) -> Any:
    """Recompute the custody log from the stored events (see ledger.verify_log)."""
    import heapq

    from clinic.ledger.services import verify_log
    from clinic.media.models import Photo

    def events() -> Any:
        last = -1
        while True:
            rows = session.scalars(
                sa.select(CustodyEvent)
                .where(CustodyEvent.log_index > last)
                .order_by(CustodyEvent.log_index)
                .limit(1000)
            ).all()
            if not rows:
                return
            for event in rows:
                yield event.log_index, custody_leaf(event), bytes.fromhex(event.leaf_hash)
            last = int(rows[-1].log_index or 0)

    def photos() -> Any:
        # A photograph's intake is on the same log (its SHA-256, for releases).
        last = -1
        while True:
            rows = session.scalars(
                sa.select(Photo).where(Photo.log_index > last).order_by(Photo.log_index).limit(1000)
            ).all()
            if not rows:
                return
            for photo in rows:
                yield photo.log_index, photo.leaf(), bytes.fromhex(photo.leaf_hash)
            last = int(rows[-1].log_index or 0)

    leaves = heapq.merge(events(), photos(), key=lambda leaf: leaf[0])
    return verify_log(session, CUSTODY_LOG, leaves, origin)


# -- reading, for the screens ----------------------------------------------------------


def list_items(
    uow: UnitOfWork,
    *,
    actor: Actor,
    state: str | None = None,
    overdue_before: datetime | None = None,
) -> list[EvidenceItem]:
    """The evidence of the actor's site, newest activity first. With
    `overdue_before`: only items transferred out before that moment and not back."""
    from clinic.access import search_scope

    decision = require(actor, Action.SEARCH, "EvidenceItem")
    sites = search_scope(actor, Action.SEARCH, "EvidenceItem")
    query = (
        sa.select(EvidenceItem)
        .order_by(EvidenceItem.last_event_at.desc(), EvidenceItem.label)
        .limit(500)
    )
    if sites is not None:
        query = query.where(EvidenceItem.site_id.in_(sites))
    if state:
        query = query.where(EvidenceItem.state == state)
    if overdue_before is not None:
        query = query.where(
            EvidenceItem.state == CustodyState.TRANSFERRED.value,
            EvidenceItem.last_event_at < overdue_before,
        )
    items = [
        i
        for i in uow.session.scalars(query)
        if decide(actor, Action.SEARCH, "EvidenceItem", item_facts(i)).permitted
    ]
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            reasons=decision.reasons,
            entities=tuple(f"EvidenceItem/{i.id}" for i in items),
            query=f"EvidenceItem?state={state or ''}",
        )
    )
    return items


def kit_contents(
    uow: UnitOfWork, *, actor: Actor, kit_id: str
) -> tuple[EvidenceItem, list[EvidenceItem]]:
    kit, _ = chain_of(uow, actor=actor, item_id=kit_id)
    items = list(
        uow.session.scalars(
            sa.select(EvidenceItem)
            .where(EvidenceItem.kit_id == kit.id)
            .order_by(EvidenceItem.label)
        )
    )
    return kit, items


def kits_of_case(uow: UnitOfWork, *, actor: Actor, case_id: str) -> list[EvidenceItem]:
    """A case's kits, oldest first, for those who may see evidence (none otherwise)."""
    if not decide(actor, Action.SEARCH, "EvidenceItem").permitted:
        return []
    query = (
        sa.select(EvidenceItem)
        .where(EvidenceItem.case_id == case_id, EvidenceItem.kit_id.is_(None))
        .order_by(EvidenceItem.collected_at)
    )
    return [
        kit
        for kit in uow.session.scalars(query)
        if decide(actor, Action.READ, "EvidenceItem", item_facts(kit)).permitted
    ]


def available_actions(actor: Actor, item: EvidenceItem) -> list[str]:
    """The custody actions this person could record on this item now."""
    from clinic.access.policy import CUSTODY_OPERATIONS

    state = CustodyState(item.state)
    actions = []
    for action, (allowed_from, _) in CUSTODY_TRANSITIONS.items():
        if (
            action not in CUSTODY_OPERATIONS.get(actor.role, frozenset())
            or state not in allowed_from
        ):
            continue
        if action == "sealed" and item.is_seal_intact:
            continue
        if action in NEEDS_INTACT_SEAL and not item.is_seal_intact:
            continue
        actions.append(action)
    return actions


@dataclass(frozen=True)
class ChainProof:
    """Whether an item's events are in a signed checkpoint of the custody log."""

    checkpoint_size: int | None
    verified: list[bool]
    problem: str | None = None


def check_chain(uow: UnitOfWork, events: list[CustodyEvent]) -> ChainProof:
    """Verify each event's inclusion proof against the newest signed checkpoint,
    exactly as an outside verifier would (signature, leaf, path)."""
    from clinic.ledger.services import LedgerError, export_proof, latest_checkpoint, trusted_keys
    from clinic.ledger.standalone import VerificationError, verify_entry

    checkpoint = latest_checkpoint(uow.session, CUSTODY_LOG)
    if checkpoint is None:
        return ChainProof(None, [False] * len(events))
    keys = trusted_keys()
    verified = []
    try:
        for event in events:
            if event.log_index is None or event.log_index >= checkpoint.tree_size:
                verified.append(False)
                continue
            proof = export_proof(uow.session, CUSTODY_LOG, event.log_index)
            verify_entry(proof.text(), custody_leaf(event), keys)
            verified.append(True)
    except (LedgerError, VerificationError) as error:
        return ChainProof(checkpoint.tree_size, verified, str(error))
    return ChainProof(checkpoint.tree_size, verified)


# -- FHIR: custody events as Task, and the $custody operation ------------------------


def custody_task(event: CustodyEvent) -> dict[str, Any]:
    """One custody event as a completed Task in the shape of R5's Transport."""
    from clinic.core.clock import isoformat
    from clinic.fhir.canonical import STRUCTURE_DEFINITION

    when = isoformat(event.occurred_at)
    parameter = f"{CODE_SYSTEM}/custody-parameter"
    inputs: list[dict[str, Any]] = []

    def add(code: str, key: str, value: Any) -> None:
        if value is not None:
            inputs.append({"type": {"coding": [{"system": parameter, "code": code}]}, key: value})

    add("seal-number", "valueString", event.seal_number)
    add("seal-intact", "valueBoolean", event.is_seal_intact if event.seal_number else None)
    add("storage-condition", "valueString", event.storage_condition)
    add("receiver", "valueString", event.receiver_name)
    add(
        "receiver-organization",
        "valueReference",
        {"reference": f"Organization/{event.receiver_organization}"}
        if event.receiver_organization
        else None,
    )
    add("second-person", "valueString", event.second_person)
    add(
        "disposal-due",
        "valueDate",
        event.disposal_due.isoformat() if event.disposal_due is not None else None,
    )
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"custody-{event.log_index}",
        "meta": {"profile": [f"{STRUCTURE_DEFINITION}/fc-custody-task"]},
        "identifier": [
            {"system": f"{NAMING_SYSTEM}/custody-log-index", "value": str(event.log_index)}
        ],
        "status": "completed",
        "intent": "order",
        "code": {"coding": [{"system": f"{CODE_SYSTEM}/custody-action", "code": event.action}]},
        "focus": {"reference": f"Specimen/{event.item_id}", "display": event.item_label},
        "executionPeriod": {"start": when, "end": when},
        "authoredOn": when,
    }
    if event.from_holder:
        task["requester"] = {"display": event.from_holder}
    if event.to_holder:
        task["owner"] = {"display": event.to_holder}
    if event.location:
        task["location"] = {"display": event.location}
    if inputs:
        task["input"] = inputs
    if event.note:
        task["note"] = [{"text": event.note}]
    return task


def custody_parameters(uow: UnitOfWork, *, actor: Actor, item_id: str) -> dict[str, Any]:
    """$custody: the item's custody events (as Task), each with its log leaf and a
    c2sp.org/tlog-proof against the newest signed checkpoint that covers it."""
    import base64

    from clinic.ledger.services import LedgerError, export_proof, latest_checkpoint

    require(actor, Action.READ, "CustodyEvent")  # roles that never see custody: 403
    item = uow.session.get(EvidenceItem, item_id)
    facts = ResourceFacts("CustodyEvent", item_id, site_id=item.site_id if item else None)
    if item is None or not decide(actor, Action.READ, "CustodyEvent", facts).permitted:
        raise EvidenceNotFound(N_("There is no such evidence item here."))
    _, events = chain_of(uow, actor=actor, item_id=item_id)
    checkpoint = latest_checkpoint(uow.session, CUSTODY_LOG)
    parameters: list[dict[str, Any]] = []
    if checkpoint is not None:
        parameters.append({"name": "checkpoint", "valueString": checkpoint.note})
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "task", "resource": custody_task(event)},
            {"name": "leaf", "valueBase64Binary": base64.b64encode(custody_leaf(event)).decode()},
        ]
        with contextlib.suppress(LedgerError):  # newer than the latest checkpoint: no proof yet
            parts.append(
                {
                    "name": "proof",
                    "valueString": export_proof(uow.session, CUSTODY_LOG, event.log_index).text(),
                }
            )
        parameters.append({"name": "event", "part": parts})
    return {"resourceType": "Parameters", "parameter": parameters}
