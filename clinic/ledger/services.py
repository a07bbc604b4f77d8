"""Appending to and verifying a Merkle log.

`append_leaf` serialises writers on the log's head row (a row lock on PostgreSQL;
SQLite transactions already hold the database write lock), so leaf indexes are
contiguous and every index is used exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.core.clock import utcnow
from clinic.ledger.merkle import CompactRange, leaf_hash
from clinic.ledger.models import LogHead


@dataclass(frozen=True)
class AppendedLeaf:
    index: int
    leaf_hash: bytes


def append_leaf(session: Session, log_name: str, leaf: bytes) -> AppendedLeaf:
    head = session.scalar(sa.select(LogHead).where(LogHead.name == log_name).with_for_update())
    if head is None:
        head = LogHead(name=log_name, size=0, compact_range=[], root_hash="", updated_at=utcnow())
        session.add(head)
    compact = CompactRange.from_json(head.compact_range)
    hashed = leaf_hash(leaf)
    index = compact.size
    compact.append(hashed)
    head.size = compact.size
    head.compact_range = compact.to_json()
    head.root_hash = compact.root().hex()
    head.updated_at = utcnow()
    session.flush()
    return AppendedLeaf(index=index, leaf_hash=hashed)


@dataclass(frozen=True)
class VerificationReport:
    log_name: str
    size: int
    is_valid: bool
    problem: str | None = None
    first_bad_index: int | None = None


def verify_log(
    session: Session, log_name: str, leaves: Iterable[tuple[int, bytes, bytes]]
) -> VerificationReport:
    """Recompute the log from `(index, leaf bytes, stored leaf hash)` in index order
    and compare every leaf and the root with the stored head."""
    compact = CompactRange()
    for expected_index, (index, leaf, stored_hash) in enumerate(leaves):
        if index != expected_index:
            return VerificationReport(
                log_name,
                compact.size,
                False,
                f"entry {expected_index} is missing or out of order (found index {index})",
                expected_index,
            )
        hashed = leaf_hash(leaf)
        if hashed != stored_hash:
            return VerificationReport(
                log_name,
                compact.size,
                False,
                f"entry {index} does not match its recorded leaf hash",
                index,
            )
        compact.append(hashed)
    head = session.get(LogHead, log_name)
    size, root = (head.size, head.root_hash) if head else (0, "")
    if size != compact.size:
        return VerificationReport(
            log_name,
            compact.size,
            False,
            f"the log head records {size} entries but {compact.size} are stored",
            min(size, compact.size),
        )
    if size and root != compact.root().hex():
        return VerificationReport(log_name, size, False, "the log head's root hash does not match")
    return VerificationReport(log_name, size, True)
