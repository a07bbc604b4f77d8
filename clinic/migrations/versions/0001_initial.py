"""Initial schema: organisations, users, sessions, tokens, the FHIR store and its
index, the audit trail and log heads. Append-only tables get triggers that refuse
UPDATE and DELETE in the database itself, whatever the application does.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("outcome_desc", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("organization_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "action IN ('C', 'R', 'U', 'D', 'E')", name=op.f("ck_audit_events_action_known")
        ),
        sa.CheckConstraint(
            "outcome IN ('0', '4', '8', '12')", name=op.f("ck_audit_events_outcome_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("log_index", name=op.f("uq_audit_events_log_index")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_events_recorded_at"), ["recorded_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_events_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_audit_events_username_recorded", ["username", "recorded_at"], unique=False
        )

    op.create_table(
        "log_heads",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("compact_range", sa.Text(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_log_heads_size_not_negative")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_heads")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('site', 'police', 'lab', 'other')", name=op.f("ck_organizations_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("code", name=op.f("uq_organizations_code")),
    )
    op.create_table(
        "fhir_resources",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=140), nullable=True),
        sa.Column("security_labels", sa.Text(), nullable=False),
        sa.CheckConstraint("version_id >= 1", name=op.f("ck_fhir_resources_version_positive")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["organizations.id"], name=op.f("fk_fhir_resources_site_id_organizations")
        ),
        sa.PrimaryKeyConstraint("resource_type", "logical_id", name=op.f("pk_fhir_resources")),
    )
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fhir_resources_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fhir_resources_subject"), ["subject"], unique=False)
        batch_op.create_index(
            "ix_fhir_resources_type_updated",
            ["resource_type", "last_updated", "logical_id"],
            unique=False,
        )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('examiner', 'counsellor', 'custodian', 'police', 'admin', 'auditor')",
            name=op.f("ck_users_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "fhir_index_references",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_index_references_head",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_index_references")),
    )
    with op.batch_alter_table("fhir_index_references", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_index_references_lookup",
            ["resource_type", "param", "target_type", "target_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_fhir_index_references_owner", ["resource_type", "logical_id"], unique=False
        )

    op.create_table(
        "fhir_index_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_index_tokens_head",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_index_tokens")),
    )
    with op.batch_alter_table("fhir_index_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_index_tokens_lookup", ["resource_type", "param", "code"], unique=False
        )
        batch_op.create_index(
            "ix_fhir_index_tokens_owner", ["resource_type", "logical_id"], unique=False
        )

    op.create_table(
        "fhir_resource_versions",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("logical_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=140), nullable=True),
        sa.Column("security_labels", sa.Text(), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "change IN ('create', 'update')", name=op.f("ck_fhir_resource_versions_change_known")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_fhir_resource_versions_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resource_type", "logical_id"],
            ["fhir_resources.resource_type", "fhir_resources.logical_id"],
            name="fk_fhir_resource_versions_head",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organizations.id"],
            name=op.f("fk_fhir_resource_versions_site_id_organizations"),
        ),
        sa.PrimaryKeyConstraint(
            "resource_type", "logical_id", "version_id", name=op.f("pk_fhir_resource_versions")
        ),
    )
    with op.batch_alter_table("fhir_resource_versions", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_resource_versions_updated", ["last_updated"], unique=False)

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)
    _protect_tables()


# Tables whose rows are never changed or removed, and tables whose rows are never removed.
APPEND_ONLY = ("audit_events", "fhir_resource_versions")
NEVER_DELETED = ("fhir_resources", "organizations", "users", "log_heads")


def _protect_tables() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION clinic_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
            )
        for table in (*APPEND_ONLY, *NEVER_DELETED):
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION clinic_refuse_change()"
            )
        for table in NEVER_DELETED:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
            )
    else:
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} is not allowed: the table is append-only'); END"
            )
        for table in (*APPEND_ONLY, *NEVER_DELETED):
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, 'DELETE on {table} is not allowed'); END"
            )


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))

    op.drop_table("user_sessions")
    with op.batch_alter_table("fhir_resource_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resource_versions_updated")

    op.drop_table("fhir_resource_versions")
    with op.batch_alter_table("fhir_index_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_index_tokens_owner")
        batch_op.drop_index("ix_fhir_index_tokens_lookup")

    op.drop_table("fhir_index_tokens")
    with op.batch_alter_table("fhir_index_references", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_index_references_owner")
        batch_op.drop_index("ix_fhir_index_references_lookup")

    op.drop_table("fhir_index_references")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_organization_id"))

    op.drop_table("users")
    with op.batch_alter_table("fhir_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resources_type_updated")
        batch_op.drop_index(batch_op.f("ix_fhir_resources_subject"))
        batch_op.drop_index(batch_op.f("ix_fhir_resources_site_id"))

    op.drop_table("fhir_resources")
    op.drop_table("organizations")
    op.drop_table("log_heads")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_username_recorded")
        batch_op.drop_index(batch_op.f("ix_audit_events_user_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_recorded_at"))

    op.drop_table("audit_events")
