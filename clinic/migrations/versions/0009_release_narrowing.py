"""Release narrowing: who recorded a withdrawal, and when and by whom a release was
narrowed to what she still permits.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("release_requests") as batch:
        batch.add_column(sa.Column("withdrawn_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("narrowed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("narrowed_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("release_requests") as batch:
        batch.drop_column("narrowed_by")
        batch.drop_column("narrowed_at")
        batch.drop_column("withdrawn_by")
