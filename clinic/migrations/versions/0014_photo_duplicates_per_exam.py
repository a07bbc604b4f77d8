"""Photographs: the same file is refused twice in one exam, not across the database
(a database-wide check told an examiner that a file existed in another site's exam);
each sealed variant records its sealing format (2 binds the content type too;
every row before this is 1).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_constraint("uq_photos_sha256", type_="unique")
        batch.create_unique_constraint("photo_exam_sha256_unique", ["exam_id", "sha256"])
    with op.batch_alter_table("photo_contents") as batch:
        batch.add_column(sa.Column("format", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    # Variants sealed in format 2 do not open with the code of before: going back
    # leaves them unreadable until the code is upgraded again.
    with op.batch_alter_table("photo_contents") as batch:
        batch.drop_column("format")
    # Fails if one file was taken in two exams since: those photos must be told apart
    # by hand before going back.
    with op.batch_alter_table("photos") as batch:
        batch.drop_constraint("photo_exam_sha256_unique", type_="unique")
        batch.create_unique_constraint("uq_photos_sha256", ["sha256"])
