"""Break-glass grants, the records read under each, and their reviews."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime

OUTCOMES = ("justified", "not-justified", "referred")


class BreakGlassGrant(Base):
    """An examiner's emergency access to one case until `expires_at`, with the
    reason she stated; an auditor's review (outcome, note, who, when) once done."""

    __tablename__ = "break_glass_grants"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    username: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    site_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('justified', 'not-justified', 'referred')",
            name="outcome_known",
        ),
    )


class BreakGlassRead(Base):
    """One record read under a grant (kind/id), when: what the case's list shows."""

    __tablename__ = "break_glass_reads"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    grant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("break_glass_grants.id"), nullable=False, index=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    entity: Mapped[str] = mapped_column(sa.String(160), nullable=False)
