"""What may be released to a police force: the releasable set of a case.

The set is computed, never picked by hand: every record about her is put to the
decision point as an export to that force (operation `release`), and exactly the
records her active Consents permit come back, with the decision's obligations
applied. Requests, approval, the signed bundle and handover build on this.
"""

from __future__ import annotations

from datetime import datetime

from clinic.access import Action, Actor, Role, decide, require
from clinic.access.policy import RELEASABLE_KINDS, RELEASE
from clinic.access.roles import OrganizationKind
from clinic.accounts.models import Organization
from clinic.cases.services import CaseNotFound, _load_case
from clinic.consent.book import consent_book
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.services import fulfil
from clinic.fhir.store import ResourceStore, StoredVersion


class ReleaseRefused(DomainError):
    """A release question that cannot be answered as asked; names the field."""


def force_actor(force: Organization) -> Actor:
    """A police force as the recipient of a release (no one officer in particular)."""
    return Actor(
        user_id="", username=f"force:{force.code}", role=Role.POLICE, organization_id=force.id
    )


def releasable(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    force_id: str,
    at: datetime | None = None,
) -> list[StoredVersion]:
    """The records of a case her Consents release to a police force at `at` (now by
    default), for a clinic user of her site who prepares or approves a release."""
    require(actor, Action.READ, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ReleaseRefused("No such case.", "case_id") from missing
    force = uow.session.get(Organization, force_id)
    if force is None or force.kind != OrganizationKind.POLICE:
        raise ReleaseRefused("Choose a police force.", "force_id")
    recipient = force_actor(force)
    consents = consent_book(uow)
    store = ResourceStore(uow.session, registry)
    released: list[StoredVersion] = []
    for kind in sorted(RELEASABLE_KINDS):
        for version in store.of_subject(kind, f"Patient/{case.patient_id}"):
            decision = decide(
                recipient,
                Action.EXPORT,
                kind,
                version.facts(),
                operation=RELEASE,
                consents=consents,
                at=at,
            )
            if decision.permitted:
                released.append(fulfil(decision, version))
    return released
