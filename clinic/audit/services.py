"""Recording and verifying the audit trail.

Events are collected on the unit of work while a request or command runs and
written just before its transaction commits: if the write fails, the commit never
happens and the action fails with it (promise 7). The records are integrated into
the `audit` Merkle log after the commit (see clinic.ledger.services.integrate). When the work
fails, its events are appended in a fresh transaction with the failure outcome, so
refused and failed attempts are on the trail too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import rfc8785
import sqlalchemy as sa
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from clinic.core.unit_of_work import UnitOfWork

from clinic.access.policy import Actor
from clinic.audit.models import AuditEntry, leaf_fields
from clinic.core.clock import utcnow
from clinic.i18n import N_
from clinic.ledger.merkle import leaf_hash
from clinic.ledger.services import VerificationReport, mark_pending, verify_log

AUDIT_LOG = "audit"


class Outcome(StrEnum):
    """AuditEvent.outcome (http://hl7.org/fhir/audit-event-outcome)."""

    SUCCESS = "0"
    MINOR_FAILURE = "4"  # refused, invalid request: nothing happened
    SERIOUS_FAILURE = "8"  # the system failed
    MAJOR_FAILURE = "12"


class EventKind(StrEnum):
    """Our event kinds; `clinic.audit.fhir` maps each to BALP's type and subtype."""

    READ = "read"
    VREAD = "vread"
    SEARCH = "search-type"
    HISTORY_INSTANCE = "history-instance"
    HISTORY_TYPE = "history-type"
    CREATE = "create"
    UPDATE = "update"
    TRANSACTION = "transaction"
    EXPORT = "export"
    LOGIN = "login"
    LOGOUT = "logout"
    AUTHENTICATE = "authenticate"  # a bearer token presented to the API

    @property
    def action(self) -> str:
        return {
            EventKind.CREATE: "C",
            EventKind.UPDATE: "U",
            EventKind.TRANSACTION: "E",
            EventKind.EXPORT: "R",
            EventKind.LOGIN: "E",
            EventKind.LOGOUT: "E",
            EventKind.AUTHENTICATE: "E",
        }.get(self, "R")


@dataclass(frozen=True)
class AuditRecord:
    kind: EventKind
    channel: str  # "web", "fhir" or "cli"
    actor: Actor | None
    outcome: Outcome = Outcome.SUCCESS
    entities: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    outcome_desc: str | None = None
    query: str | None = None
    source_address: str | None = None
    # For attempts without an account (failed logins): the name that was typed.
    attempted_username: str | None = None
    recorded_at: datetime = field(default_factory=utcnow)

    def failed(self, outcome: Outcome, description: str) -> AuditRecord:
        if self.outcome is not Outcome.SUCCESS:
            return self
        return replace(self, outcome=outcome, outcome_desc=description)


NOT_FOUND = N_("not found")
REFUSED = N_("refused")


def refused_or_missing(
    kind: EventKind,
    channel: str,
    actor: Actor | None,
    entity: str,
    reasons: tuple[str, ...] | None,
    *,
    source_address: str | None = None,
) -> AuditRecord:
    """A read (or change) of a record that does not exist (`reasons` None) or that
    the decision point refused (its reasons): one minor-failure record, so that
    probing ids never goes without a trace (promise 7)."""
    return AuditRecord(
        kind=kind,
        channel=channel,
        actor=actor,
        outcome=Outcome.MINOR_FAILURE,
        entities=(entity,),
        reasons=reasons or (),
        outcome_desc=NOT_FOUND if reasons is None else REFUSED,
        source_address=source_address,
    )


# Inline: no RETURNING of the new id, so nothing waits for the row's answer before
# the COMMIT that goes with it (clinic.core.db.one_round_trip).
_INSERT_ENTRY = sa.insert(cast(sa.Table, AuditEntry.__table__)).inline()


def append_records(session: Session, records: Sequence[AuditRecord]) -> None:
    """Write the records as rows in the session's transaction, each with its leaf
    hash and no log index (the integrator gives it one). Plain rows in one
    statement, no ORM objects: every request writes at least one."""
    rows: list[dict[str, Any]] = []
    for record in records:
        actor = record.actor
        row: dict[str, Any] = {
            "recorded_at": record.recorded_at,
            "event_type": _event_type(record.kind),
            "subtype": record.kind.value,
            "action": record.kind.action,
            "outcome": record.outcome.value,
            "outcome_desc": record.outcome_desc,
            "channel": record.channel,
            "user_id": actor.user_id if actor else None,
            "username": actor.username if actor else record.attempted_username,
            "role": actor.role.value if actor else None,
            "organization_id": actor.organization_id if actor else None,
            "purpose": actor.purpose_of_use.value if actor else None,
            "source_address": record.source_address,
            "entities": list(record.entities),
            "query": record.query,
            "reasons": list(record.reasons),
        }
        row["leaf_hash"] = leaf_hash(canonical_leaf(leaf_fields(**row))).hex()
        rows.append(row)
    session.flush()  # the ORM's pending writes first, in the order they were made
    if rows:
        session.execute(_INSERT_ENTRY, rows if len(rows) > 1 else rows[0])
        mark_pending(session, AUDIT_LOG)


def _event_type(kind: EventKind) -> str:
    if kind in (EventKind.LOGIN, EventKind.LOGOUT, EventKind.AUTHENTICATE):
        return "110114"  # DICOM: User Authentication
    if kind is EventKind.EXPORT:
        return "110106"  # DICOM: Export
    return "rest"


def canonical_leaf(fields: dict[str, Any]) -> bytes:
    """An audit leaf in RFC 8785 (JCS) form, the bytes `rfc8785.dumps` gives, at the
    speed of the json module: a leaf holds only strings, None and lists of strings
    under fixed ASCII keys, and for those the sorted, compact JSON of the json
    module with non-ASCII text kept as is is exactly JCS (tests/audit/test_leaf.py
    compares the two on any text). `audit_leaf`, which verification uses, stays
    rfc8785's own. Anything else (a number, a key beyond ASCII) is written by
    rfc8785 itself, so a leaf never differs from what verification recomputes."""
    if all(key.isascii() and _plain(value) for key, value in fields.items()):
        return json.dumps(
            fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode()
    return rfc8785.dumps(fields)


def _plain(value: Any) -> bool:
    """A value whose json text is its JCS text: a string, None, or a list of strings."""
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def audit_leaf(entry: AuditEntry) -> bytes:
    return rfc8785.dumps(entry.leaf_fields())


def iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    last = -1
    while True:
        rows = session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.log_index > last)
            .order_by(AuditEntry.log_index)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
            session.expunge(row)  # keep memory flat on long logs; only our own rows
        last = int(rows[-1].log_index or 0)


def verify_audit_trail(session: Session, origin: str | None = None) -> VerificationReport:
    """Recompute every entry's leaf from its stored fields, the log's root and
    every signed checkpoint."""
    leaves = (
        (entry.log_index, audit_leaf(entry), bytes.fromhex(entry.leaf_hash))
        for entry in iter_entries(session)
    )
    return verify_log(session, AUDIT_LOG, leaves, origin)


def check_audit_trail(
    uow: UnitOfWork, *, actor: Actor, channel: str, source_address: str | None
) -> VerificationReport:
    """Verify the trail for an auditor; the check itself is audited with its result."""
    from clinic.access import Action, require

    decision = require(actor, Action.READ, "AuditEvent")
    report = verify_audit_trail(uow.session)
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=("AuditEvent",),
            reasons=decision.reasons,
            outcome_desc=f"verification: {'intact' if report.is_valid else report.problem}",
            source_address=source_address,
        )
    )
    return report
