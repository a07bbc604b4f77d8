"""Cases in bulk: one case written through the real services, replayed for many.

`record_case` writes a case through the services exactly as `write_case` does
(every resource validated against the profiles, every write audited) and keeps
the SQL writes it sent (INSERT, UPDATE, DELETE with their parameters, in order),
the ids it generated (`uuid.uuid4`) and its random case reference. `replay` sends
those writes again with a fresh id for each generated one and a fresh case
reference: the rows are those the services write for the same input, but for
ids and times (the replayed case keeps the recorded times). The audit records
are rebuilt from their replayed fields and get their leaf hash from the log's own
leaf function, so the audit trail verifies; like every record, they are pending
until `integrate_all` sequences them into the log.

What a replay skips is the work that does not change the rows: validating,
deciding and rendering content that the services have just validated, decided
and rendered for the recorded case, with only ids differing. tests/bench proves
the rows equal those of a case written through the services.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from clinic.audit.models import AuditEntry
from clinic.audit.services import audit_leaf
from clinic.cases.models import Case
from clinic.cases.services import new_case_reference
from clinic.core.db import db
from clinic.ledger.merkle import leaf_hash
from clinic.models import LOG_SOURCES

WRITES = ("INSERT", "UPDATE", "DELETE")
AUDIT_INSERT = f"INSERT INTO {AuditEntry.__tablename__} "
# Leaves of the other logs (custody events, photographs) would need their own
# leaf functions; a case that writes them cannot be replayed (yet).
OTHER_LEAVES = tuple(
    f"INSERT INTO {model.__tablename__} "
    for sources in LOG_SOURCES.values()
    for model in sources
    if model is not AuditEntry
)
# Any id or case reference; those of the recorded case are renamed, others kept.
_ID_OR_REFERENCE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|SA-[0-9A-Z]{4}-[0-9A-Z]{4}"
)
AUDIT_COLUMNS = frozenset(AuditEntry.__table__.c.keys()) - {"id", "log_index", "leaf_hash"}


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any
    many: bool


@dataclass(frozen=True)
class AuditRows:
    rows: tuple[dict[str, Any], ...]  # column -> value, as the ORM bound them


@dataclass(frozen=True)
class Recording:
    writes: tuple[Statement | AuditRows, ...]
    generated_ids: frozenset[str]
    case_reference: str
    patient_id: str


@contextmanager
def _generated_ids() -> Iterator[set[str]]:
    """Every id `uuid.uuid4` makes meanwhile (the services' ids all come from it)."""
    made: set[str] = set()
    original = uuid.uuid4

    def recorded() -> uuid.UUID:
        value = original()
        made.add(str(value))
        return value

    uuid.uuid4 = recorded  # type: ignore[assignment]
    try:
        yield made
    finally:
        uuid.uuid4 = original  # type: ignore[assignment]


def record_case(app: Flask, bench: Any, index: int) -> Recording:
    """Write case `index` through the services and keep its writes. Its records
    stay pending (no integration after its commits): integrate them with the rest."""
    from bench.generate import write_case

    writes: list[Statement | AuditRows] = []
    audit_flushes: list[Any] = []  # their execution contexts, held (ids stay unique)

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(WRITES):
            return
        if statement.startswith(OTHER_LEAVES):
            raise NotImplementedError(f"a replay cannot write these leaves: {statement[:60]}")
        if statement.startswith(AUDIT_INSERT):
            if context not in audit_flushes:  # each flush once, however it is batched
                audit_flushes.append(context)
                writes.append(
                    AuditRows(
                        tuple(
                            {k: v for k, v in row.items() if k in AUDIT_COLUMNS}
                            for row in context.compiled_parameters
                        )
                    )
                )
            return
        # insertmanyvalues reports `executemany` for the rows it sends one by one
        many = executemany and isinstance(parameters, list)
        writes.append(Statement(statement, parameters, many))

    engine = db.engine(app)
    integrating = app.config.get("LOG_INTEGRATE_ON_COMMIT", True)
    app.config["LOG_INTEGRATE_ON_COMMIT"] = False
    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with _generated_ids() as made:
            patient_id = write_case(app, bench, index)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
        app.config["LOG_INTEGRATE_ON_COMMIT"] = integrating
    with app.app_context():
        reference = db.session.scalar(
            sa.select(Case.reference).where(Case.patient_id == patient_id)
        )
    assert reference is not None
    return Recording(tuple(writes), frozenset(made), reference, patient_id)


class _Renamer:
    """Replaces the recorded case's ids and reference in any bound value."""

    def __init__(self, recording: Recording) -> None:
        self.mapping = {old: str(uuid.uuid4()) for old in recording.generated_ids}
        self.mapping[recording.case_reference] = new_case_reference()

    def _rename(self, found: re.Match[str]) -> str:
        return self.mapping.get(found.group(), found.group())

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if len(value) < 12 or "-" not in value:
                return value  # too short, or no dash: neither an id nor a reference
            return _ID_OR_REFERENCE.sub(self._rename, value)
        if isinstance(value, tuple):
            return tuple(map(self, value))
        if isinstance(value, list):
            return list(map(self, value))
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        return value  # numbers, times, bytes, None: no id in them


def replay(session: Session, recording: Recording) -> str:
    """Write the recorded case again with fresh ids, in the session's transaction
    (the caller commits and integrates). Returns the new Patient's id."""
    return replay_many(session, recording, 1)[0]


def replay_many(session: Session, recording: Recording, copies: int) -> list[str]:
    """Write the recorded case `copies` times, each with fresh ids, in the
    session's transaction (the caller commits and integrates). Each recorded write
    is sent once for all the copies (`executemany`: one pipeline on PostgreSQL),
    in the recorded order: every copy's writes still come in its own order, and
    no copy touches another's rows. Returns the new Patients' ids."""
    renames = [_Renamer(recording) for _ in range(copies)]
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for write in recording.writes:
            if isinstance(write, AuditRows):
                rows = []
                for rename in renames:
                    for recorded in write.rows:
                        row = rename(recorded)
                        row["leaf_hash"] = leaf_hash(audit_leaf(AuditEntry(**row))).hex()
                        rows.append(row)
                session.execute(sa.insert(AuditEntry), rows)
            elif write.many:
                cursor.executemany(
                    write.sql, [row for rename in renames for row in rename(write.parameters)]
                )
            elif "RETURNING" in write.sql.upper():  # rows to read back: one at a time
                for rename in renames:
                    cursor.execute(write.sql, rename(write.parameters))
            else:
                cursor.executemany(write.sql, [rename(write.parameters) for rename in renames])
    finally:
        cursor.close()
    return [str(rename.mapping[recording.patient_id]) for rename in renames]
