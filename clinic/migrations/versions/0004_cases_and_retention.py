"""Cases (the operational index of each EpisodeOfCare) with their reporting-mode
history; evidence linked to its case; per-site retention rules, evidence deadlines
and storage locations; the disposal date on custody events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("reporting_mode", sa.String(length=16), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("age_at_registration", sa.Integer(), nullable=True),
        sa.Column("is_minor", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "reporting_mode IN ('reported', 'unreported', 'anonymous')",
            name=op.f("ck_cases_reporting_mode_known"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["organizations.id"], name=op.f("fk_cases_site_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "case_reporting_mode_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("from_mode", sa.String(length=16), nullable=True),
        sa.Column("to_mode", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_reporting_mode_changes_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reporting_mode_changes")),
    )
    with op.batch_alter_table("case_reporting_mode_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_reporting_mode_changes_case_id"), ["case_id"], unique=False
        )

    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_evidence_items_case_id"), ["case_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_evidence_items_case_id_cases"), "cases", ["case_id"], ["id"]
        )
    # custody_events is append-only: adding a nullable column and widening one (for
    # "retention-extended") rewrite no row. Done in place, never by SQLite's batch
    # copy, which would drop the table's append-only triggers; SQLite does not
    # enforce VARCHAR lengths, so only PostgreSQL needs the wider column.
    op.add_column("custody_events", sa.Column("disposal_due", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "custody_events",
            "action",
            existing_type=sa.String(length=16),
            type_=sa.String(length=32),
        )

    op.create_table(
        "retention_rules",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("reporting_mode", sa.String(length=16), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("counted_from", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "years >= 0 AND months >= 0 AND months < 12",
            name=op.f("ck_retention_rules_period_valid"),
        ),
        sa.CheckConstraint(
            "years * 12 + months > 0", name=op.f("ck_retention_rules_period_positive")
        ),
        sa.CheckConstraint(
            "age_group IN ('adult', 'minor')", name=op.f("ck_retention_rules_age_group_known")
        ),
        sa.CheckConstraint(
            "counted_from IN ('collection', 'majority')",
            name=op.f("ck_retention_rules_counted_from_known"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["organizations.id"], name=op.f("fk_retention_rules_site_id_organizations")
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "reporting_mode", "age_group", name=op.f("pk_retention_rules")
        ),
    )
    op.create_table(
        "site_evidence_policies",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("transfer_limit_days", sa.Integer(), nullable=False),
        sa.Column("objection_extension_months", sa.Integer(), nullable=False),
        sa.Column("coming_due_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "transfer_limit_days > 0 AND objection_extension_months > 0 AND coming_due_days > 0",
            name=op.f("ck_site_evidence_policies_periods_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_site_evidence_policies_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_evidence_policies")),
    )
    op.create_table(
        "storage_locations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "condition IN ('ambient', 'fridge', 'freezer')",
            name=op.f("ck_storage_locations_location_condition_known"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_storage_locations_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_locations")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_storage_locations_site_id")),
    )
    with op.batch_alter_table("storage_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storage_locations_site_id"), ["site_id"], unique=False)
    _protect_tables()


def _protect_tables() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The batch copy that added evidence_items.case_id's foreign key made a new
        # table without the old one's trigger: put it back.
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS evidence_items_no_delete BEFORE DELETE ON evidence_items BEGIN SELECT RAISE(ABORT, 'DELETE on evidence_items is not allowed'); END"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER case_reporting_mode_changes_append_only BEFORE UPDATE OR DELETE ON case_reporting_mode_changes FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
        )
        for table in ("case_reporting_mode_changes", "cases", "storage_locations"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION clinic_refuse_change()"
            )
        for table in ("cases", "storage_locations"):
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
            )
    else:
        op.execute(
            "CREATE TRIGGER case_reporting_mode_changes_no_update BEFORE UPDATE ON case_reporting_mode_changes BEGIN SELECT RAISE(ABORT, 'UPDATE on case_reporting_mode_changes is not allowed: the table is append-only'); END"
        )
        for table in ("case_reporting_mode_changes", "cases", "storage_locations"):
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, 'DELETE on {table} is not allowed'); END"
            )


def downgrade() -> None:
    op.drop_table("storage_locations")
    op.drop_table("site_evidence_policies")
    op.drop_table("retention_rules")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "custody_events",
            "action",
            existing_type=sa.String(length=32),
            type_=sa.String(length=16),
        )
    op.drop_column("custody_events", "disposal_due")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_evidence_items_case_id_cases"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_evidence_items_case_id"))
        batch_op.drop_column("case_id")
    op.drop_table("case_reporting_mode_changes")
    op.drop_table("cases")
