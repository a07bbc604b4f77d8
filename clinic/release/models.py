"""Release requests from police forces: the operational record behind each FHIR
Task a force files (docs/design.md section 7). Which case a request matches is the
clinic's knowledge only; the force sees the same answer whatever it cited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, JSONText, UTCDateTime


class RequestStatus(StrEnum):
    AWAITING = "awaiting-decision"  # what the force sees until a release is approved
    APPROVED = "approved"  # a clinic user approved what her consent permits
    WITHDRAWN = "consent-withdrawn"  # approved once; her consent no longer permits it


class ReleaseRequest(Base):
    __tablename__ = "release_requests"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    force_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    filed_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cited_reference: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    crime_reference: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    requested: Mapped[list[str]] = mapped_column(JSONText, nullable=False)
    # The case the cited reference or kit label names, if any: never shown to police.
    case_id: Mapped[str | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(24), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))  # username
    # What was approved: versioned references, and the Consents that permitted it.
    approved: Mapped[list[str] | None] = mapped_column(JSONText)
    consents: Mapped[list[str] | None] = mapped_column(JSONText)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who recorded the withdrawal or narrowing that stopped or narrowed the release.
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(64))  # username
    # She narrowed her consent after approval: the approved set was narrowed to what
    # she still permits, and the force is shown this date (never what was removed).
    narrowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    narrowed_by: Mapped[str | None] = mapped_column(sa.String(64))  # username
    # Every download: {"bundle": id, "at": instant, "by": username}. What was
    # delivered stays recorded after a withdrawal (promise 4).
    delivered: Mapped[list[dict[str, str]] | None] = mapped_column(JSONText)

    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s.value}'" for s in RequestStatus) + ")",
            name="release_status_known",
        ),
    )
