"""The stored Merkle subtree hashes are read from their primary key alone: on
SQLite `log_nodes` becomes a WITHOUT ROWID table (the rows live in the primary
key's b-tree, so a range of nodes is one index scan instead of an index entry
and a table row each); on PostgreSQL the primary key carries the hash as an
INCLUDE column, so verification and proofs read it with index-only scans.
The append-only triggers are kept.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# As migration 0002 made them.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER log_nodes_no_update BEFORE UPDATE ON log_nodes BEGIN SELECT "
    "RAISE(ABORT, 'UPDATE on log_nodes is not allowed: the table is append-only'); END",
    "CREATE TRIGGER log_nodes_no_delete BEFORE DELETE ON log_nodes BEGIN SELECT "
    "RAISE(ABORT, 'DELETE on log_nodes is not allowed'); END",
)


def _sqlite_copy(without_rowid: bool) -> None:
    """Rebuild `log_nodes` with or without a rowid. DROP TABLE fires no DELETE
    trigger; the triggers go with the old table and are made again."""
    suffix = " WITHOUT ROWID" if without_rowid else ""
    op.execute(
        "CREATE TABLE log_nodes_new (\n"
        "\tlog_name VARCHAR(64) NOT NULL, \n"
        "\tlevel SMALLINT NOT NULL, \n"
        "\tnode_index BIGINT NOT NULL, \n"
        "\thash BLOB NOT NULL, \n"
        "\tCONSTRAINT pk_log_nodes PRIMARY KEY (log_name, level, node_index)\n"
        f"){suffix}"
    )
    op.execute(
        "INSERT INTO log_nodes_new (log_name, level, node_index, hash) "
        "SELECT log_name, level, node_index, hash FROM log_nodes "
        "ORDER BY log_name, level, node_index"
    )
    op.execute("DROP TABLE log_nodes")
    op.execute("ALTER TABLE log_nodes_new RENAME TO log_nodes")
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)


def _postgresql_primary_key(include: bool) -> None:
    covering = " INCLUDE (hash)" if include else ""
    op.execute(
        "ALTER TABLE log_nodes DROP CONSTRAINT pk_log_nodes, ADD CONSTRAINT pk_log_nodes "
        f"PRIMARY KEY (log_name, level, node_index){covering}"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_primary_key(include=True)
    else:
        _sqlite_copy(without_rowid=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_primary_key(include=False)
    else:
        _sqlite_copy(without_rowid=False)
