"""The exam's operational index. The clinical record is FHIR (an Encounter, its
Observations and MedicationAdministrations, and at sign-off a Composition); these
tables say which exam each resource belongs to, where the exam stands, and every
amendment made after sign-off (append-only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class ExamStatus(StrEnum):
    IN_PROGRESS = "in-progress"  # steps saved as they are filled; resumable
    SIGNED = "signed"  # read-only: corrections are amendments


class Exam(Base):
    __tablename__ = "exams"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the Encounter id
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by: Mapped[str | None] = mapped_column(sa.String(64))
    report_id: Mapped[str | None] = mapped_column(sa.String(64))  # the Composition id

    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s.value}'" for s in ExamStatus) + ")",
            name="exam_status_known",
        ),
    )


class ExamEntry(Base):
    """One resource of an exam, under the slot that names its place in the exam
    ("timing", "acts", "vital:8867-4", "injury:3", "treatment:1", ...)."""

    __tablename__ = "exam_entries"

    exam_id: Mapped[str] = mapped_column(sa.ForeignKey("exams.id"), primary_key=True)
    slot: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)  # order of recording


class ExamAmendment(Base):
    """A correction after sign-off: what changed (the resource and its versions
    before and after), why, who and when. Append-only."""

    __tablename__ = "exam_amendments"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    exam_id: Mapped[str] = mapped_column(sa.ForeignKey("exams.id"), nullable=False, index=True)
    slot: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    resource: Mapped[str] = mapped_column(sa.String(140), nullable=False)  # Type/id
    from_version: Mapped[int | None] = mapped_column(sa.Integer)  # None: added after sign-off
    to_version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    what: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    amended_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    amended_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
