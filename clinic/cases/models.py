"""The case: one survivor's episode of care at one site, known by its case
reference. The clinical record of the case is a FHIR EpisodeOfCare; this table is
its operational index (site, reference, reporting mode, age group), which
retention and release matching read without parsing FHIR."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class ReportingMode(StrEnum):
    """docs/design.md section 5. Changeable at the survivor's word, with who, when, why."""

    REPORTED = "reported"  # police involved
    UNREPORTED = "unreported"  # evidence held, police not told
    ANONYMOUS = "anonymous"  # no identity held; the case reference only


class ProxyRelationship(StrEnum):
    PARENT = "parent"
    GUARDIAN = "guardian"
    LEGAL_REPRESENTATIVE = "legal-representative"
    OTHER = "other"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the EpisodeOfCare id
    reference: Mapped[str] = mapped_column(sa.String(20), nullable=False, unique=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    reporting_mode: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    is_anonymous: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    # Age in whole years at registration (from the birth date, or as told when
    # anonymous); None when not known. A minor's case records a proxy.
    age_at_registration: Mapped[int | None] = mapped_column(sa.Integer)
    is_minor: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    opened_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    # The language she reads (e.g. "es"): everything printed for her (her case card,
    # aftercare and appointment cards, referral letters) is in it, whatever the
    # language of the staff member's screens. None: that of her latest consent.
    language: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        sa.CheckConstraint(
            "reporting_mode IN (" + ", ".join(f"'{m.value}'" for m in ReportingMode) + ")",
            name="reporting_mode_known",
        ),
    )


class ReportingModeChange(Base):
    """Every change of a case's reporting mode: who recorded it, when, why and how
    the survivor told us. Append-only."""

    __tablename__ = "case_reporting_mode_changes"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    from_mode: Mapped[str | None] = mapped_column(sa.String(16))  # None: at registration
    to_mode: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    changed_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # username
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
