"""Tables of the versioned FHIR store (docs/design.md section 3).

`fhir_resource_versions` holds every version ever written and is append-only.
`fhir_resources` is the head row per logical resource: which version is current,
and the facts the decision point and search need without parsing JSON. The index
tables are derived from the current version and rebuilt on every write.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, JSONText, UTCDateTime


class StoredResource(Base):
    __tablename__ = "fhir_resources"

    resource_type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    logical_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The clinic site that holds the record; None for directory entries.
    site_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    # "Patient/<id>" for resources about a survivor.
    subject: Mapped[str | None] = mapped_column(sa.String(140), index=True)
    security_labels: Mapped[list[str]] = mapped_column(JSONText, nullable=False)

    __table_args__ = (
        sa.Index("ix_fhir_resources_type_updated", "resource_type", "last_updated", "logical_id"),
        sa.CheckConstraint("version_id >= 1", name="version_positive"),
    )


class ResourceVersion(Base):
    __tablename__ = "fhir_resource_versions"

    resource_type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    logical_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    site_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organizations.id"))
    subject: Mapped[str | None] = mapped_column(sa.String(140))
    security_labels: Mapped[list[str]] = mapped_column(JSONText, nullable=False)
    # "create" or "update"; who wrote it is on the audit trail and in author_id.
    change: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    author_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    # The resource exactly as validated and stored (JSON text).
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_resource_versions_head",
        ),
        sa.Index("ix_fhir_resource_versions_updated", "last_updated"),
        sa.CheckConstraint("change IN ('create', 'update')", name="change_known"),
    )


class TokenIndex(Base):
    """token search parameters (identifier, ...): one row per system|code."""

    __tablename__ = "fhir_index_tokens"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    logical_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    param: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    system: Mapped[str | None] = mapped_column(sa.String(255))
    code: Mapped[str] = mapped_column(sa.String(255), nullable=False)

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_index_tokens_head",
        ),
        sa.Index("ix_fhir_index_tokens_lookup", "resource_type", "param", "code"),
        sa.Index("ix_fhir_index_tokens_owner", "resource_type", "logical_id"),
    )


class ReferenceIndex(Base):
    """reference search parameters (subject, patient): one row per target."""

    __tablename__ = "fhir_index_references"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    logical_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    param: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    target_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_index_references_head",
        ),
        sa.Index(
            "ix_fhir_index_references_lookup", "resource_type", "param", "target_type", "target_id"
        ),
        sa.Index("ix_fhir_index_references_owner", "resource_type", "logical_id"),
    )
