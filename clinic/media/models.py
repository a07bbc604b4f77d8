"""Forensic photographs (docs/design.md section 8).

The clinical record of a photograph is a FHIR Media resource (`clinic.media.resources`);
`Photo` is its operational index: which exam and injury it belongs to, whether it is
intimate, the SHA-256 of the original as taken, the per-photo data key (wrapped by
the media key, `clinic.media.vault`) and where the photo's intake sits in the custody
log. `PhotoContent` holds the encrypted bytes of the original and of its display
copy and thumbnail, in the same transaction as the record (promise 8).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class PhotoView(StrEnum):
    OVERVIEW = "overview"
    MID_RANGE = "mid-range"
    CLOSE_UP = "close-up"


class Variant(StrEnum):
    ORIGINAL = "original"  # byte-exact as taken
    DISPLAY = "display"  # oriented, resized, every metadata block stripped
    THUMBNAIL = "thumbnail"
    BLURRED = "blurred"  # what an intimate image shows until opened with a reason


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the Media id
    exam_id: Mapped[str] = mapped_column(sa.ForeignKey("exams.id"), nullable=False, index=True)
    slot: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # its exam entry
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    injury_slot: Mapped[str | None] = mapped_column(sa.String(64))
    view: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    body_region: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    body_site: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    is_scale_in_frame: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    is_intimate: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    # The original as checked at intake.
    content_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    byte_size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    width: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    height: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    taken_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    # The per-photo data key, wrapped (AES-256-GCM) by the media key `key_id`.
    key_id: Mapped[str] = mapped_column(sa.String(16), nullable=False, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary(), nullable=False)
    # The intake event in the custody log.
    # Its leaf index, set once when the log integrates it (NULL until then).
    log_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    # When it was retired (its Media entered-in-error); a retired photo no longer
    # holds its file's place, so the same file can be recorded again, rightly.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("exam_id", "slot", name="photo_exam_slot_unique"),
        # The same file twice among an exam's photos in use is refused; across exams
        # it says nothing (a database-wide check would tell of a photo in another
        # site's exam).
        sa.Index(
            "photo_exam_sha256_unique",
            "exam_id",
            "sha256",
            unique=True,
            sqlite_where=sa.text("retired_at IS NULL"),
            postgresql_where=sa.text("retired_at IS NULL"),
        ),
        sa.CheckConstraint(
            "view IN (" + ", ".join(f"'{v.value}'" for v in PhotoView) + ")",
            name="photo_view_known",
        ),
        sa.CheckConstraint("byte_size > 0", name="photo_size_positive"),
    )

    def leaf_fields(self) -> dict[str, object]:
        """What the custody log hashes at intake: the photo's id, its SHA-256 and
        size, when and by whom, and nothing clinical (no body site, not whether it
        is intimate), so a proof handed to one party reveals nothing else."""
        from clinic.core.clock import isoformat

        return {
            "photo": self.id,
            "action": "photographed",
            "at": isoformat(self.taken_at),
            "by": self.taken_by,
            "site": self.site_id,
            "sha256": self.sha256,
            "size": self.byte_size,
        }

    def leaf(self) -> bytes:
        """The intake event as the custody log holds it (RFC 8785 JSON)."""
        import rfc8785

        return rfc8785.dumps(self.leaf_fields())  # type: ignore[arg-type]


class PhotoContent(Base):
    """The encrypted bytes of one variant of a photo (AES-256-GCM under the photo's
    data key; the nonce is stored with it)."""

    __tablename__ = "photo_contents"

    photo_id: Mapped[str] = mapped_column(sa.ForeignKey("photos.id"), primary_key=True)
    variant: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # of the plain bytes
    # A derived copy names the original it was made from (its SHA-256).
    derived_from_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    nonce: Mapped[bytes] = mapped_column(sa.LargeBinary(length=12), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary(), nullable=False)
    # How it was sealed (clinic.media.vault: 1 = photo and variant bound, 2 = the
    # content type too). Rows from before 0014 are 1.
    format: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, server_default="1")

    __table_args__ = (
        sa.CheckConstraint(
            "variant IN (" + ", ".join(f"'{v.value}'" for v in Variant) + ")",
            name="photo_variant_known",
        ),
    )
