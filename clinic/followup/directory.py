"""The directory of partner services of each site (refuge, advocate, legal aid,
housing, ...): who they are, how to reach them, the languages they work in, whom
they accept, and whether they have an account here (if not, they get the printed
letter). Administrators keep it; examiners and counsellors of the site read it to
refer. Every read and change goes through the decision point (kind
`HealthcareService`) and is audited."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from clinic.access import Action, Actor, Decision, ResourceFacts, decide, require
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.followup.referral_models import PartnerService
from clinic.followup.terms import SERVICE_KINDS
from clinic.i18n.sentences import sentence

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
# The longest text kept for each field, in characters.
LIMITS = {
    "name": 200,
    "organisation": 200,
    "phone": 40,
    "email": 200,
    "address": 400,
    "accepts": 1000,
    "languages": 200,
}


class DirectoryRefused(DomainError):
    """An entry the directory cannot hold; the message says why."""


class ServiceNotFound(DirectoryRefused):
    """No such entry, or one refused (`decision`, for the audit): the same answer."""

    def __init__(self, decision: Decision | None = None) -> None:
        super().__init__("No such partner service.", "service")
        self.decision = decision


@dataclass(frozen=True)
class ServiceEntry:
    """A partner service as an administrator types it."""

    kind: str
    name: str
    organisation: str
    phone: str = ""
    email: str = ""
    address: str = ""
    languages: str = "en"
    accepts: str = ""
    has_account: bool = False


def service_facts(service: PartnerService) -> ResourceFacts:
    return ResourceFacts("HealthcareService", service.id, site_id=service.site_id)


def _checked(entry: ServiceEntry) -> dict[str, str]:
    if entry.kind not in SERVICE_KINDS:
        raise DirectoryRefused(sentence("Choose the kind of service."), "kind")
    values = {
        name: (getattr(entry, name) or "").strip()
        for name in ("name", "organisation", "phone", "email", "address", "accepts", "languages")
    }
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            raise DirectoryRefused(
                sentence("Keep this to %(count)s characters.", count=limit), name
            )
    if not values["name"]:
        raise DirectoryRefused(sentence("Name the service."), "name")
    if not values["organisation"]:
        raise DirectoryRefused(sentence("Name the organisation that runs it."), "organisation")
    if not values["phone"] and not values["email"] and not values["address"]:
        raise DirectoryRefused(sentence("Give at least one way to reach them."), "phone")
    languages = values["languages"].lower().replace(",", " ").split()
    if not languages or not all(_LANGUAGE.match(code) for code in languages):
        raise DirectoryRefused(
            sentence("List the languages as codes separated by spaces, such as: en fr es."),
            "languages",
        )
    values["languages"] = " ".join(dict.fromkeys(languages))
    return values


def add_service(
    uow: UnitOfWork, *, actor: Actor, site_id: str, entry: ServiceEntry, channel: str = "web"
) -> PartnerService:
    """A new partner service in a site's directory. Nothing is written unless every
    field is acceptable."""
    require(actor, Action.CREATE, "HealthcareService")
    if uow.session.get(Organization, site_id) is None:
        raise DirectoryRefused(sentence("Choose the site whose directory this is."), "site")
    values = _checked(entry)
    service = PartnerService(
        id=str(uuid.uuid4()),
        site_id=site_id,
        kind=entry.kind,
        has_account=entry.has_account,
        active=True,
        **{
            name: value or None if name in ("phone", "email", "address") else value
            for name, value in values.items()
        },
    )
    decision = require(actor, Action.CREATE, "HealthcareService", service_facts(service))
    uow.session.add(service)
    uow.session.flush()
    _audit(uow, actor, EventKind.CREATE, (service,), decision.reasons, channel)
    return service


def set_active(
    uow: UnitOfWork, *, actor: Actor, service_id: str, active: bool, channel: str = "web"
) -> PartnerService:
    """Take a service off the directory (no new referrals to it) or put it back."""
    service = uow.session.get(PartnerService, service_id)
    if (
        service is None
        or not decide(actor, Action.UPDATE, "HealthcareService", service_facts(service)).permitted
    ):
        raise ServiceNotFound()
    service.active = active
    uow.session.flush()
    _audit(
        uow,
        actor,
        EventKind.UPDATE,
        (service,),
        ("listed" if active else "taken off the directory",),
        channel,
    )
    return service


def directory(
    uow: UnitOfWork,
    *,
    actor: Actor,
    site_id: str | None = None,
    only_active: bool = False,
    channel: str = "web",
) -> list[PartnerService]:
    """The partner services the actor may read (one site's when `site_id` is given),
    by kind then name. Audited as one search naming every entry shown."""
    require(actor, Action.SEARCH, "HealthcareService")
    query = sa.select(PartnerService).order_by(PartnerService.kind, PartnerService.name)
    if site_id is not None:
        query = query.where(PartnerService.site_id == site_id)
    if only_active:
        query = query.where(PartnerService.active.is_(True))
    found = [
        service
        for service in uow.session.scalars(query)
        if decide(actor, Action.READ, "HealthcareService", service_facts(service)).permitted
    ]
    _audit(uow, actor, EventKind.SEARCH, tuple(found), ("the partner directory",), channel)
    return found


def read_service(uow: UnitOfWork, *, actor: Actor, service_id: str) -> PartnerService:
    """One entry, for a referral; another site's entry or a guessed id is not known."""
    service = uow.session.get(PartnerService, service_id)
    if service is None:
        raise ServiceNotFound()
    decision = decide(actor, Action.READ, "HealthcareService", service_facts(service))
    if not decision.permitted:
        raise ServiceNotFound(decision)
    return service


# Partner organisations are served as Organization with ids the versioned store never
# gives (it gives UUIDs): this prefix and a digest of the site and the organisation's
# name, so that the services one organisation runs for a site share one id.
ORGANISATION_PREFIX = "partner-"


def organisation_id(service: PartnerService) -> str:
    """The stable id of the organisation that runs `service`, for its site."""
    key = f"{service.site_id}\n{' '.join(service.organisation.split()).casefold()}"
    return ORGANISATION_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]


def is_organisation_id(logical_id: str) -> bool:
    return logical_id.startswith(ORGANISATION_PREFIX)


def read_organisation(uow: UnitOfWork, *, actor: Actor, organisation: str) -> list[PartnerService]:
    """The services of one partner organisation the actor may read, by name: she may
    read the organisation when she may read one of its services (staff of that site).
    Another site's organisation or a guessed id is not known."""
    if not is_organisation_id(organisation):
        raise ServiceNotFound()
    query = sa.select(PartnerService).order_by(PartnerService.name, PartnerService.id)
    found: list[PartnerService] = []
    refused: Decision | None = None
    for service in uow.session.scalars(query):
        if organisation_id(service) != organisation:
            continue
        decision = decide(actor, Action.READ, "HealthcareService", service_facts(service))
        if decision.permitted:
            found.append(service)
        else:
            refused = refused or decision
    if not found:
        raise ServiceNotFound(refused)  # the refusal, for the audit only
    return found


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    services: tuple[PartnerService, ...],
    reasons: tuple[str, ...],
    channel: str,
) -> None:
    uow.audit(
        AuditRecord(
            kind=kind,
            channel=channel,
            actor=actor,
            entities=tuple(f"HealthcareService/{service.id}" for service in services),
            reasons=reasons,
        )
    )
