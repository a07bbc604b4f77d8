"""Forensic photographs: the photo index (with its wrapped data key and custody log
entry) and the encrypted bytes of each variant.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("exam_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("injury_slot", sa.String(length=64), nullable=True),
        sa.Column("view", sa.String(length=16), nullable=False),
        sa.Column("body_region", sa.String(length=40), nullable=False),
        sa.Column("body_site", sa.String(length=200), nullable=False),
        sa.Column("is_scale_in_frame", sa.Boolean(), nullable=False),
        sa.Column("is_intimate", sa.Boolean(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "view IN ('overview', 'mid-range', 'close-up')", name="photo_view_known"
        ),
        sa.CheckConstraint("byte_size > 0", name="photo_size_positive"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exam_id", "slot", name="photo_exam_slot_unique"),
        sa.UniqueConstraint("log_index"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_index("ix_photos_exam_id", "photos", ["exam_id"])
    op.create_index("ix_photos_case_id", "photos", ["case_id"])
    op.create_index("ix_photos_site_id", "photos", ["site_id"])
    op.create_index("ix_photos_key_id", "photos", ["key_id"])
    op.create_table(
        "photo_contents",
        sa.Column("photo_id", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("derived_from_sha256", sa.String(length=64), nullable=True),
        sa.Column("nonce", sa.LargeBinary(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "variant IN ('original', 'display', 'thumbnail', 'blurred')",
            name="photo_variant_known",
        ),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"]),
        sa.PrimaryKeyConstraint("photo_id", "variant"),
    )


def downgrade() -> None:
    op.drop_table("photo_contents")
    op.drop_index("ix_photos_key_id", table_name="photos")
    op.drop_index("ix_photos_site_id", table_name="photos")
    op.drop_index("ix_photos_case_id", table_name="photos")
    op.drop_index("ix_photos_exam_id", table_name="photos")
    op.drop_table("photos")
