"""Safety assessments for intimate-partner cases and the high-risk flag.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_assessments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("answers_id", sa.String(length=64), nullable=False),
        sa.Column("yes_count", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("is_high_risk", sa.Boolean(), nullable=False),
        sa.Column("judgement_reason", sa.Text(), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assessed_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "yes_count >= 0", name=op.f("ck_safety_assessments_yes_count_not_negative")
        ),
        sa.CheckConstraint(
            "judgement_reason IS NULL OR is_high_risk",
            name=op.f("ck_safety_assessments_judgement_means_high_risk"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_safety_assessments_plan_id_followup_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_safety_assessments_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_assessments")),
    )
    op.create_index(
        op.f("ix_safety_assessments_plan_id"), "safety_assessments", ["plan_id"], unique=False
    )
    op.create_index(
        op.f("ix_safety_assessments_assessed_at"),
        "safety_assessments",
        ["assessed_at"],
        unique=False,
    )
    op.create_table(
        "safety_flags",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("raised_by_assessment", sa.String(length=64), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_safety_flags_plan_id_followup_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_safety_flags_site_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["raised_by_assessment"],
            ["safety_assessments.id"],
            name=op.f("fk_safety_flags_raised_by_assessment_safety_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_flags")),
    )
    op.create_index(op.f("ix_safety_flags_plan_id"), "safety_flags", ["plan_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_safety_flags_plan_id"), table_name="safety_flags")
    op.drop_table("safety_flags")
    op.drop_index(op.f("ix_safety_assessments_assessed_at"), table_name="safety_assessments")
    op.drop_index(op.f("ix_safety_assessments_plan_id"), table_name="safety_assessments")
    op.drop_table("safety_assessments")
