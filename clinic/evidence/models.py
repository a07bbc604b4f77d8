from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from clinic.core.db import Base, UTCDateTime


class EvidenceKind(StrEnum):
    KIT = "kit"
    SWAB = "swab"
    BLOOD = "blood"
    URINE = "urine"
    CLOTHING = "clothing"
    HAIR = "hair"
    FINGERNAIL = "fingernail"
    DEBRIS = "debris"
    OTHER = "other"


class CustodyState(StrEnum):
    COLLECTED = "collected"  # with the examiner, not yet sealed
    SEALED = "sealed"  # sealed, not yet in storage
    STORED = "stored"  # in the clinic's evidence store
    CHECKED_OUT = "checked-out"  # with a named member of staff
    TRANSFERRED = "transferred"  # with a lab or police force
    RETURNED = "returned"  # back at the clinic, not yet stored again
    DESTROYED = "destroyed"  # final
    DECLINED = "declined"  # offered and declined: never collected


class EvidenceItem(Base):
    """The operational record of a kit or an item: what custodians handle. Its
    id is the id of its FHIR Specimen. The custody columns follow from the
    custody events; custody actions lock this row."""

    __tablename__ = "evidence_items"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    case_id: Mapped[str | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kit_id: Mapped[str | None] = mapped_column(sa.ForeignKey("evidence_items.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    container: Mapped[str | None] = mapped_column(sa.String(120))
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    seal_number: Mapped[str | None] = mapped_column(sa.String(40))
    is_seal_intact: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    holder: Mapped[str | None] = mapped_column(sa.String(200))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    storage_condition: Mapped[str | None] = mapped_column(sa.String(16))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    disposal_due: Mapped[date | None] = mapped_column(sa.Date)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k.value}'" for k in EvidenceKind) + ")", name="kind_known"
        ),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s.value}'" for s in CustodyState) + ")", name="state_known"
        ),
        sa.CheckConstraint(
            "storage_condition IS NULL OR storage_condition IN ('ambient', 'fridge', 'freezer')",
            name="condition_known",
        ),
    )


class CustodyEvent(Base):
    """One custody action on one item, as it happened. Append-only; each row is a
    leaf of the `custody` Merkle log."""

    __tablename__ = "custody_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # Its leaf index, set once when the log integrates it (NULL until then).
    log_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    item_id: Mapped[str] = mapped_column(
        sa.ForeignKey("evidence_items.id"), nullable=False, index=True
    )
    item_label: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    site_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    recorded_by_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    from_holder: Mapped[str | None] = mapped_column(sa.String(200))
    to_holder: Mapped[str | None] = mapped_column(sa.String(200))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    storage_condition: Mapped[str | None] = mapped_column(sa.String(16))
    seal_number: Mapped[str | None] = mapped_column(sa.String(40))
    is_seal_intact: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    receiver_name: Mapped[str | None] = mapped_column(sa.String(200))
    receiver_organization: Mapped[str | None] = mapped_column(sa.String(64))
    second_person: Mapped[str | None] = mapped_column(sa.String(64))
    # SHA-256 of the receiver's signature (PNG in custody_signatures), on transfers.
    receiver_signature: Mapped[str | None] = mapped_column(
        sa.ForeignKey("custody_signatures.sha256")
    )
    note: Mapped[str | None] = mapped_column(sa.Text)
    # On sealing and on retention changes: the date from which the item may be destroyed.
    disposal_due: Mapped[date | None] = mapped_column(sa.Date)

    def leaf_fields(self) -> dict[str, object]:
        """What the custody log hashes: the facts of the event, and no clinical
        content (no patient, no body site), so that a proof given to one party
        reveals nothing about anyone else."""
        from clinic.core.clock import isoformat

        fields: dict[str, object] = {
            "item": self.item_label,
            "action": self.action,
            "at": isoformat(self.occurred_at),
            "by": self.recorded_by_name,
            "site": self.site_id,
            "from": self.from_holder,
            "to": self.to_holder,
            "location": self.location,
            "condition": self.storage_condition,
            "seal": self.seal_number,
            "sealIntact": self.is_seal_intact,
            "receiver": self.receiver_name,
            "receiverOrganization": self.receiver_organization,
            "secondPerson": self.second_person,
            "receiverSignatureSha256": self.receiver_signature,
            "note": self.note,
        }
        # Added only when set, so that events recorded before retention existed
        # keep the leaf bytes they were logged with.
        if self.disposal_due is not None:
            fields["disposalDue"] = self.disposal_due.isoformat()
        return fields


class CustodySignature(Base):
    """A signature drawn on screen (a receipt), kept byte-exact. Append-only."""

    __tablename__ = "custody_signatures"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    png: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    width: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    height: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AgeGroup(StrEnum):
    ADULT = "adult"
    MINOR = "minor"


class CountedFrom(StrEnum):
    COLLECTION = "collection"  # the day the kit was collected
    MAJORITY = "majority"  # the survivor's 18th birthday (minors only)


class RetentionRule(Base):
    """How long a site keeps evidence, by the case's reporting mode and the
    survivor's age group. Set by the site's administrators; a change applies to
    kits sealed afterwards (a date once given to a survivor is never shortened)."""

    __tablename__ = "retention_rules"

    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    reporting_mode: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    age_group: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    years: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    months: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    counted_from: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (
        sa.CheckConstraint("years >= 0 AND months >= 0 AND months < 12", name="period_valid"),
        sa.CheckConstraint("years * 12 + months > 0", name="period_positive"),
        sa.CheckConstraint("age_group IN ('adult', 'minor')", name="age_group_known"),
        sa.CheckConstraint("counted_from IN ('collection', 'majority')", name="counted_from_known"),
    )


class SiteEvidencePolicy(Base):
    """A site's evidence deadlines: how long items may stay with a lab or police
    before they show as overdue, how far a survivor's objection extends the
    disposal date, and how early items show as coming due."""

    __tablename__ = "site_evidence_policies"

    site_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    transfer_limit_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    objection_extension_months: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    coming_due_days: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (
        sa.CheckConstraint(
            "transfer_limit_days > 0 AND objection_extension_months > 0 AND coming_due_days > 0",
            name="periods_positive",
        ),
    )


class StorageLocation(Base):
    """A place in a site's evidence store (a fridge, a shelf, a locker). Items are
    stored only in a site's active locations; a location is retired, never deleted."""

    __tablename__ = "storage_locations"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    site_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    condition: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)

    __table_args__ = (
        sa.UniqueConstraint("site_id", "name"),
        sa.CheckConstraint(
            "condition IN ('ambient', 'fridge', 'freezer')", name="location_condition_known"
        ),
    )
