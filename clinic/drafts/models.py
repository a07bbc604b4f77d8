from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


def new_id() -> str:
    return str(uuid.uuid4())


class SavedDraft(Base):
    """A form step posted after its author's session had timed out. The fields are
    encrypted (AES-GCM, a key derived from SECRET_KEY); the id, the user and the path
    are the associated data, so a row moved to another user or page cannot be opened.
    One draft per user and page: a newer post replaces the older one."""

    __tablename__ = "saved_drafts"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    path: Mapped[str] = mapped_column(sa.String(512), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    sealed: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)

    __table_args__ = (sa.UniqueConstraint("user_id", "path"),)
