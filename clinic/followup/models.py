"""Follow-up's operational index. Her plan is a FHIR CarePlan (the clinical record,
versioned); these tables say which case and exam it belongs to and hold each item's
due date and status, which the counsellor's caseload sorts and filters without
parsing FHIR. Every change to an item is a new CarePlan version as well."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime
from clinic.followup.terms import ITEM_KINDS, ITEM_STATUS, PLAN_STATUS, RESPONSIBLE


def _known(column: str, values: object) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)  # type: ignore[attr-defined]
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


class FollowUpPlan(Base):
    __tablename__ = "followup_plans"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the CarePlan id
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    # One plan per exam: it is proposed at the exam's sign-off.
    exam_id: Mapped[str] = mapped_column(sa.ForeignKey("exams.id"), nullable=False, unique=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    agreed_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # username

    __table_args__ = (_known("status", PLAN_STATUS),)


class FollowUpItem(Base):
    """One item of a plan, in the plan's order (CarePlan.activity[position])."""

    __tablename__ = "followup_items"

    plan_id: Mapped[str] = mapped_column(sa.ForeignKey("followup_plans.id"), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    label: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    responsible: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    service_kind: Mapped[str | None] = mapped_column(sa.String(32))

    __table_args__ = (
        _known("kind", ITEM_KINDS),
        _known("status", ITEM_STATUS),
        _known("responsible", RESPONSIBLE),
    )
