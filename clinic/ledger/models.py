from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, JSONText, UTCDateTime


class LogHead(Base):
    """The current size and compact range of one log. Appends lock this row."""

    __tablename__ = "log_heads"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    compact_range: Mapped[list[list[int | str]]] = mapped_column(JSONText, nullable=False)
    root_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (sa.CheckConstraint("size >= 0", name="size_not_negative"),)
