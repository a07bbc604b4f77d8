"""Sign-in hardening: failed sign-ins counted per username, per client address and
overall in the database (so every worker sees the same back-off); a flag on the
account when an administrator chose its password; and when the password was last
typed in a session (re-authentication before sensitive actions).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_throttles"),
        sa.UniqueConstraint("scope", "key", name="uq_login_throttles_scope_key"),
        sa.CheckConstraint(
            "scope IN ('username', 'address', 'overall')",
            name="ck_login_throttles_scope_known",
        ),
        sa.CheckConstraint(
            "failures >= 0 AND refused >= 0", name="ck_login_throttles_counts_positive"
        ),
    )
    op.create_index(
        "ix_login_throttles_blocked_until", "login_throttles", ["blocked_until"], unique=False
    )
    # A plain ADD COLUMN: a batch rebuild of `users` on SQLite would drop the
    # trigger that refuses DELETE on it (0001, put back by 0013).
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "user_sessions",
        sa.Column("password_confirmed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("user_sessions") as batch:
        batch.drop_column("password_confirmed_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
    if op.get_bind().dialect.name == "sqlite":
        # The rebuild dropped the refusal of DELETE on `users`: put it back.
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS users_no_delete BEFORE DELETE ON users "
            "BEGIN SELECT RAISE(ABORT, 'DELETE on users is not allowed'); END"
        )
    op.drop_index("ix_login_throttles_blocked_until", table_name="login_throttles")
    op.drop_table("login_throttles")
