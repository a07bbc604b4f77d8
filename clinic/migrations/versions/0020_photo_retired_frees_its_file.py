"""Photographs: a retired photo no longer holds its file's place in the exam, so a
photo retired for a wrong body site can be recorded again from the same file.

`photos.retired_at` is filled from each photo's current Media (entered-in-error);
the unique key on (exam, SHA-256) becomes a unique index over photos in use.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

IN_USE = sa.text("retired_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint("photo_exam_sha256_unique", type_="unique")
    bind = op.get_bind()
    current = bind.execute(
        sa.text(
            "SELECT v.logical_id, v.content, v.last_updated FROM fhir_resources r "
            "JOIN fhir_resource_versions v ON v.resource_type = r.resource_type "
            "AND v.logical_id = r.logical_id AND v.version_id = r.version_id "
            "WHERE r.resource_type = 'Media'"
        )
    )
    for logical_id, content, last_updated in current:
        if json.loads(content).get("status") == "entered-in-error":
            bind.execute(
                sa.text("UPDATE photos SET retired_at = :at WHERE id = :id"),
                {"at": last_updated, "id": logical_id},
            )
    op.create_index(
        "photo_exam_sha256_unique",
        "photos",
        ["exam_id", "sha256"],
        unique=True,
        sqlite_where=IN_USE,
        postgresql_where=IN_USE,
    )


def downgrade() -> None:
    # Fails if a retired photo's file was recorded again since: tell those apart by
    # hand before going back.
    op.drop_index("photo_exam_sha256_unique", table_name="photos")
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("retired_at")
        batch.create_unique_constraint("photo_exam_sha256_unique", ["exam_id", "sha256"])
