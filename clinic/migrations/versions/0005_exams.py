"""Exams: the operational index of each exam Encounter, the resources of each exam
and the amendments made after sign-off (append-only). Observations already stored
are indexed for the new `category` and `code` search parameters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exams",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_by", sa.String(length=64), nullable=True),
        sa.Column("report_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('in-progress', 'signed')", name=op.f("ck_exams_exam_status_known")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_exams_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["organizations.id"], name=op.f("fk_exams_site_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exams")),
    )
    op.create_index(op.f("ix_exams_case_id"), "exams", ["case_id"], unique=False)
    op.create_index(op.f("ix_exams_site_id"), "exams", ["site_id"], unique=False)
    op.create_table(
        "exam_entries",
        sa.Column("exam_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_exam_entries_exam_id_exams")
        ),
        sa.PrimaryKeyConstraint("exam_id", "slot", name=op.f("pk_exam_entries")),
    )
    op.create_table(
        "exam_amendments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exam_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=140), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("amended_by", sa.String(length=64), nullable=False),
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exam_id"], ["exams.id"], name=op.f("fk_exam_amendments_exam_id_exams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_amendments")),
    )
    op.create_index(
        op.f("ix_exam_amendments_exam_id"), "exam_amendments", ["exam_id"], unique=False
    )
    _protect_tables()
    _index_observation_codes()


def _index_observation_codes() -> None:
    """Observations written before this revision get their `category` and `code`
    index rows, exactly as the store writes them (every coding with a code)."""
    import json

    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT v.logical_id, v.content FROM fhir_resource_versions v "
            "JOIN fhir_resources r ON r.resource_type = v.resource_type "
            "AND r.logical_id = v.logical_id AND r.version_id = v.version_id "
            "WHERE v.resource_type = 'Observation'"
        )
    ).all()
    tokens = sa.table(
        "fhir_index_tokens",
        sa.column("resource_type"),
        sa.column("logical_id"),
        sa.column("param"),
        sa.column("system"),
        sa.column("code"),
    )
    for logical_id, content in rows:
        resource = json.loads(content)
        concepts = {"category": resource.get("category", []), "code": [resource.get("code", {})]}
        for param, values in concepts.items():
            for concept in values:
                for coding in concept.get("coding", []):
                    if "code" in coding:
                        connection.execute(
                            tokens.insert().values(
                                resource_type="Observation",
                                logical_id=logical_id,
                                param=param,
                                system=coding.get("system"),
                                code=coding["code"],
                            )
                        )


def _protect_tables() -> None:
    """Amendments are append-only; exams and their entries are never deleted
    (entries are written once; an exam row changes only when it is signed)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER exam_amendments_append_only BEFORE UPDATE OR DELETE ON exam_amendments FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER exam_entries_append_only BEFORE UPDATE OR DELETE ON exam_entries FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER exams_no_delete BEFORE DELETE ON exams FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
        )
        for table in ("exams", "exam_entries", "exam_amendments"):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION clinic_refuse_change()"
            )
    else:
        for table in ("exam_amendments", "exam_entries"):
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} is not allowed: the table is append-only'); END"
            )
        for table in ("exams", "exam_entries", "exam_amendments"):
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, 'DELETE on {table} is not allowed'); END"
            )


def downgrade() -> None:
    op.drop_table("exam_amendments")
    op.drop_table("exam_entries")
    op.drop_table("exams")
