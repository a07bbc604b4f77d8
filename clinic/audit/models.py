from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, JSONText, UTCDateTime


class AuditEntry(Base):
    """One audited event. Append-only: the code has no update or delete path and
    database triggers refuse both. Each row is a leaf of the `audit` Merkle log."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # Its leaf index, set once when the log integrates it (NULL until then).
    log_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    event_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    subtype: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(1), nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(2), nullable=False)
    outcome_desc: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    username: Mapped[str | None] = mapped_column(sa.String(64))
    role: Mapped[str | None] = mapped_column(sa.String(16))
    organization_id: Mapped[str | None] = mapped_column(sa.String(64))
    purpose: Mapped[str | None] = mapped_column(sa.String(16))
    source_address: Mapped[str | None] = mapped_column(sa.String(64))
    entities: Mapped[list[str]] = mapped_column(JSONText, nullable=False)
    query: Mapped[str | None] = mapped_column(sa.Text)
    reasons: Mapped[list[str]] = mapped_column(JSONText, nullable=False)

    __table_args__ = (
        sa.CheckConstraint("outcome IN ('0', '4', '8', '12')", name="outcome_known"),
        sa.CheckConstraint("action IN ('C', 'R', 'U', 'D', 'E')", name="action_known"),
        # Failed-login throttling counts recent failures per typed username.
        sa.Index("ix_audit_events_username_recorded", "username", "recorded_at"),
    )

    def leaf_fields(self) -> dict[str, Any]:
        """What the log hashes: every recorded fact, none of the bookkeeping."""
        return leaf_fields(
            recorded_at=self.recorded_at,
            event_type=self.event_type,
            subtype=self.subtype,
            action=self.action,
            outcome=self.outcome,
            outcome_desc=self.outcome_desc,
            channel=self.channel,
            user_id=self.user_id,
            username=self.username,
            role=self.role,
            organization_id=self.organization_id,
            purpose=self.purpose,
            source_address=self.source_address,
            entities=self.entities,
            query=self.query,
            reasons=self.reasons,
        )


def leaf_fields(
    *,
    recorded_at: datetime,
    event_type: str,
    subtype: str,
    action: str,
    outcome: str,
    outcome_desc: str | None,
    channel: str,
    user_id: str | None,
    username: str | None,
    role: str | None,
    organization_id: str | None,
    purpose: str | None,
    source_address: str | None,
    entities: list[str],
    query: str | None,
    reasons: list[str],
) -> dict[str, Any]:
    """An audit entry's leaf fields, from its column values (a row not yet built as
    an AuditEntry hashes exactly as one that is)."""
    from clinic.core.clock import isoformat

    return {
        "recorded": isoformat(recorded_at),
        "type": event_type,
        "subtype": subtype,
        "action": action,
        "outcome": outcome,
        "outcomeDesc": outcome_desc,
        "channel": channel,
        "user": user_id,
        "username": username,
        "role": role,
        "organization": organization_id,
        "purpose": purpose,
        "address": source_address,
        "entities": list(entities),
        "query": query,
        "reasons": list(reasons),
    }
