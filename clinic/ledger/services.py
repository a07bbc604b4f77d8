"""Integrating records into, proving from, checkpointing and verifying Merkle logs.

A record (an audit event, a custody event, a photograph's intake) is written in
its request's transaction with its leaf hash and no index: the request never
touches the tree, and holds no log-wide lock. `integrate` sequences the records
that have no index yet into the tree, in batches, in a transaction of its own:
one integrator at a time (a transaction-scoped advisory lock on PostgreSQL; SQLite
transactions hold the database write lock from BEGIN). It gives each record the
next index (once: the append-only triggers allow only that change), stores the
perfect subtrees the appends complete (so proofs read O(log n) stored hashes) and
moves the head. A crash before its commit leaves the records pending, and the
next integration takes them. `append_leaf` sequences one leaf at once (a log
without record rows).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import islice
from math import inf
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from clinic.core.clock import utcnow
from clinic.ledger.files import LogFiles, TrustFileError
from clinic.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeKey,
    NodeLoader,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    parent_level,
    perfect_nodes,
    subtree_hash,
)
from clinic.ledger.models import LogCheckpoint, LogHead, LogNode, SigningKey
from clinic.ledger.note import Signer, generate_signer, parse_signer, sign_note, write_private_key
from clinic.ledger.standalone import (
    Checkpoint,
    TlogProof,
    VerificationError,
    VerifierKey,
    open_note,
    parse_checkpoint,
)


class LedgerError(Exception):
    """A log operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class AppendedLeaf:
    index: int
    leaf_hash: bytes


def append_leaf(session: Session, log_name: str, leaf: bytes) -> AppendedLeaf:
    head = _locked_head(session, log_name)
    compact = CompactRange.from_json(head.compact_range)
    hashed = leaf_hash(leaf)
    index = compact.size
    for (level, node_index), digest in compact.append(hashed):
        session.add(LogNode(log_name=log_name, level=level, node_index=node_index, hash=digest))
    head.size = compact.size
    head.compact_range = compact.to_json()
    head.root_hash = compact.root().hex()
    head.updated_at = utcnow()
    session.flush()
    return AppendedLeaf(index=index, leaf_hash=hashed)


def _lock_integration(session: Session, log_name: str, *, wait: bool) -> bool:
    """Make this transaction the log's only integrator, until it ends."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already holds the database write lock
    key = sa.func.hashtext(f"clinic-log:{log_name}")
    if wait:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        return True
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(key))))


BATCH = 10_000  # records sequenced in one transaction, at most


def integrate(
    session: Session,
    log_name: str,
    sources: Sequence[Any],
    *,
    wait: bool = True,
    batch: int = BATCH,
) -> int:
    """Sequence up to `batch` pending records of `sources` into the log, in the
    current transaction (the caller commits). With `wait` False, another
    integrator at work means nothing is done here. Returns how many were added."""
    if not _lock_integration(session, log_name, wait=wait):
        return 0
    pending: list[tuple[Any, int, str]] = []
    for model in sources:
        rows = session.execute(
            sa.select(model.id, model.leaf_hash)
            .where(model.log_index.is_(None))
            .order_by(model.id)
            .limit(batch - len(pending))
        ).all()
        pending.extend((model, row_id, digest) for row_id, digest in rows)
        if len(pending) >= batch:
            break
    if not pending:
        return 0
    first = append_hashes(session, log_name, [bytes.fromhex(d) for _, _, d in pending])
    updates: dict[Any, list[dict[str, Any]]] = {}
    for index, (model, row_id, _) in enumerate(pending, start=first):
        updates.setdefault(model, []).append({"id": row_id, "log_index": index})
    for model, values in updates.items():
        table = model.__table__
        session.execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"), table.c.log_index.is_(None))
            .values(log_index=sa.bindparam("new_index")),
            [{"row_id": v["id"], "new_index": v["log_index"]} for v in values],
        )
        for value in values:  # objects this session holds learn their index too
            held = session.identity_map.get(identity_key(model, value["id"]))
            if held is not None:
                set_committed_value(held, "log_index", value["log_index"])
    return len(pending)


def append_hashes(session: Session, log_name: str, hashed_leaves: Sequence[bytes]) -> int:
    """Append leaf hashes to the tree in one go (the caller holds the integration
    lock): their nodes in one bulk insert, then the head. Returns the first index."""
    head = _locked_head(session, log_name)
    compact = CompactRange.from_json(head.compact_range)
    first = compact.size
    nodes: list[dict[str, Any]] = []
    for hashed in hashed_leaves:
        for (level, node_index), node in compact.append(hashed):
            nodes.append(
                {"log_name": log_name, "level": level, "node_index": node_index, "hash": node}
            )
    if nodes:
        session.execute(sa.insert(LogNode), nodes)
    head.size = compact.size
    head.compact_range = compact.to_json()
    head.root_hash = compact.root().hex()
    head.updated_at = utcnow()
    session.flush()
    return first


def log_sources() -> dict[str, tuple[Any, ...]]:
    """Each log and the tables whose rows are its leaves: an integer `id`, a
    nullable `log_index` (set once, by integration), `leaf_hash` (hex, at insert)."""
    from clinic.models import LOG_SOURCES

    return LOG_SOURCES


def integrate_all(
    session: Session,
    *,
    wait: bool = True,
    batch: int = BATCH,
    logs: Collection[str] | None = None,
) -> int:
    """Integrate every log's pending records (or only those of `logs`), committing
    each batch. With `wait` False, a log another integrator is at is left to it."""
    total = 0
    for log_name, sources in log_sources().items():
        if logs is not None and log_name not in logs:
            continue
        while True:
            try:
                added = integrate(session, log_name, sources, wait=wait, batch=batch)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            total += added
            if added < batch:
                break
    return total


PENDING_FLAG = "clinic.log_pending"

# When this process last integrated each log after a commit, by database: the
# audit log is integrated in batches, at most once per LOG_AUDIT_BATCH_SECONDS.
_last_integrated: dict[tuple[str, str], float] = {}


def mark_pending(session: Session, log_name: str | None = None) -> None:
    """Note that this transaction wrote records that `log_name` (None: every log)
    has yet to integrate."""
    marked: set[str] = session.info.setdefault(PENDING_FLAG, set())
    marked.update(log_sources() if log_name is None else (log_name,))


def integrate_after_commit(session: Session) -> None:
    """Integrate what the transaction just committed wrote, on the logs it wrote
    to, unless another integrator is at it (it will take these records too) or
    the deployment runs `clinic log integrate` on its own. The records are safe
    already: a failure here is logged and left to the next integration, which
    takes every record pending on its log.

    The custody log is integrated after every commit that wrote to it: its proofs
    are shown as soon as an item moves. The audit log, written by every request,
    is integrated in batches, as transparency logs sequence: a commit integrates
    it only when this process has not done so for LOG_AUDIT_BATCH_SECONDS, and
    that integration takes every record pending by then, of every worker."""
    pending: set[str] = session.info.pop(PENDING_FLAG, set())
    if not pending:
        return
    from flask import current_app, has_app_context

    config = current_app.config if has_app_context() else {}
    if not config.get("LOG_INTEGRATE_ON_COMMIT", True):
        return
    batch_seconds = float(config.get("LOG_AUDIT_BATCH_SECONDS", 0.0))
    sources = log_sources()
    database = str(session.get_bind().engine.url)
    now = time.monotonic()
    for log_name in sorted(pending):
        key = (database, log_name)
        if log_name == "audit" and now - _last_integrated.get(key, -inf) < batch_seconds:
            continue
        _last_integrated[key] = now
        try:
            while integrate(session, log_name, sources[log_name], wait=False) == BATCH:
                session.commit()
            session.commit()
        except Exception:
            session.rollback()
            logging.getLogger(__name__).exception("log integration after commit failed")


def pending_count(session: Session, sources: Sequence[Any]) -> int:
    return sum(
        int(
            session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.log_index.is_(None))
            )
            or 0
        )
        for model in sources
    )


def _locked_head(session: Session, log_name: str) -> LogHead:
    """The log's head row, locked for this transaction; created on first use. Two
    first appends at once: one creates it, the other waits and then locks it."""
    query = sa.select(LogHead).where(LogHead.name == log_name).with_for_update()
    head = session.scalar(query)
    if head is not None:
        return head
    try:
        with session.begin_nested():
            session.add(
                LogHead(name=log_name, size=0, compact_range=[], root_hash="", updated_at=utcnow())
            )
    except IntegrityError:
        pass  # created meanwhile by a concurrent transaction, which has committed
    head = session.scalar(query.execution_options(populate_existing=True))
    if head is None:
        raise LedgerError(f"log {log_name} has no head")
    return head


# The nodes a proof needs, one primary-key lookup each. On PostgreSQL one join
# with the keys passed as two arrays: the statement's text is always the same, so
# psycopg prepares it once (a UNION ALL of lookups is planned anew for each
# number of nodes, which cost half of a proof).
_PG_NODES = (
    "SELECT n.level, n.node_index, n.hash FROM unnest(?::smallint[], ?::bigint[]) "
    "AS k(level, node_index) JOIN log_nodes n ON n.log_name = ? "
    "AND n.level = k.level AND n.node_index = k.node_index"
)
# SQLite does not push an OR (or a row-value IN) of pairs into the index: one
# lookup per node, joined with UNION ALL in one statement.
_SQLITE_NODE = (
    "SELECT level, node_index, hash FROM log_nodes WHERE log_name = ? AND level = ? "
    "AND node_index = ?"
)


def node_loader(session: Session, log_name: str) -> NodeLoader:
    def load(keys: set[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        ordered = sorted(keys)
        if session.get_bind().dialect.name == "postgresql":
            levels = [level for level, _ in ordered]
            indexes = [index for _, index in ordered]
            rows = _raw(session, _PG_NODES, (levels, indexes, log_name))
        else:
            sql = " UNION ALL ".join([_SQLITE_NODE] * len(ordered))
            params = tuple(value for level, index in ordered for value in (log_name, level, index))
            rows = _raw(session, sql, params)
        found = {(level, index): bytes(digest) for level, index, digest in rows}
        missing = keys - set(found)
        if missing:
            raise LedgerError(f"log {log_name} is missing stored nodes {sorted(missing)[:3]}")
        return found

    return load


def log_size(session: Session, log_name: str) -> int:
    rows = _raw(session, "SELECT size FROM log_heads WHERE name = ?", (log_name,))
    return int(rows[0][0]) if rows else 0


def root_at(session: Session, log_name: str, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    if size > log_size(session, log_name):
        raise LedgerError(f"log {log_name} has fewer than {size} entries")
    nodes = node_loader(session, log_name)(set(perfect_nodes(0, size)))
    return subtree_hash(0, size, nodes)


def prove_inclusion(session: Session, log_name: str, index: int, size: int) -> list[bytes]:
    if size > log_size(session, log_name):
        raise LedgerError(f"log {log_name} has fewer than {size} entries")
    return inclusion_proof(index, size, node_loader(session, log_name))


def prove_consistency(session: Session, log_name: str, old_size: int, new_size: int) -> list[bytes]:
    if new_size > log_size(session, log_name):
        raise LedgerError(f"log {log_name} has fewer than {new_size} entries")
    return consistency_proof(old_size, new_size, node_loader(session, log_name))


def log_origin(config: Mapping[str, object], log_name: str) -> str:
    """The public name of a log (its checkpoints' origin line and key name)."""
    return f"{config['LOG_ORIGIN_PREFIX']}/{log_name}"


# -- keys -----------------------------------------------------------------------


def key_path(instance_path: Path, key_name: str) -> Path:
    return instance_path / "keys" / (re.sub(r"[^A-Za-z0-9._-]", "_", key_name) + ".key")


def app_log_files(files: LogFiles | None = None) -> LogFiles:
    """`files`, or the running app's (LOG_VERIFIER_KEYS, LOG_CHECKPOINT_EXPORT)."""
    if files is not None:
        return files
    from flask import current_app

    found: LogFiles = current_app.extensions["clinic.log_files"]
    return found


def generate_key(
    session: Session, instance_path: Path, key_name: str, *, files: LogFiles | None = None
) -> Signer:
    """Create a signing key for `key_name` (mode 0600 in the instance folder),
    add its verifier key to the trusted keys file and publish it. An existing key
    is retired: it signs no more, and stays trusted, so what it signed stays
    verifiable."""
    files = app_log_files(files)
    signer = generate_signer(key_name)
    path = key_path(instance_path, key_name)
    now = utcnow()
    for old in session.scalars(
        sa.select(SigningKey).where(
            SigningKey.key_name == key_name, SigningKey.retired_at.is_(None)
        )
    ):
        old.retired_at = now
    if path.exists():
        path.rename(
            path.with_name(
                f"{path.stem}.{parse_signer(path.read_text()).verifier.key_id.hex()}.retired"
            )
        )
    write_private_key(path, signer)
    files.trust(signer.verifier)
    session.add(
        SigningKey(
            key_name=key_name,
            key_id=signer.verifier.key_id.hex(),
            verifier_key=str(signer.verifier),
            created_at=now,
        )
    )
    session.flush()
    return signer


def instance_signers(instance_path: Path) -> list[Signer]:
    """The log signing keys in the instance folder, current and retired (the
    media key, also there, is not one)."""
    signers = []
    for path in sorted((instance_path / "keys").glob("*")):
        if path.suffix not in (".key", ".retired"):
            continue
        try:
            signers.append(parse_signer(path.read_text()))
        except (VerificationError, ValueError, UnicodeDecodeError):
            continue
    return signers


def active_signer(
    session: Session, instance_path: Path, key_name: str, *, files: LogFiles | None = None
) -> Signer:
    """The current signing key of `key_name`: its private half in the instance
    folder, listed in the trusted keys file and the current one in the database."""
    path = key_path(instance_path, key_name)
    if not path.exists():
        raise LedgerError(f"there is no signing key for {key_name}: run `clinic keys generate`")
    signer = parse_signer(path.read_text())
    files = app_log_files(files)
    try:
        trusted = files.is_trusted(signer.verifier)
    except TrustFileError as error:
        raise LedgerError(str(error)) from error
    if not trusted:
        raise LedgerError(
            f"the key in {path.name} is not in the trusted keys file "
            f"{files.verifier_keys_file}: add it with `clinic keys trust` if it is yours"
        )
    registered = session.get(SigningKey, (key_name, signer.verifier.key_id.hex()))
    if registered is None or registered.retired_at is not None:
        raise LedgerError(
            f"the key in {path.name} is not the published, current key for {key_name}"
        )
    return signer


def trusted_keys(files: LogFiles | None = None, key_name: str | None = None) -> list[VerifierKey]:
    """The verifier keys listed in the trusted keys file, never the database's:
    a key someone inserted into `signing_keys` is not among them."""
    keys = app_log_files(files).trusted_keys()
    return [key for key in keys if key_name is None or key.name == key_name]


def untrusted_database_keys(session: Session, files: LogFiles | None = None) -> list[str]:
    """Verifier keys in the `signing_keys` table that the trusted keys file does
    not list: keys nobody generated here."""
    trusted = {str(key) for key in trusted_keys(files)}
    return [
        text
        for text in session.scalars(
            sa.select(SigningKey.verifier_key).order_by(SigningKey.created_at)
        )
        if text not in trusted
    ]


# -- checkpoints and exported proofs ------------------------------------------------


def create_checkpoint(
    session: Session,
    log_name: str,
    origin: str,
    signer: Signer,
    *,
    files: LogFiles | None = None,
) -> LogCheckpoint:
    """Sign the log's current tree head with a trusted key, and append the signed
    checkpoint to the log's export file (synced before the caller commits, so no
    checkpoint is stored that was not exported). Idempotent for an unchanged log."""
    files = app_log_files(files)
    if not files.is_trusted(signer.verifier):
        raise LedgerError(f"the key {signer.verifier} is not in the trusted keys file")
    head = session.scalar(sa.select(LogHead).where(LogHead.name == log_name).with_for_update())
    size = head.size if head else 0
    root = bytes.fromhex(head.root_hash) if head and head.size else EMPTY_ROOT
    key_hex = signer.verifier.key_id.hex()
    existing = session.scalar(
        sa.select(LogCheckpoint).where(
            LogCheckpoint.log_name == log_name,
            LogCheckpoint.tree_size == size,
            LogCheckpoint.key_id == key_hex,
        )
    )
    if existing is not None:
        return existing
    note = sign_note(Checkpoint(origin, size, root).text(), [signer])
    checkpoint = LogCheckpoint(
        log_name=log_name,
        tree_size=size,
        root_hash=root.hex(),
        note=note,
        key_id=key_hex,
        created_at=utcnow(),
    )
    session.add(checkpoint)
    session.flush()
    files.export_checkpoint(log_name, note)
    return checkpoint


def latest_checkpoint(
    session: Session, log_name: str, covering: int = 0, *, files: LogFiles | None = None
) -> LogCheckpoint | None:
    """The newest stored checkpoint covering entry `covering` that a trusted key
    signed: a row signed by any other key (someone with database access) is
    never handed out."""
    return _trusted_checkpoint(
        session,
        sa.select(LogCheckpoint)
        .where(LogCheckpoint.log_name == log_name, LogCheckpoint.tree_size > covering)
        .order_by(LogCheckpoint.tree_size.desc(), LogCheckpoint.id.desc()),
        files,
    )


def _trusted_checkpoint(
    session: Session, query: sa.Select[LogCheckpoint], files: LogFiles | None
) -> LogCheckpoint | None:
    keys = trusted_keys(files)
    for checkpoint in session.scalars(query.limit(100)):
        try:
            body = parse_checkpoint(open_note(checkpoint.note, keys))
        except VerificationError:
            continue
        if body.size == checkpoint.tree_size and body.root.hex() == checkpoint.root_hash:
            return checkpoint
    return None


class NotYetIntegrated(LedgerError):
    """The record is safely stored but not in the Merkle tree yet: no proof for now."""


def export_proof(session: Session, log_name: str, index: int | None) -> TlogProof:
    """A c2sp.org/tlog-proof for entry `index` against the newest checkpoint that
    covers it. A record without an index (None) is not yet integrated."""
    if index is None:
        raise NotYetIntegrated(
            f"this record is not yet integrated into the {log_name} log: "
            "run `clinic log integrate`, then ask again"
        )
    checkpoint = latest_checkpoint(session, log_name, covering=index)
    if checkpoint is None:
        raise LedgerError(
            f"no checkpoint of {log_name} covers entry {index} yet: run `clinic log checkpoint`"
        )
    hashes = prove_inclusion(session, log_name, index, checkpoint.tree_size)
    return TlogProof(index, tuple(hashes), checkpoint.note)


class BadProofRequest(LedgerError):
    """The sizes or log asked for cannot be proven; the message says why."""


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 consistency proof that the tree of `old_size` is a prefix of the
    tree of `new_size`, with the signed checkpoints stored at those sizes."""

    log_name: str
    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]
    old_checkpoint: str | None
    new_checkpoint: str | None

    def text(self) -> str:
        """c2sp.org/tlog style: one base64 hash a line (what clinic-verify reads)."""
        return "".join(base64.b64encode(digest).decode() + "\n" for digest in self.hashes)


MAX_SIZE_DIGITS = 19  # beyond any tree this database can hold (BigInteger)


def parse_tree_size(name: str, text: str | None) -> int:
    """A tree size given by a caller: a positive decimal integer, or BadProofRequest."""
    if text is None or not text.strip():
        raise BadProofRequest(f"{name} is required: a tree size (a whole number from 1)")
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise BadProofRequest(f"{name} must be a whole number from 1, not {text[:20]!r}")
    if len(text) > MAX_SIZE_DIGITS:
        raise BadProofRequest(f"{name} is larger than any log")
    return int(text)


def prove_log_consistency(
    session: Session, log_name: str, old_size: int, new_size: int | None = None
) -> ConsistencyProof:
    """The consistency proof between two sizes of a log (`new_size` None: the
    newest signed checkpoint's). Sizes must satisfy 1 <= old <= new <= the log's
    size; anything else is a BadProofRequest saying which."""
    if log_name not in log_sources():
        raise BadProofRequest(
            f"there is no log {log_name!r}: the logs are {', '.join(sorted(log_sources()))}"
        )
    if new_size is None:
        latest = latest_checkpoint(session, log_name)
        if latest is None:
            raise BadProofRequest(f"the {log_name} log has no signed checkpoint yet")
        new_size = latest.tree_size
    size = log_size(session, log_name)
    if old_size < 1:
        raise BadProofRequest("the older size must be at least 1 (the empty tree needs no proof)")
    if old_size > new_size:
        raise BadProofRequest(
            f"the older size ({old_size}) is larger than the newer size ({new_size})"
        )
    if new_size > size:
        raise BadProofRequest(f"the {log_name} log has {size} entries, fewer than {new_size}")
    hashes = prove_consistency(session, log_name, old_size, new_size)
    return ConsistencyProof(
        log_name,
        old_size,
        new_size,
        tuple(hashes),
        _stored_note(session, log_name, old_size),
        _stored_note(session, log_name, new_size),
    )


def read_consistency(
    uow: Any,
    *,
    actor: Any,
    log_name: str | None,
    old_size: str | None,
    new_size: str | None,
    channel: str,
    source_address: str | None = None,
) -> ConsistencyProof:
    """A consistency proof for a caller: the log must exist, the decision point
    must let the caller's role read that log's proofs (LOG_READERS), and the sizes
    must be 1 <= old <= new <= the log's size. The read is audited."""
    from clinic.access import Action, require
    from clinic.audit.services import AuditRecord, EventKind

    if not log_name:
        raise BadProofRequest(f"log is required: one of {', '.join(sorted(log_sources()))}")
    if log_name not in log_sources():
        raise BadProofRequest(
            f"there is no log {log_name[:40]!r}: the logs are {', '.join(sorted(log_sources()))}"
        )
    require(actor, Action.READ, "LogCheckpoint", operation=log_name)
    proof = prove_log_consistency(
        uow.session,
        log_name,
        parse_tree_size("old", old_size),
        None if new_size is None else parse_tree_size("new", new_size),
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(f"LogConsistency/{log_name}/{proof.old_size}/{proof.new_size}",),
            source_address=source_address,
        )
    )
    return proof


def _stored_note(session: Session, log_name: str, size: int) -> str | None:
    checkpoint = _trusted_checkpoint(
        session,
        sa.select(LogCheckpoint)
        .where(LogCheckpoint.log_name == log_name, LogCheckpoint.tree_size == size)
        .order_by(LogCheckpoint.id.desc()),
        None,
    )
    return checkpoint.note if checkpoint is not None else None


# -- verification ----------------------------------------------------------------


@dataclass(frozen=True)
class VerificationReport:
    log_name: str
    size: int
    is_valid: bool
    problem: str | None = None
    first_bad_index: int | None = None
    checkpoints: int = 0
    exported: int = 0  # checkpoints read back from the export file
    pending: int = 0  # records stored but not yet integrated (not in the tree)


@dataclass(frozen=True)
class SignedHead:
    """A tree head some signed checkpoint vouches for, and where that checkpoint is."""

    size: int
    root_hex: str
    source: str  # "the signed checkpoint at size N" or "exported checkpoint 3 (file)"


def verify_log(
    session: Session,
    log_name: str,
    leaves: Iterable[tuple[int | None, bytes, bytes]],
    origin: str | None = None,
    *,
    files: LogFiles | None = None,
) -> VerificationReport:
    """Recompute the log from `(index, leaf bytes, stored leaf hash)` in index
    order; compare every leaf, every stored checkpoint (signature and root), every
    checkpoint exported outside the database, and the head. Only the trusted keys
    file says which keys are believed: a key in `signing_keys` that it does not
    list is itself a failure. The first thing that does not match is reported."""
    files = app_log_files(files)
    try:
        keys = trusted_keys(files)
        exported = files.exported_checkpoints(log_name)
    except TrustFileError as error:
        return VerificationReport(log_name, 0, False, str(error))
    untrusted = untrusted_database_keys(session, files)
    if untrusted:
        return VerificationReport(
            log_name,
            0,
            False,
            f"the database lists signing key {untrusted[0]}, which the trusted keys file "
            f"{files.verifier_keys_file} does not: nothing it signed is believed",
        )
    heads: list[SignedHead] = []
    for checkpoint in session.scalars(
        sa.select(LogCheckpoint)
        .where(LogCheckpoint.log_name == log_name)
        .order_by(LogCheckpoint.tree_size)
    ):
        problem = _checkpoint_problem(checkpoint, keys, origin)
        if problem:
            return VerificationReport(log_name, 0, False, problem)
        heads.append(
            SignedHead(
                checkpoint.tree_size,
                checkpoint.root_hash,
                f"the signed checkpoint at size {checkpoint.tree_size}",
            )
        )
    stored = len(heads)
    export_path = files.export_path(log_name)
    for item in exported:
        where = f"exported checkpoint {item.number} in {export_path}"
        try:
            body = parse_checkpoint(open_note(item.note, keys))
        except VerificationError as error:
            return VerificationReport(log_name, 0, False, f"{where} does not verify: {error}")
        if origin is not None and body.origin != origin:
            return VerificationReport(
                log_name, 0, False, f"{where} names log {body.origin!r}, not {origin!r}"
            )
        heads.append(SignedHead(body.size, body.root.hex(), f"{where} (size {body.size})"))
    report = _recompute(session, log_name, leaves, heads)
    waiting = pending_count(session, log_sources().get(log_name, ()))
    return replace(report, pending=waiting, checkpoints=stored, exported=len(exported))


CHUNK_LEVEL = 14  # leaves are checked 2**14 at a time, with their subtrees


def _raw(session: Session, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Run `sql` (with `?` placeholders) on the driver directly: the verification
    and proof paths read many small rows, and the ORM's per-row cost would be most
    of their time."""
    connection = session.connection()
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _stored_level(session: Session, log_name: str, level: int, first: int, end: int) -> list[bytes]:
    """Stored hashes of one level, node indexes first..end-1 in order (a primary-key
    range scan); a gap shows as a shorter or shifted list."""
    rows = _raw(
        session,
        "SELECT node_index, hash FROM log_nodes WHERE log_name = ? AND level = ? "
        "AND node_index >= ? AND node_index < ? ORDER BY node_index",
        (log_name, level, first, end),
    )
    if rows and rows[0][0] == first and rows[-1][0] == first + len(rows) - 1:
        return [bytes(digest) for _, digest in rows]  # no gap
    hashes = []
    for expected, (index, digest) in enumerate(rows, start=first):
        if index != expected:
            break
        hashes.append(bytes(digest))
    return hashes


def _first_difference(computed: list[bytes], stored: list[bytes]) -> int | None:
    if computed == stored:
        return None
    for offset, digest in enumerate(computed):
        if offset >= len(stored) or stored[offset] != digest:
            return offset
    return len(computed)


# The stored nodes of one level range against the computed ones, passed as one
# blob: only the stored nodes equal to the 32 bytes at their own node's offset
# are counted (so no row order is assumed). The primary key makes each node
# unique, so the count is the number of computed hashes exactly when every one
# is stored and equal. The primary key also holds the hash (a WITHOUT ROWID
# table on SQLite, an INCLUDE column on PostgreSQL: migration 0026), so the
# range is read from the index alone. One statement a level: PostgreSQL plans a
# UNION ALL of them as a parallel append, whose workers cost more to start than
# the scans.
_RANGE_MATCHES = (
    "SELECT count(*) FROM log_nodes WHERE log_name = ? AND level = ? "
    "AND node_index >= ? AND node_index < ? "
    "AND hash = substr(?, CAST((node_index - ?) * 32 + 1 AS INTEGER), 32)"
)


Levels = list[tuple[int, int, list[bytes]]]  # (level, first node, computed hashes)


def _computed_levels(level: int, first: int, hashes: list[bytes], top: int | None) -> Levels:
    """`hashes` (level `level`, from node `first`) and every complete level above
    them, up to `top` (None: as high as they go)."""
    levels = [(level, first, hashes)]
    while level != top and len(hashes) >= 2:
        hashes = parent_level(hashes)
        level, first = level + 1, first >> 1
        levels.append((level, first, hashes))
    return levels


def _send_range_checks(session: Session, log_name: str, levels: Levels) -> Callable[[], Any]:
    """Send the comparison of each computed level with the stored one; the
    returned function reads the results and returns the lowest stored node that
    differs with the first leaf under it, or None. In a PostgreSQL pipeline
    (`_pipeline`) the statements run on the server while the caller hashes on."""
    connection = session.connection()
    sql = _RANGE_MATCHES
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursors = []
    for level, first, hashes in levels:
        cursor = dbapi.cursor()
        cursor.execute(sql, (log_name, level, first, first + len(hashes), b"".join(hashes), first))
        cursors.append(cursor)

    def first_bad_node() -> tuple[NodeKey, int] | None:
        try:
            counts = [(cursor.fetchone() or (None,))[0] for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
        for (level, first, hashes), count in zip(levels, counts, strict=True):
            if count != len(hashes):
                stored = _stored_level(session, log_name, level, first, first + len(hashes))
                offset = _first_difference(hashes, stored)
                if offset is not None:
                    index = first + offset
                    return (level, index), index << level
        return None

    return first_bad_node


@contextmanager
def _pipeline(session: Session) -> Iterator[None]:
    """On PostgreSQL, psycopg's pipeline mode: statements are sent without
    waiting for their results, which are read when asked for."""
    dbapi = session.connection().connection.dbapi_connection
    pipeline = getattr(dbapi, "pipeline", None)
    if pipeline is None:
        yield
        return
    with pipeline():
        yield


def _recompute(
    session: Session,
    log_name: str,
    leaves: Iterable[tuple[int | None, bytes, bytes]],
    heads: list[SignedHead],
) -> VerificationReport:
    """Recompute every leaf hash and every stored subtree hash, 2**CHUNK_LEVEL
    leaves at a time (memory stays flat), level by level with plain hashlib; then
    the tree heads (checkpoints, log head) from the checked stored hashes."""
    chunk_size = 1 << CHUNK_LEVEL
    size = 0
    tops: list[bytes] = []  # each full chunk's root, in order
    # A chunk's stored nodes are compared while the next chunk is hashed: on
    # PostgreSQL the statements are sent in a pipeline and the server compares
    # while this process hashes. Only our own statements run in the pipeline;
    # the leaves (which may come from an ORM query) are read outside it.
    sent: tuple[Levels, int] | None = None  # levels computed, not yet compared

    def compare(check: Callable[[], Any], checked: int) -> VerificationReport | None:
        bad = check()
        return None if bad is None else _bad_node(log_name, checked, *bad)

    rows = iter(leaves)
    while True:
        # Unpacked one by one, not kept as tuples: a chunk of 2**14 live tuples
        # makes Python's garbage collector walk the heap, which cost more than
        # all the hashing.
        indexes: list[int | None] = []
        data: list[bytes] = []
        stored_hashes: list[bytes] = []
        add_index, add_leaf, add_hash = indexes.append, data.append, stored_hashes.append
        for index, leaf, stored_hash in islice(rows, chunk_size):
            add_index(index)
            add_leaf(leaf)
            add_hash(stored_hash)
        if not indexes:
            break
        with _pipeline(session):
            check = None
            if sent is not None:
                check = _send_range_checks(session, log_name, sent[0])
            hashed = leaf_hashes(data)
            levels = _computed_levels(0, size, hashed, CHUNK_LEVEL)
            problem = compare(check, sent[1]) if check and sent else None
        if problem:
            return problem
        if indexes != list(range(size, size + len(indexes))) or hashed != stored_hashes:
            return _first_bad_entry(
                log_name, size, list(zip(indexes, data, stored_hashes, strict=True))
            )
        size += len(indexes)
        if len(hashed) == chunk_size:
            tops.append(levels[-1][2][0])
        sent = (levels, size)
    if sent is not None:
        problem = compare(_send_range_checks(session, log_name, sent[0]), sent[1])
        if problem:
            return problem
    if len(tops) > 1:
        levels = _computed_levels(CHUNK_LEVEL, 0, tops, None)
        bad = _send_range_checks(session, log_name, levels)()
        if bad is not None:
            return _bad_node(log_name, size, *bad)
    if _nodes_beyond(session, log_name, size):
        return VerificationReport(
            log_name, size, False, "there are stored subtree hashes beyond the last entry"
        )
    load = node_loader(session, log_name)
    for signed in heads:
        if signed.size == 0:
            continue
        if signed.size > size:
            return VerificationReport(
                log_name,
                size,
                False,
                f"{signed.source} covers {signed.size} entries but only {size} are stored",
                size,
            )
        if (
            signed.root_hex
            != subtree_hash(0, signed.size, load(set(perfect_nodes(0, signed.size)))).hex()
        ):
            return VerificationReport(
                log_name,
                size,
                False,
                f"{signed.source} does not match the entries before it: an entry up to "
                f"index {signed.size - 1} was changed, or the log was rewritten",
                None,
            )
    head = session.get(LogHead, log_name)
    head_size, root = (head.size, head.root_hash) if head else (0, "")
    if head_size != size:
        return VerificationReport(
            log_name,
            size,
            False,
            f"the log head records {head_size} entries but {size} are stored",
            min(head_size, size),
        )
    if size and root != subtree_hash(0, size, load(set(perfect_nodes(0, size)))).hex():
        return VerificationReport(log_name, size, False, "the log head's root hash does not match")
    return VerificationReport(log_name, size, True)


_LEVEL_ENDS = (
    "(SELECT min(level) FROM log_nodes WHERE log_name = ?), "
    "(SELECT max(level) FROM log_nodes WHERE log_name = ?)"
)
_INDEX_ENDS = (
    "(SELECT min(node_index) FROM log_nodes WHERE log_name = ? AND level = ?), "
    "(SELECT max(node_index) FROM log_nodes WHERE log_name = ? AND level = ?)"
)


def _nodes_beyond(session: Session, log_name: str, size: int) -> bool:
    """Whether any node is stored outside the tree of `size` leaves, whose every
    node has been compared: the lowest and highest level and, on each level, the
    lowest and highest node index, each a seek at one end of the primary key (not
    a count of all the log's nodes)."""
    height = size.bit_length()
    sql = "SELECT " + ", ".join([_LEVEL_ENDS, *[_INDEX_ENDS] * height])
    params: list[Any] = [log_name, log_name]
    for level in range(height):
        params += [log_name, level, log_name, level]
    ((low_level, high_level, *indexes),) = _raw(session, sql, tuple(params))
    if low_level is None:
        return False
    if low_level < 0 or high_level >= height:
        return True
    return any(
        low is None or low < 0 or high >= size >> level
        for level, (low, high) in enumerate(zip(indexes[::2], indexes[1::2], strict=True))
    )


def _first_bad_entry(
    log_name: str, size: int, chunk: list[tuple[int | None, bytes, bytes]]
) -> VerificationReport:
    """The first entry of a chunk that is out of order or does not hash to its
    recorded leaf hash (`size` entries before the chunk were good)."""
    for expected_index, (index, leaf, stored_hash) in enumerate(chunk, start=size):
        if index != expected_index:
            return VerificationReport(
                log_name,
                expected_index,
                False,
                f"entry {expected_index} is missing or out of order (found index {index})",
                expected_index,
            )
        if leaf_hash(leaf) != stored_hash:
            return VerificationReport(
                log_name,
                expected_index,
                False,
                f"entry {index} does not match its recorded leaf hash",
                index,
            )
    raise AssertionError("the chunk has no bad entry")


def _bad_node(log_name: str, size: int, key: NodeKey, index: int) -> VerificationReport:
    return VerificationReport(
        log_name,
        size,
        False,
        f"the stored subtree hash {key} that proofs are built from does not match "
        f"the entries (entry {index})",
        index,
    )


def _checkpoint_problem(
    checkpoint: LogCheckpoint, keys: list[VerifierKey], origin: str | None
) -> str | None:
    try:
        body = parse_checkpoint(open_note(checkpoint.note, keys))
    except VerificationError as error:
        return f"the checkpoint at size {checkpoint.tree_size} does not verify: {error}"
    if origin is not None and body.origin != origin:
        return f"the checkpoint at size {checkpoint.tree_size} names log {body.origin!r}, not {origin!r}"
    if body.size != checkpoint.tree_size or body.root.hex() != checkpoint.root_hash:
        return f"the checkpoint at size {checkpoint.tree_size} was altered: its signed body says otherwise"
    return None
