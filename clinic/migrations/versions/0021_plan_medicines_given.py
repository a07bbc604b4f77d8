"""Follow-up plans keep the medicines she was given (the exam's treatment codes), so
her aftercare sheet names a course given even when its follow-up items were not
kept. Plans agreed before keep NULL: their sheet works them out from the items, as
before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("followup_plans") as batch:
        batch.add_column(sa.Column("medicines_given", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followup_plans") as batch:
        batch.drop_column("medicines_given")
