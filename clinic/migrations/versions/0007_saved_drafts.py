"""Saved drafts: form steps posted after the session timed out, kept encrypted for
their author until she signs in again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_drafts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_drafts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_drafts")),
        sa.UniqueConstraint("user_id", "path", name=op.f("uq_saved_drafts_user_id")),
    )
    op.create_index(op.f("ix_saved_drafts_user_id"), "saved_drafts", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_saved_drafts_expires_at"), "saved_drafts", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_drafts_expires_at"), table_name="saved_drafts")
    op.drop_index(op.f("ix_saved_drafts_user_id"), table_name="saved_drafts")
    op.drop_table("saved_drafts")
