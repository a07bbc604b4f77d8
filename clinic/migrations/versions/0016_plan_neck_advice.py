"""Her aftercare advice is decided once, from the signed exam, and kept on her
follow-up plan: the sheet prints the same advice whoever prints it. NULL for plans
agreed before this: decided by the service at the first printing, then kept.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("followup_plans") as batch:
        batch.add_column(sa.Column("neck_advice", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followup_plans") as batch:
        batch.drop_column("neck_advice")
