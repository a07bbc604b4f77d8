"""The places in a site's evidence store. Custodians add and retire them; items are
stored only in an active location of their own site, whose condition (ambient,
fridge, freezer) becomes the item's storage condition."""

from __future__ import annotations

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.audit.services import AuditRecord, EventKind
from clinic.core.errors import DomainError
from clinic.core.numbers import small_whole_number
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import StorageLocation
from clinic.i18n import N_
from clinic.i18n.sentences import sentence

CONDITIONS = ("ambient", "fridge", "freezer")


class LocationRefused(DomainError):
    """A storage location change the rules do not allow."""


def location_facts(location: StorageLocation) -> ResourceFacts:
    return ResourceFacts("StorageLocation", str(location.id), site_id=location.site_id)


def site_locations(
    uow: UnitOfWork, site_id: str, *, include_retired: bool = False
) -> list[StorageLocation]:
    """A site's locations by name; for choosing where to store (no access check:
    names of shelves are not records about anyone)."""
    query = sa.select(StorageLocation).where(StorageLocation.site_id == site_id)
    if not include_retired:
        query = query.where(StorageLocation.is_active.is_(True))
    return list(uow.session.scalars(query.order_by(StorageLocation.name)))


def add_location(uow: UnitOfWork, *, actor: Actor, name: str, condition: str) -> StorageLocation:
    require(actor, Action.CREATE, "StorageLocation")
    name = " ".join(name.split())
    if not name:
        raise LocationRefused(N_("Give the location a name."), "name")
    if condition not in CONDITIONS:
        raise LocationRefused(N_("Choose ambient, fridge or freezer."), "condition")
    existing = uow.session.scalar(
        sa.select(StorageLocation).where(
            StorageLocation.site_id == actor.organization_id, StorageLocation.name == name
        )
    )
    if existing is not None:
        raise LocationRefused(
            sentence(
                "%(name)s already exists: locations keep their names for the chain of custody.",
                name=name,
            )
            if existing.is_active
            else sentence(
                "%(name)s already exists (retired): locations keep their names for the chain "
                "of custody.",
                name=name,
            ),
            "name",
        )
    location = StorageLocation(
        site_id=actor.organization_id, name=name, condition=condition, is_active=True
    )
    uow.session.add(location)
    uow.session.flush()
    require(actor, Action.CREATE, "StorageLocation", location_facts(location))
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor,
            entities=(f"StorageLocation/{location.id}",),
            reasons=("storage location added",),
        )
    )
    return location


def retire_location(uow: UnitOfWork, *, actor: Actor, location_id: str) -> StorageLocation:
    """Retired locations take no new items; items already there stay recorded there."""
    require(actor, Action.UPDATE, "StorageLocation")
    number = small_whole_number(location_id)
    location = uow.session.get(StorageLocation, number) if number is not None else None
    if (
        location is None
        or not decide(actor, Action.UPDATE, "StorageLocation", location_facts(location)).permitted
    ):
        raise LocationRefused(N_("No such storage location here."))
    location.is_active = False
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor,
            entities=(f"StorageLocation/{location.id}",),
            reasons=("storage location retired",),
        )
    )
    return location
