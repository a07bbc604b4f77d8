"""Originals of released photographs, downloaded by the officers of the force
(docs/design.md section 7): the release bundle lists each one (Media with size and
SHA-256, and the custody-log proof of its intake); its bytes are fetched here,
audited, for as long as the release stands.

A photograph is handed out only if it is in the approved release, unchanged since
approval, not retired as entered in error, and her Consents still release it to that force now (the decision point,
operation `release`: never an intimate image). A withdrawal or her end date stops
the link at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from clinic.access import Action, Actor, decide, require
from clinic.access.policy import RELEASE
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.consent.book import consent_book
from clinic.core.clock import isoformat, utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore
from clinic.i18n.sentences import Day, sentence
from clinic.media.models import Photo, Variant
from clinic.media.vault import DatabasePhotoStore, Keyring, VaultError, open_content
from clinic.release.bundle import ReleaseUnavailable
from clinic.release.models import ReleaseRequest, RequestStatus
from clinic.release.services import RequestNotFound, force_actor, request_facts


@dataclass(frozen=True)
class ReleasedOriginal:
    content_type: str
    data: bytes
    filename: str


def released_original(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    keyring: Keyring,
    *,
    actor: Actor,
    request_id: str,
    photo_id: str,
    channel: str = "web",
) -> ReleasedOriginal:
    """The original of a photograph in an approved release, for an officer of its
    force (see the module's rules). Anything else is answered as not found."""
    require(actor, Action.READ, "ReleaseRequest")
    request = uow.session.scalar(
        sa.select(ReleaseRequest).where(ReleaseRequest.id == request_id).with_for_update()
    )
    if (
        request is None
        or not decide(actor, Action.READ, "ReleaseRequest", request_facts(request)).permitted
    ):
        raise RequestNotFound(sentence("There is no such request."))
    approved = {
        reference.rsplit("/_history/", 1)[0]: reference for reference in request.approved or []
    }
    photo = uow.session.get(Photo, photo_id)
    if photo is None or f"Media/{photo_id}" not in approved:
        raise RequestNotFound(sentence("There is no such photograph in this release."))
    if request.status != RequestStatus.APPROVED:
        raise ReleaseUnavailable(
            sentence(
                "This photograph can no longer be downloaded: consent withdrawn on %(day)s.",
                day=Day(request.withdrawn_at.date(), request.withdrawn_at.date().isoformat()),
            )
            if request.withdrawn_at
            else sentence("This photograph can no longer be downloaded: the release was stopped.")
        )
    version = ResourceStore(uow.session, registry).current("Media", photo_id)
    assert version is not None
    if version.content.get("status") == "entered-in-error":
        # Retired by the clinic as entered in error: never released, whatever was
        # approved before (the bundle itself then needs approving again).
        raise ReleaseUnavailable(
            sentence(
                "This photograph can no longer be downloaded: the clinic withdrew it from "
                "the record as entered in error."
            )
        )
    force = uow.session.get(Organization, request.force_id)
    assert force is not None
    decision = decide(
        force_actor(force),
        Action.EXPORT,
        "Media",
        version.facts(),
        operation=RELEASE,
        consents=consent_book(uow),
        at=utcnow(),
    )
    if version.versioned_reference != approved[f"Media/{photo_id}"] or not decision.permitted:
        raise ReleaseUnavailable(
            sentence(
                "This photograph can no longer be downloaded: the survivor's permission no "
                "longer covers it."
            )
        )
    try:
        _, data = open_content(DatabasePhotoStore(uow.session), keyring, photo, Variant.ORIGINAL)
    except VaultError as error:
        raise ReleaseUnavailable(
            sentence("This photograph cannot be opened at the moment; the clinic has been told.")
        ) from error
    delivered = list(request.delivered or [])
    delivered.append({"photo": photo.id, "at": isoformat(utcnow()), "by": actor.username})
    request.delivered = delivered
    uow.audit(
        AuditRecord(
            kind=EventKind.EXPORT,
            channel=channel,
            actor=actor,
            entities=(f"Task/{request.id}", version.versioned_reference),
            reasons=("released photograph downloaded", *(request.consents or [])),
        )
    )
    extension = ".png" if photo.content_type == "image/png" else ".jpg"
    return ReleasedOriginal(photo.content_type, data, f"photo-{photo.id}{extension}")
