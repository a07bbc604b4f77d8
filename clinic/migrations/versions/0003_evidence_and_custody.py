"""Evidence kits and items (the operational record of each Specimen) and their
custody events. Custody events are append-only; evidence records are never deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kit_id", sa.String(length=64), nullable=True),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("container", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("seal_number", sa.String(length=40), nullable=True),
        sa.Column("is_seal_intact", sa.Boolean(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("storage_condition", sa.String(length=16), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposal_due", sa.Date(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('kit', 'swab', 'blood', 'urine', 'clothing', 'hair', 'fingernail', 'debris', 'other')",
            name=op.f("ck_evidence_items_kind_known"),
        ),
        sa.CheckConstraint(
            "state IN ('collected', 'sealed', 'stored', 'checked-out', 'transferred', 'returned', 'destroyed', 'declined')",
            name=op.f("ck_evidence_items_state_known"),
        ),
        sa.CheckConstraint(
            "storage_condition IS NULL OR storage_condition IN ('ambient', 'fridge', 'freezer')",
            name=op.f("ck_evidence_items_condition_known"),
        ),
        sa.ForeignKeyConstraint(
            ["kit_id"], ["evidence_items.id"], name=op.f("fk_evidence_items_kit_id_evidence_items")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["organizations.id"], name=op.f("fk_evidence_items_site_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
        sa.UniqueConstraint("label", name=op.f("uq_evidence_items_label")),
    )
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_items_kit_id"), ["kit_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_evidence_items_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_evidence_items_site_id"), ["site_id"], unique=False)

    op.create_table(
        "custody_signatures",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_custody_signatures")),
    )
    op.create_table(
        "custody_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("item_label", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_by_name", sa.String(length=64), nullable=False),
        sa.Column("from_holder", sa.String(length=200), nullable=True),
        sa.Column("to_holder", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("storage_condition", sa.String(length=16), nullable=True),
        sa.Column("seal_number", sa.String(length=40), nullable=True),
        sa.Column("is_seal_intact", sa.Boolean(), nullable=False),
        sa.Column("receiver_name", sa.String(length=200), nullable=True),
        sa.Column("receiver_organization", sa.String(length=64), nullable=True),
        sa.Column("second_person", sa.String(length=64), nullable=True),
        sa.Column("receiver_signature", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_custody_events_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(
            ["receiver_signature"],
            ["custody_signatures.sha256"],
            name=op.f("fk_custody_events_receiver_signature_custody_signatures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
        sa.UniqueConstraint("log_index", name=op.f("uq_custody_events_log_index")),
    )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_custody_events_item_id"), ["item_id"], unique=False)
    _protect_tables()


def _protect_tables() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("custody_events", "custody_signatures"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
            )
        for table in ("custody_events", "custody_signatures", "evidence_items"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION clinic_refuse_change()"
            )
        op.execute(
            "CREATE TRIGGER evidence_items_no_delete BEFORE DELETE ON evidence_items FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
        )
    else:
        for table in ("custody_events", "custody_signatures"):
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} is not allowed: the table is append-only'); END"
            )
        for table in ("custody_events", "custody_signatures", "evidence_items"):
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, 'DELETE on {table} is not allowed'); END"
            )


def downgrade() -> None:
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custody_events_item_id"))

    op.drop_table("custody_events")
    op.drop_table("custody_signatures")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_items_site_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_items_patient_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_items_kit_id"))

    op.drop_table("evidence_items")
