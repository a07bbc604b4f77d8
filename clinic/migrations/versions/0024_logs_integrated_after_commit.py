"""Records are written without touching the Merkle tree; an integrator gives each
its leaf index after the commit. `log_index` of audit events, custody events and
photographs becomes NULL until then, and the append-only tables allow exactly one
change: a NULL `log_index` set, nothing else touched.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_events", "custody_events")
TABLES = (*APPEND_ONLY, "photos")


def _sqlite_triggers(table: str) -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    )
    return [row[0] for row in rows]


def _name(sql: str) -> str:
    match = re.search(r"TRIGGER\s+(?:IF NOT EXISTS\s+)?(\w+)", sql)
    assert match is not None
    return match.group(1)


def _sqlite_no_update(table: str, columns: list[str]) -> str:
    unchanged = " AND ".join(f'OLD."{c}" IS NEW."{c}"' for c in columns if c != "log_index")
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"WHEN NOT (OLD.log_index IS NULL AND NEW.log_index IS NOT NULL AND {unchanged}) "
        f"BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} is not allowed: the table is append-only'); END"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN log_index DROP NOT NULL")
        op.execute(
            "CREATE FUNCTION clinic_refuse_change_but_log_index() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'UPDATE' AND OLD.log_index IS NULL AND NEW.log_index IS NOT NULL "
            "AND (to_jsonb(NEW) - 'log_index') = (to_jsonb(OLD) - 'log_index') THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME; "
            "END $$"
        )
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change_but_log_index()"
            )
        return
    for table in TABLES:
        triggers = _sqlite_triggers(table)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("log_index", existing_type=sa.BigInteger(), nullable=True)
        columns = [c["name"] for c in sa.inspect(bind).get_columns(table)]
        for sql in triggers:
            if f"{table}_no_update" in sql:
                sql = _sqlite_no_update(table, columns)
            op.execute(f"DROP TRIGGER IF EXISTS {_name(sql)}")
            op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION clinic_refuse_change()"
            )
        op.execute("DROP FUNCTION clinic_refuse_change_but_log_index()")
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN log_index SET NOT NULL")
        return
    for table in TABLES:
        triggers = _sqlite_triggers(table)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("log_index", existing_type=sa.BigInteger(), nullable=False)
        for sql in triggers:
            if f"{table}_no_update" in sql:
                sql = (
                    f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT "
                    f"RAISE(ABORT, 'UPDATE on {table} is not allowed: the table is append-only'); END"
                )
            op.execute(f"DROP TRIGGER IF EXISTS {_name(sql)}")
            op.execute(sql)
