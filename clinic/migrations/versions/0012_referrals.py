"""Referrals: the directory of partner services of each site and her referrals to them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KINDS = (
    "'refuge', 'independent-advocate', 'legal-aid', 'housing', 'mental-health', "
    "'sexual-health', 'childrens-services', 'substance-use', 'immigration-advice'"
)


def upgrade() -> None:
    op.create_table(
        "partner_services",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("languages", sa.String(length=200), nullable=False),
        sa.Column("accepts", sa.String(length=1000), nullable=False),
        sa.Column("has_account", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name=op.f("ck_partner_services_kind_known")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_partner_services_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_services")),
    )
    op.create_index(
        op.f("ix_partner_services_site_id"), "partner_services", ["site_id"], unique=False
    )
    op.create_table(
        "followup_referrals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shared", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("outcome", sa.String(length=1000), nullable=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'declined', 'attended', 'closed')",
            name=op.f("ck_followup_referrals_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_followup_referrals_plan_id_followup_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["partner_services.id"],
            name=op.f("fk_followup_referrals_service_id_partner_services"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_followup_referrals_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_referrals")),
    )
    op.create_index(
        op.f("ix_followup_referrals_plan_id"), "followup_referrals", ["plan_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_followup_referrals_plan_id"), table_name="followup_referrals")
    op.drop_table("followup_referrals")
    op.drop_index(op.f("ix_partner_services_site_id"), table_name="partner_services")
    op.drop_table("partner_services")
