"""The safety assessment's operational index. Each assessment is a FHIR
RiskAssessment with her answers as a QuestionnaireResponse, and a high-risk case is
a FHIR Flag: these rows say which plan they belong to and hold the total and the
conclusion, which the caseload shows without parsing FHIR. Rows are only added,
never changed, except that a flag is ended when a later assessment is not high."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class SafetyAssessment(Base):
    __tablename__ = "safety_assessments"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the RiskAssessment id
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("followup_plans.id"), nullable=False, index=True
    )
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), nullable=False)
    answers_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # QuestionnaireResponse
    yes_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    threshold: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    is_high_risk: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    # High risk on professional judgement, with why (whatever the total).
    judgement_reason: Mapped[str | None] = mapped_column(sa.Text)
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    assessed_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (
        sa.CheckConstraint("yes_count >= 0", name="yes_count_not_negative"),
        sa.CheckConstraint(
            "judgement_reason IS NULL OR is_high_risk", name="judgement_means_high_risk"
        ),
    )


class SafetyFlag(Base):
    """A high-risk case flagged to the team (a FHIR Flag): raised by a high-risk
    assessment, ended by a later one that is not high."""

    __tablename__ = "safety_flags"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the Flag id
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("followup_plans.id"), nullable=False, index=True
    )
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), nullable=False)
    raised_by_assessment: Mapped[str] = mapped_column(
        sa.ForeignKey("safety_assessments.id"), nullable=False
    )
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
