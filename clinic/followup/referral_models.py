"""The referral directory and her referrals, as the clinic's operational tables.

A partner service is one entry of a site's directory (what the FHIR API will show
as an Organization offering a HealthcareService); a referral is hers, to one partner
service of her site, with its status and outcome and what travelled with it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime
from clinic.followup.terms import REFERRAL_STATUS, SERVICE_KINDS


def _known(column: str, values: object) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)  # type: ignore[attr-defined]
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


class PartnerService(Base):
    """A partner service of a site's directory: who they are, how to reach them, the
    languages they work in and whom they accept. Kept by administrators."""

    __tablename__ = "partner_services"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    organisation: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(400))
    # Language codes, space-separated ("en fr").
    languages: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="en")
    accepts: Mapped[str] = mapped_column(sa.String(1000), nullable=False, default="")
    # A partner without an account in this system gets the printed letter.
    has_account: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)

    __table_args__ = (_known("kind", SERVICE_KINDS),)


class Referral(Base):
    """Her referral to a partner service (a ServiceRequest with a Task for its status)."""

    __tablename__ = "followup_referrals"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("followup_plans.id"), nullable=False, index=True
    )
    # The plan item "referral she wants" this referral carries out, if any.
    position: Mapped[int | None] = mapped_column(sa.Integer)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), nullable=False)
    service_id: Mapped[str] = mapped_column(sa.ForeignKey("partner_services.id"), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    # What travelled with it, as decided by her consent: data classes, space-separated.
    shared: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    language: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    outcome: Mapped[str | None] = mapped_column(sa.String(1000))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    made_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_by: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (_known("status", REFERRAL_STATUS),)
