"""Follow-up's operational index. Her plan is a FHIR CarePlan (the clinical record,
versioned); these tables say which case and exam it belongs to and hold each item's
due date and status, which the counsellor's caseload sorts and filters without
parsing FHIR. Every change to an item is a new CarePlan version as well."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime
from clinic.followup.terms import (
    APPOINTMENT_STATUS,
    CHANNELS,
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    ITEM_KINDS,
    ITEM_STATUS,
    PLAN_STATUS,
    RESPONSIBLE,
)


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
    # Back on the caseload for contact (a missed appointment), since when; cleared
    # when a new appointment is booked for the item.
    needs_contact: Mapped[str | None] = mapped_column(sa.String(32))
    needs_contact_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How she agreed to be contacted for follow-up (docs/design.md section 9): only
    # these channels, at these times; whether to ask her code word first.
    may_call: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    may_text: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    may_leave_voicemail: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    may_email: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    safe_times: Mapped[str | None] = mapped_column(sa.Text)
    asks_code_word: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # Her aftercare sheet carries the advice after pressure on the neck: decided once
    # from the signed exam when the examiner agrees the plan, so that every printing
    # is the same whoever prints it. None: agreed before this was kept (decided by
    # the service at the first printing, then kept; clinic/followup/take_home.py).
    neck_advice: Mapped[bool | None] = mapped_column(sa.Boolean)
    # The medicines she takes home or must know about (treatment codes of the exam,
    # space-separated, among take_home_words.MEDICINE_TREATMENTS), kept when the plan
    # is agreed: a course given is on her sheet whether or not its follow-up items
    # were kept. None: agreed before this was kept (worked out from the items).
    medicines_given: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def allowed_channels(self) -> tuple[str, ...]:
        return tuple(
            channel
            for channel, allowed in (
                ("call", self.may_call),
                ("text", self.may_text),
                ("voicemail", self.may_leave_voicemail),
                ("email", self.may_email),
            )
            if allowed
        )

    __table_args__ = (
        _known("status", PLAN_STATUS),
        sa.CheckConstraint(
            "needs_contact IS NULL OR needs_contact IN ("
            + ", ".join(f"'{reason}'" for reason in CONTACT_REASONS)
            + ")",
            name="needs_contact_known",
        ),
    )


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


class FollowUpAppointment(Base):
    """An appointment for an item of her plan (a FHIR Appointment): booked, then
    attended, missed or cancelled."""

    __tablename__ = "followup_appointments"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the Appointment id
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("followup_plans.id"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)  # the plan item
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    minutes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    booked_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_by: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        _known("status", APPOINTMENT_STATUS),
        sa.CheckConstraint("minutes BETWEEN 5 AND 480", name="minutes_in_range"),
        sa.ForeignKeyConstraint(
            ["plan_id", "position"],
            ["followup_items.plan_id", "followup_items.position"],
            name="fk_followup_appointments_item",
        ),
    )


class FollowUpContactAttempt(Base):
    """One attempt to contact her (a FHIR Communication): by which channel she
    allowed, when, by whom, and what came of it. Nothing is sent by the system."""

    __tablename__ = "followup_contact_attempts"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the Communication id
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("followup_plans.id"), nullable=False, index=True
    )
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempted_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (_known("channel", CHANNELS), _known("outcome", CONTACT_OUTCOMES))
