"""Medical expert accounts: role `expert`, limited to one case and a period.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ROLES = ("examiner", "counsellor", "custodian", "police", "admin", "auditor")


def _role_check(roles: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{role}'" for role in roles) + ")"


def _keep_users_undeletable() -> None:
    """SQLite rebuilds the table to change its check constraint, which drops its
    trigger: put back the refusal of DELETE that 0001 gave `users`."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS users_no_delete BEFORE DELETE ON users "
            "BEGIN SELECT RAISE(ABORT, 'DELETE on users is not allowed'); END"
        )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role_known"), _role_check((*_ROLES, "expert")))
        batch.add_column(sa.Column("expert_case_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("expert_subject", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("expert_consent_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("access_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("appointed_by", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_users_expert_case_id"), ["expert_case_id"])
        batch.create_foreign_key(
            op.f("fk_users_expert_case_id_cases"), "cases", ["expert_case_id"], ["id"]
        )
    _keep_users_undeletable()


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("fk_users_expert_case_id_cases"), type_="foreignkey")
        batch.drop_index(op.f("ix_users_expert_case_id"))
        for column in (
            "appointed_by",
            "access_until",
            "expert_consent_name",
            "expert_subject",
            "expert_case_id",
        ):
            batch.drop_column(column)
        batch.drop_constraint(op.f("ck_users_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role_known"), _role_check(_ROLES))
    _keep_users_undeletable()
