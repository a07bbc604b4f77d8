"""Stored Merkle subtree hashes (O(log n) proofs), signed checkpoints and the
published signing keys. Existing logs get their subtree hashes computed here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("log_name", sa.String(length=64), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_checkpoints")),
        sa.UniqueConstraint("log_name", "tree_size", "key_id", name="uq_log_checkpoints_size_key"),
    )
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_log_checkpoints_log_size", ["log_name", "tree_size"], unique=False
        )

    op.create_table(
        "log_nodes",
        sa.Column("log_name", sa.String(length=64), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("node_index", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("log_name", "level", "node_index", name=op.f("pk_log_nodes")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("key_name", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_name", "key_id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("verifier_key", name=op.f("uq_signing_keys_verifier_key")),
    )
    _backfill_nodes()
    _protect_tables()


def _backfill_nodes() -> None:
    """Store every perfect subtree of the existing audit log, from its leaf hashes."""
    connection = op.get_bind()
    nodes = sa.table(
        "log_nodes",
        sa.column("log_name", sa.String),
        sa.column("level", sa.SmallInteger),
        sa.column("node_index", sa.BigInteger),
        sa.column("hash", sa.LargeBinary),
    )
    stack: list[tuple[int, bytes]] = []
    batch: list[dict[str, object]] = []
    rows = connection.execute(
        sa.text("SELECT log_index, leaf_hash FROM audit_events ORDER BY log_index")
    )
    for index, leaf_hash in rows:
        height, digest = 0, bytes.fromhex(leaf_hash)
        batch.append({"log_name": "audit", "level": 0, "node_index": index, "hash": digest})
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            digest = hashlib.sha256(b"\x01" + left + digest).digest()
            height += 1
            batch.append(
                {
                    "log_name": "audit",
                    "level": height,
                    "node_index": index >> height,
                    "hash": digest,
                }
            )
        stack.append((height, digest))
        if len(batch) >= 5000:
            op.bulk_insert(nodes, batch)
            batch = []
    if batch:
        op.bulk_insert(nodes, batch)


APPEND_ONLY = ("log_nodes", "log_checkpoints")
NEVER_DELETED = ("signing_keys",)


def _protect_tables() -> None:
    if op.get_bind().dialect.name == "postgresql":
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
    op.drop_table("signing_keys")
    op.drop_table("log_nodes")
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_log_checkpoints_log_size")

    op.drop_table("log_checkpoints")
