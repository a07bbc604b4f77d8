"""Break-glass grants and what was read under them; renewals of unused accounts and
the periodic access review.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('justified', 'not-justified', 'referred')",
            name="outcome_known",
        ),
    )
    op.create_index("ix_break_glass_grants_user_id", "break_glass_grants", ["user_id"])
    op.create_index("ix_break_glass_grants_case_id", "break_glass_grants", ["case_id"])
    op.create_index("ix_break_glass_grants_expires_at", "break_glass_grants", ["expires_at"])
    op.create_table(
        "break_glass_reads",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column(
            "grant_id", sa.String(64), sa.ForeignKey("break_glass_grants.id"), nullable=False
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(160), nullable=False),
    )
    op.create_index("ix_break_glass_reads_grant_id", "break_glass_reads", ["grant_id"])
    op.create_table(
        "account_renewals",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_account_renewals_user_id", "account_renewals", ["user_id"])
    op.create_table(
        "access_reviews",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
    )
    op.create_index("ix_access_reviews_reviewed_at", "access_reviews", ["reviewed_at"])


def downgrade() -> None:
    op.drop_table("access_reviews")
    op.drop_table("account_renewals")
    op.drop_table("break_glass_reads")
    op.drop_table("break_glass_grants")
