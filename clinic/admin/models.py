"""Account hygiene: renewals of accounts left unused, and the periodic access review."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class AccountRenewal(Base):
    """An administrator's word that an unused account is still needed: it counts
    as a use, so the account is neither listed as unused nor deactivated."""

    __tablename__ = "account_renewals"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    renewed_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)


class AccessReview(Base):
    """An administrator confirmed the list of who holds which role at which site:
    who, when, and the SHA-256 of the list as shown (with the list itself)."""

    __tablename__ = "access_reviews"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    reviewed_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    digest: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    accounts: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    snapshot: Mapped[str] = mapped_column(sa.Text, nullable=False)
