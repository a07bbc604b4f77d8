"""Release requests filed by police forces (the operational record behind each
release Task).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("force_id", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cited_reference", sa.String(length=64), nullable=False),
        sa.Column("crime_reference", sa.String(length=64), nullable=False),
        sa.Column("requested", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("approved", sa.Text(), nullable=True),
        sa.Column("consents", sa.Text(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('awaiting-decision', 'approved', 'consent-withdrawn')",
            name=op.f("ck_release_requests_release_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_release_requests_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["filed_by"], ["users.id"], name=op.f("fk_release_requests_filed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["force_id"],
            ["organizations.id"],
            name=op.f("fk_release_requests_force_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_requests")),
    )
    op.create_index(
        op.f("ix_release_requests_case_id"), "release_requests", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_release_requests_force_id"), "release_requests", ["force_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_release_requests_force_id"), table_name="release_requests")
    op.drop_index(op.f("ix_release_requests_case_id"), table_name="release_requests")
    op.drop_table("release_requests")
