"""Follow-up: the operational index of each follow-up plan (a CarePlan), its items and
their appointments.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followup_plans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("exam_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agreed_by", sa.String(length=64), nullable=False),
        sa.Column("needs_contact", sa.String(length=32), nullable=True),
        sa.Column("needs_contact_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("may_call", sa.Boolean(), nullable=False),
        sa.Column("may_text", sa.Boolean(), nullable=False),
        sa.Column("may_leave_voicemail", sa.Boolean(), nullable=False),
        sa.Column("may_email", sa.Boolean(), nullable=False),
        sa.Column("safe_times", sa.Text(), nullable=True),
        sa.Column("asks_code_word", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'revoked')",
            name=op.f("ck_followup_plans_status_known"),
        ),
        sa.CheckConstraint(
            "needs_contact IS NULL OR needs_contact IN ('missed-appointment')",
            name=op.f("ck_followup_plans_needs_contact_known"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_followup_plans_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_followup_plans_exam_id_exams")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_followup_plans_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_plans")),
        sa.UniqueConstraint("exam_id", name=op.f("uq_followup_plans_exam_id")),
    )
    op.create_index(op.f("ix_followup_plans_case_id"), "followup_plans", ["case_id"])
    op.create_index(op.f("ix_followup_plans_site_id"), "followup_plans", ["site_id"])
    op.create_table(
        "followup_items",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("responsible", sa.String(length=32), nullable=False),
        sa.Column("service_kind", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "kind IN ('visit', 'test', 'vaccine', 'check', 'referral')",
            name=op.f("ck_followup_items_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('not-started', 'scheduled', 'completed', 'cancelled')",
            name=op.f("ck_followup_items_status_known"),
        ),
        sa.CheckConstraint(
            "responsible IN ('clinic', 'counselling-team', 'survivor', 'gp')",
            name=op.f("ck_followup_items_responsible_known"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_followup_items_plan_id_followup_plans"),
        ),
        sa.PrimaryKeyConstraint("plan_id", "position", name=op.f("pk_followup_items")),
    )
    op.create_index(op.f("ix_followup_items_due_on"), "followup_items", ["due_on"])
    op.create_table(
        "followup_appointments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('booked', 'fulfilled', 'noshow', 'cancelled')",
            name=op.f("ck_followup_appointments_status_known"),
        ),
        sa.CheckConstraint(
            "minutes BETWEEN 5 AND 480",
            name=op.f("ck_followup_appointments_minutes_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id", "position"],
            ["followup_items.plan_id", "followup_items.position"],
            name="fk_followup_appointments_item",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_followup_appointments_plan_id_followup_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_followup_appointments_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_appointments")),
    )
    op.create_index(op.f("ix_followup_appointments_plan_id"), "followup_appointments", ["plan_id"])
    op.create_index(
        op.f("ix_followup_appointments_starts_at"), "followup_appointments", ["starts_at"]
    )

    op.create_table(
        "followup_contact_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempted_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "channel IN ('call', 'text', 'voicemail', 'email')",
            name=op.f("ck_followup_contact_attempts_channel_known"),
        ),
        sa.CheckConstraint(
            "outcome IN ('reached', 'no-answer', 'not-safe', 'wrong-number')",
            name=op.f("ck_followup_contact_attempts_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_followup_contact_attempts_plan_id_followup_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_contact_attempts")),
    )
    op.create_index(
        op.f("ix_followup_contact_attempts_plan_id"), "followup_contact_attempts", ["plan_id"]
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_followup_contact_attempts_plan_id"), table_name="followup_contact_attempts"
    )
    op.drop_table("followup_contact_attempts")
    op.drop_index(op.f("ix_followup_appointments_starts_at"), table_name="followup_appointments")
    op.drop_index(op.f("ix_followup_appointments_plan_id"), table_name="followup_appointments")
    op.drop_table("followup_appointments")
    op.drop_index(op.f("ix_followup_items_due_on"), table_name="followup_items")
    op.drop_table("followup_items")
    op.drop_index(op.f("ix_followup_plans_site_id"), table_name="followup_plans")
    op.drop_index(op.f("ix_followup_plans_case_id"), table_name="followup_plans")
    op.drop_table("followup_plans")
