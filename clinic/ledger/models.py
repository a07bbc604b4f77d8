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


class LogNode(Base):
    """A perfect subtree hash, stored as appends complete it (append-only).
    Level 0 is the leaf hash; proofs read O(log n) of these. The hash is read
    from the primary key alone: a WITHOUT ROWID table on SQLite, an INCLUDE
    column of the key on PostgreSQL (verification reads two nodes a leaf)."""

    __tablename__ = "log_nodes"

    log_name: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    node_index: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), nullable=False)

    __table_args__ = (
        sa.PrimaryKeyConstraint(
            "log_name", "level", "node_index", name="pk_log_nodes", postgresql_include=["hash"]
        ),
        {"sqlite_with_rowid": False},
    )


class LogCheckpoint(Base):
    """A signed checkpoint (c2sp.org/tlog-checkpoint as a signed note), append-only."""

    __tablename__ = "log_checkpoints"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    log_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    root_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    key_id: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        sa.UniqueConstraint("log_name", "tree_size", "key_id", name="uq_log_checkpoints_size_key"),
        sa.Index("ix_log_checkpoints_log_size", "log_name", "tree_size"),
    )


class SigningKey(Base):
    """A log signing key's public half. Kept after rotation, so that checkpoints
    signed with retired keys stay verifiable. The private half lives only in the
    instance folder."""

    __tablename__ = "signing_keys"

    key_name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    verifier_key: Mapped[str] = mapped_column(sa.Text, nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
