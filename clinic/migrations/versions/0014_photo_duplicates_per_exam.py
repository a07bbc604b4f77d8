"""Photographs: the same file is refused twice in one exam, not across the database
(a database-wide check told an examiner that a file existed in another site's exam).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_constraint("uq_photos_sha256", type_="unique")
        batch.create_unique_constraint("photo_exam_sha256_unique", ["exam_id", "sha256"])


def downgrade() -> None:
    # Fails if one file was taken in two exams since: those photos must be told apart
    # by hand before going back.
    with op.batch_alter_table("photos") as batch:
        batch.drop_constraint("photo_exam_sha256_unique", type_="unique")
        batch.create_unique_constraint("uq_photos_sha256", ["sha256"])
