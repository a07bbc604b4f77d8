"""Forensic photographs: taken during the exam, sealed, seen only as she allowed.

Rules (issue 14; docs/design.md promises 5, 8 and 9, section 8):

* A photograph is taken only where her photo Consent permits it to the examiners
  of her case: non-intimate photographs by its first item, intimate (anogenital)
  images only by the item that names them; a photo she declined is refused with
  her words, and nothing is stored. The decision point decides (operation
  `photograph` on kind Media).
* A photo belongs to an exam (its Media is one of the exam's records), optionally
  to one of its injuries; on a signed exam it is an amendment and needs a reason.
* The original is kept byte-exact and encrypted (`clinic.media.vault`); its SHA-256
  is appended to the custody log at intake, in the same transaction, so a release
  can prove the photo is the one taken. Display copy, thumbnail and the blurred
  stand-in of an intimate image are derived from the pixels alone and recorded as
  derived from the original's SHA-256.
* Reading: the decision point decides each photo with her Consents (kind Media;
  intimate images carry the label V and are seen only as her photo consent names).
  An intimate image shows blurred until opened with a reason; every opening and
  every download of an original is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require
from clinic.access.policy import DECLINED, PHOTOGRAPH
from clinic.access.roles import Role
from clinic.access.terms import VERY_RESTRICTED
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.consent.book import consent_book
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.exam import services as exam_services
from clinic.exam.models import Exam
from clinic.exam.resources import BODY_REGIONS
from clinic.fhir.canonical import CONFIDENTIALITY, SEXUAL_VIOLENCE_LABEL
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n.sentences import sentence
from clinic.ledger.merkle import leaf_hash
from clinic.ledger.services import mark_pending
from clinic.media.intake import (
    DISPLAY_TYPE,
    CheckedPhoto,
    Limits,
    PhotoRefused,
    check_photo,
)
from clinic.media.models import Photo, Variant
from clinic.media.resources import (
    VIEWS,
    Correction,
    corrected_media,
    corrections,
    photo_media,
)
from clinic.media.vault import (
    DatabasePhotoStore,
    Keyring,
    MediaKey,
    PhotoStore,
    PlainContent,
    VaultError,
    new_data_key,
    open_content,
    seal,
)

# The custody log (clinic.evidence.services.CUSTODY_LOG): one log for everything
# whose custody a release must prove.
CUSTODY_LOG = "custody"
PHOTO_FORM = "photo-documentation"


class MediaRefused(DomainError):
    """A photograph the rules do not allow; the message says why."""


class PhotoNotFound(MediaRefused):
    """No such photo, or one the caller may not see: the same answer for both."""


class MediaUnavailable(MediaRefused):
    """The media key cannot be used (missing, empty, damaged): no photograph can be
    stored or read until an administrator restores it; the message says why."""


def unavailable(error: VaultError) -> MediaUnavailable:
    return MediaUnavailable(
        sentence(
            "Photographs cannot be stored or read at the moment: %(error)s. An administrator "
            "must restore the media key from the key backup (`clinic media-key status` says "
            "what is wrong).",
            error=error.message,
        ),
        "photos",
    )


class PhotoRetired(MediaRefused):
    """A photo retired as entered in error: its copies are no longer served."""


RETIRED = "entered-in-error"


def is_retired(version: StoredVersion) -> bool:
    return version.content.get("status") == RETIRED


@dataclass(frozen=True)
class Vault:
    """Where photos are sealed: the media keys and the store of sealed bytes."""

    keyring: Keyring
    store: PhotoStore
    limits: Limits


def vault_for(uow: UnitOfWork, keyring: Keyring, limits: Limits) -> Vault:
    return Vault(keyring, DatabasePhotoStore(uow.session), limits)


@dataclass(frozen=True)
class Upload:
    """One file as received: its bytes and the name the device gave it."""

    filename: str | None
    data: bytes


@dataclass(frozen=True)
class PhotoDetails:
    """What the examiner says about the photographs taken together."""

    view: str
    region: str
    site: str
    scale_in_frame: bool
    intimate: bool
    injury_slot: str | None = None


# -- taking photographs -------------------------------------------------------------


def _labels(intimate: bool) -> frozenset[str]:
    confidentiality = "V" if intimate else "R"
    return frozenset({"|".join(SEXUAL_VIOLENCE_LABEL), f"{CONFIDENTIALITY}|{confidentiality}"})


def _check_details(details: PhotoDetails) -> None:
    if details.view not in VIEWS:
        raise MediaRefused(sentence("Choose the view: overview, mid-range or close-up."), "view")
    if details.region not in BODY_REGIONS:
        raise MediaRefused(sentence("Choose the body region."), "region")
    if not details.site.strip():
        raise MediaRefused(
            sentence("Say exactly where (side and place, e.g. “left forearm, inner side”)."), "site"
        )


def _check_consent(uow: UnitOfWork, actor: Actor, exam: Exam, intimate: bool) -> None:
    facts = ResourceFacts(
        "Media",
        "new",
        site_id=exam.site_id,
        subject=f"Patient/{exam.patient_id}",
        security_labels=_labels(intimate),
        data_classes=frozenset({"intimate-images" if intimate else "non-intimate-photos"}),
    )
    decision = decide(
        actor, Action.CREATE, "Media", facts, operation=PHOTOGRAPH, consents=consent_book(uow)
    )
    if decision.permitted:
        return
    declined = DECLINED in decision.reasons
    if intimate:
        raise MediaRefused(
            sentence(
                "She declined intimate images in her photo consent: none may be taken. If she "
                "changes her mind, record her new consent first (Her consent > Consent to "
                "photographs)."
            )
            if declined
            else sentence(
                "Her photo consent does not permit intimate images: none may be taken. If she "
                "changes her mind, record her new consent first (Her consent > Consent to "
                "photographs)."
            ),
            "intimate",
        )
    raise MediaRefused(
        sentence(
            "She declined photographs of her injuries in her photo consent. Record it first "
            "(Her consent > Consent to photographs); until then, describe injuries in words."
        )
        if declined
        else sentence(
            "Her consent to photographs is not recorded. Record it first (Her consent > "
            "Consent to photographs); until then, describe injuries in words."
        ),
        "photos",
    )


def take_photos(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    vault: Vault,
    *,
    actor: Actor,
    exam_id: str,
    uploads: Sequence[Upload],
    details: PhotoDetails,
    reason: str | None = None,
    channel: str = "web",
) -> list[Photo]:
    """Take one or more photographs during an exam (see the module's rules). All
    or nothing: one file refused refuses them all, and nothing is stored."""
    _check_details(details)
    if not uploads:
        raise MediaRefused(sentence("Take or choose at least one photograph."), "photos")
    try:
        exam = exam_services.exam_for_update(uow, actor, exam_id)
    except exam_services.ExamNotFound as error:
        raise PhotoNotFound(sentence("No such exam.")) from error
    exam_services.check_amendable(exam, reason)
    injury_id = None
    if details.injury_slot:
        injury_id = exam_services.injury_ids(uow, exam.id).get(details.injury_slot)
        if injury_id is None:
            raise MediaRefused(sentence("Choose one of this exam's injuries, or none."), "injury")
    _check_consent(uow, actor, exam, details.intimate)
    checked = [_checked(uow, exam, upload, vault.limits) for upload in uploads]
    seen: set[str] = set()
    for photo in checked:
        if photo.sha256 in seen:
            raise MediaRefused(sentence("The same photograph was chosen twice."), "photos")
        seen.add(photo.sha256)
    key = _media_key(uow, vault.keyring)
    store = ResourceStore(uow.session, registry)
    return [
        _intake(uow, registry, store, vault, key, actor, exam, photo, details, injury_id, reason)
        for photo in checked
    ]


def _checked(uow: UnitOfWork, exam: Exam, upload: Upload, limits: Limits) -> CheckedPhoto:
    try:
        photo = check_photo(upload.data, upload.filename, limits)
    except PhotoRefused as refused:
        raise MediaRefused(refused.message, "photos") from refused
    # Within this exam only: asked across the database, the answer would tell her
    # that a file is in another site's (another survivor's) record.
    if uow.session.scalar(
        sa.select(Photo.id).where(
            Photo.exam_id == exam.id, Photo.sha256 == photo.sha256, Photo.retired_at.is_(None)
        )
    ):
        raise _already_taken(upload.filename)
    return photo


def _already_taken(filename: str | None) -> MediaRefused:
    return MediaRefused(
        sentence("%(photo)s is already in this exam's record.", photo=filename)
        if filename
        else sentence("This photograph is already in this exam's record."),
        "photos",
    )


def _media_key(uow: UnitOfWork, keyring: Keyring) -> MediaKey:
    """The current media key; the first photograph of an instance creates it. A key
    missing while photos exist is refused: a new key would not open them."""
    if keyring.has_current():
        try:
            return keyring.current()
        except VaultError as error:
            raise unavailable(error) from error
    if uow.session.scalar(sa.select(sa.func.count()).select_from(Photo)):
        raise MediaUnavailable(
            sentence(
                "The media key is missing from the instance folder, so photographs can be "
                "neither stored nor read. An administrator must restore it from the key backup."
            ),
            "photos",
        )
    return keyring.create()


def _intake(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    store: ResourceStore,
    vault: Vault,
    key: MediaKey,
    actor: Actor,
    exam: Exam,
    photo: CheckedPhoto,
    details: PhotoDetails,
    injury_id: str | None,
    reason: str | None,
) -> Photo:
    photo_id = str(uuid.uuid4())
    now = utcnow()
    slot, number = exam_services.next_slot(uow, exam.id, "photo")
    media = photo_media(
        patient_id=exam.patient_id,
        exam_id=exam.id,
        taken_at=now,
        content_type=photo.content_type,
        data=photo.data,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        view=details.view,
        region=details.region,
        region_display=BODY_REGIONS[details.region],
        site_text=details.site.strip(),
        scale_in_frame=details.scale_in_frame,
        intimate=details.intimate,
        injury_id=injury_id,
        number=number,
    )
    what = f"Photograph {number} added" + (
        "" if details.intimate else f": {BODY_REGIONS[details.region]}, {details.site.strip()}"
    )
    exam_services.add_exam_record(
        uow,
        registry,
        actor=actor,
        exam=exam,
        slot=slot,
        resource=media,
        what=what,
        logical_id=photo_id,
        reason=reason,
    )
    copies = photo.copies
    data_key, wrapped = new_data_key(key, photo_id)
    row = Photo(
        id=photo_id,
        exam_id=exam.id,
        slot=slot,
        case_id=exam.case_id,
        site_id=exam.site_id,
        patient_id=exam.patient_id,
        injury_slot=details.injury_slot or None,
        view=details.view,
        body_region=details.region,
        body_site=details.site.strip(),
        is_scale_in_frame=details.scale_in_frame,
        is_intimate=details.intimate,
        content_type=photo.content_type,
        byte_size=len(photo.data),
        width=photo.width,
        height=photo.height,
        sha256=photo.sha256,
        taken_at=now,
        taken_by=actor.username,
        key_id=key.key_id,
        wrapped_key=wrapped,
        log_index=None,
        leaf_hash="",
    )
    row.leaf_hash = leaf_hash(row.leaf()).hex()
    mark_pending(uow.session, CUSTODY_LOG)
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
    except sa.exc.IntegrityError as error:
        # The same file saved into this exam by another request at the same moment:
        # the database's constraint decides, and the loser is told plainly.
        raise _already_taken(None) from error
    derived = photo.sha256
    seal(
        vault.store,
        data_key,
        photo_id,
        [
            PlainContent(Variant.ORIGINAL, photo.content_type, photo.data),
            PlainContent(Variant.DISPLAY, DISPLAY_TYPE, copies.display, derived),
            PlainContent(Variant.THUMBNAIL, DISPLAY_TYPE, copies.thumbnail, derived),
            PlainContent(Variant.BLURRED, DISPLAY_TYPE, copies.blurred, derived),
        ],
    )
    uow.session.flush()
    return row


# -- seeing photographs -------------------------------------------------------------


def slot_number(photo: Photo) -> int:
    """A photo's number in its exam (`photo:N`), given in the order taken. (Its
    custody-log index is no order: it is set later, when the log integrates it.)"""
    return int(photo.slot.split(":")[1])


@dataclass(frozen=True)
class PhotoCard:
    """A photo as the gallery shows it to one person."""

    photo: Photo
    media: StoredVersion
    number: int
    injury_number: str | None
    corrections: list[Correction] = field(default_factory=list)

    @property
    def is_intimate(self) -> bool:
        return self.photo.is_intimate

    @property
    def is_retired(self) -> bool:
        return is_retired(self.media)

    @property
    def retirement(self) -> Correction | None:
        return next((c for c in reversed(self.corrections) if c.change == "retired"), None)


def _corrections(store: ResourceStore, version: StoredVersion) -> list[Correction]:
    if version.version_id == 1:
        return []
    history = [store.version("Media", version.logical_id, n) for n in range(1, version.version_id)]
    return corrections([v.content for v in history if v is not None] + [version.content])


def _decide_read(uow: UnitOfWork, actor: Actor, version: StoredVersion) -> bool:
    """The care team reads photos by the baseline and her Consents; anyone whose
    access would carry an obligation (leave things out) does not see photos."""
    decision = decide(actor, Action.READ, "Media", version.facts(), consents=consent_book(uow))
    return decision.permitted and not decision.obligations


def photos_of_exam(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, exam_id: str
) -> list[PhotoCard]:
    """The exam's photos the actor may see, in the order taken (none for roles that
    never see photos); the listing itself is audited with the photos it shows."""
    if not decide(actor, Action.SEARCH, "Media").permitted:
        return []
    store = ResourceStore(uow.session, registry)
    cards = []
    for photo in sorted(
        uow.session.scalars(sa.select(Photo).where(Photo.exam_id == exam_id)), key=slot_number
    ):
        version = store.current("Media", photo.id)
        if version is None or not _decide_read(uow, actor, version):
            continue
        cards.append(
            PhotoCard(
                photo,
                version,
                slot_number(photo),
                photo.injury_slot.split(":")[1] if photo.injury_slot else None,
                _corrections(store, version),
            )
        )
    if cards:
        uow.audit(
            AuditRecord(
                kind=EventKind.SEARCH,
                channel="web",
                actor=actor,
                entities=tuple(card.media.versioned_reference for card in cards),
                reasons=("exam photographs listed",),
            )
        )
    return cards


def photos_for_expert(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor
) -> list[PhotoCard]:
    """The photographs of a medical expert's one case that her Consents let the
    expert see, in the order taken; each decided by the decision point
    (the case's Patient only narrows what is asked). Audited like a gallery."""
    if actor.expert_subject is None or not decide(actor, Action.SEARCH, "Media").permitted:
        return []
    store = ResourceStore(uow.session, registry)
    cards: list[PhotoCard] = []
    patient_id = actor.expert_subject.removeprefix("Patient/")
    for photo in sorted(
        uow.session.scalars(
            sa.select(Photo).where(
                Photo.patient_id == patient_id, Photo.site_id == actor.organization_id
            )
        ),
        key=lambda photo: (photo.taken_at, slot_number(photo)),
    ):
        version = store.current("Media", photo.id)
        if version is None or is_retired(version) or not _decide_read(uow, actor, version):
            continue
        # Numbered as in her exam (and on the page that opens one), not 1..n here.
        cards.append(PhotoCard(photo, version, slot_number(photo), None))
    if cards:
        uow.audit(
            AuditRecord(
                kind=EventKind.SEARCH,
                channel="web",
                actor=actor,
                entities=tuple(card.media.versioned_reference for card in cards),
                reasons=("photographs listed for the medical expert",),
            )
        )
    return cards


@dataclass(frozen=True)
class PhotoBytes:
    photo: Photo
    content_type: str
    data: bytes
    filename: str


def _load_photo(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    actor: Actor,
    photo_id: str,
    channel: str = "web",
    action: Action = Action.READ,
) -> tuple[Photo, StoredVersion]:
    """The photo and its Media, if the actor may see it; otherwise PhotoNotFound,
    the same for a photo of another site as for none, and the refusal audited."""
    require(actor, action, "Media")
    photo = uow.session.get(Photo, photo_id)
    version = ResourceStore(uow.session, registry).current("Media", photo_id) if photo else None
    if photo is None or version is None:
        _refused(uow, actor, action, f"Media/{photo_id}", ("no such photograph",), channel)
        raise PhotoNotFound(sentence("No such photograph."))
    decision = decide(actor, Action.READ, "Media", version.facts(), consents=consent_book(uow))
    if not decision.permitted or decision.obligations:
        _refused(uow, actor, action, version.versioned_reference, decision.reasons, channel)
        raise PhotoNotFound(sentence("No such photograph."))
    return photo, version


def _refused(
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    entity: str,
    reasons: Sequence[str],
    channel: str,
) -> None:
    """A refused photo request on the audit trail (promise 7): kept when the
    request's transaction is rolled back, with its failure outcome."""
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE if action is Action.UPDATE else EventKind.READ,
            channel=channel,
            actor=actor,
            outcome=Outcome.MINOR_FAILURE,
            outcome_desc="refused",
            entities=(entity,),
            reasons=tuple(reasons),
        )
    )


def photo_to_correct(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, photo_id: str
) -> PhotoCard:
    """A photograph an examiner of her site may correct (see `correct_photo`)."""
    photo, version = _load_photo(uow, registry, actor, photo_id, action=Action.UPDATE)
    try:
        exam_services.exam_for_update(uow, actor, photo.exam_id)
    except exam_services.ExamNotFound as error:
        raise PhotoNotFound(sentence("No such photograph.")) from error
    store = ResourceStore(uow.session, registry)
    return PhotoCard(
        photo,
        version,
        int(photo.slot.split(":")[1]),
        photo.injury_slot.split(":")[1] if photo.injury_slot else None,
        _corrections(store, version),
    )


def read_photo(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    keyring: Keyring,
    *,
    actor: Actor,
    photo_id: str,
    variant: Variant,
    reason: str | None = None,
    channel: str = "web",
) -> PhotoBytes:
    """One variant of a photo, audited. An intimate image's display copy and
    original are handed out only when opened on purpose, with a reason (its
    thumbnail is its blurred stand-in); the reason is kept in the audit trail."""
    if variant is Variant.ORIGINAL:
        # Handing out the original is an export: those who only view (a medical
        # expert) never download one.
        require(actor, Action.EXPORT, "Media")
    photo, version = _load_photo(uow, registry, actor, photo_id, channel)
    reasons = ["photograph shown" if variant is not Variant.ORIGINAL else "original downloaded"]
    if is_retired(version):
        # Retired as entered in error: the exam's gallery shows it as retired, with
        # its blurred stand-in so the examiner knows which it was; nothing else of
        # it is served to anyone (the original stays sealed, with its history).
        if actor.role is Role.EXPERT or variant not in (Variant.THUMBNAIL, Variant.BLURRED):
            _refused(
                uow,
                actor,
                Action.READ,
                version.versioned_reference,
                (f"retired photograph's {variant} asked for",),
                channel,
            )
        if actor.role is Role.EXPERT:
            raise PhotoNotFound(sentence("No such photograph."))
        if variant not in (Variant.THUMBNAIL, Variant.BLURRED):
            raise PhotoRetired(
                sentence("This photograph was retired as entered in error; it is no longer shown."),
                "photos",
            )
        variant = Variant.BLURRED
        reasons = ["retired photograph's blurred stand-in shown"]
    elif photo.is_intimate:
        if variant is Variant.THUMBNAIL:
            variant = Variant.BLURRED
        elif variant is not Variant.BLURRED:
            said = (reason or "").strip()
            if not said:
                _refused(
                    uow,
                    actor,
                    Action.READ,
                    version.versioned_reference,
                    (f"intimate image's {variant} asked for without a reason",),
                    channel,
                )
                raise MediaRefused(
                    sentence(
                        "An intimate image opens only on purpose: say why you are opening it."
                    ),
                    "reason",
                )
            reasons.append(f"intimate image opened: {said}")
    try:
        sealed, data = open_content(DatabasePhotoStore(uow.session), keyring, photo, variant)
    except VaultError as error:
        raise unavailable(error) from error
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=tuple(reasons),
        )
    )
    extension = ".png" if sealed.content_type == "image/png" else ".jpg"
    return PhotoBytes(photo, sealed.content_type, data, f"photo-{photo.id}-{variant}{extension}")


def is_very_restricted(version: StoredVersion) -> bool:
    return VERY_RESTRICTED in version.security_labels


# -- correcting photographs -----------------------------------------------------------


class PhotoChange(StrEnum):
    INTIMATE = "intimate"  # it is an intimate image: mark it so
    NOT_INTIMATE = "not-intimate"  # it is not one
    RETIRE = "retire"  # taken in error (wrong person, exam, site or view)


_CHANGE_WHAT = {
    PhotoChange.INTIMATE: "Photograph {number} marked as an intimate image",
    PhotoChange.NOT_INTIMATE: "Photograph {number} marked as not an intimate image",
    PhotoChange.RETIRE: "Photograph {number} retired: entered in error",
}
REASON_MAX = 500


def correct_photo(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    photo_id: str,
    change: str,
    reason: str,
    channel: str = "web",
) -> Photo:
    """Correct a photograph, by an examiner of her site, with a reason kept with
    the record (promise 5): mark it an intimate image (it becomes very restricted:
    seen only as her photo consent names, never released) or not one (seen as her
    consent to photographs permits, which must then allow it), or retire it as
    entered in error (never served or released again; the sealed original and
    every version stay, with the custody log entry of its intake). Each is a new
    version of its Media with who, when and why as a note; on a signed exam it is
    an amendment with that reason, which the report lists. Audited."""
    said = reason.strip()
    if change not in set(PhotoChange):
        raise MediaRefused(sentence("Choose what to correct."), "change")
    if not said:
        raise MediaRefused(
            sentence("Say why you are correcting this photograph; the reason is kept with it."),
            "reason",
        )
    if len(said) > REASON_MAX:
        raise MediaRefused(
            sentence("The reason: at most %(count)s characters.", count=REASON_MAX), "reason"
        )
    photo, _ = _load_photo(uow, registry, actor, photo_id, channel, Action.UPDATE)
    try:
        # Locked: two corrections of the exam's records happen one after the other.
        exam = exam_services.exam_for_update(uow, actor, photo.exam_id)
    except exam_services.ExamNotFound as error:
        raise PhotoNotFound(sentence("No such photograph.")) from error
    uow.session.refresh(photo)
    version = ResourceStore(uow.session, registry).current("Media", photo.id)
    assert version is not None
    if is_retired(version):
        raise MediaRefused(sentence("This photograph is already retired."), "change")
    intimate: bool | None = None
    removed: frozenset[str] = frozenset()
    if change != PhotoChange.RETIRE:
        intimate = change == PhotoChange.INTIMATE
        if intimate == photo.is_intimate:
            raise MediaRefused(
                "It is already marked as an intimate image."
                if intimate
                else "It is already marked as not an intimate image.",
                "change",
            )
        if not intimate:
            _check_reclassification(uow, actor, exam)
            removed = frozenset({VERY_RESTRICTED})
        photo.is_intimate = intimate
    else:
        photo.retired_at = utcnow()
    number = int(photo.slot.split(":")[1])
    updated = exam_services.correct_exam_record(
        uow,
        registry,
        actor=actor,
        exam=exam,
        slot=photo.slot,
        content=corrected_media(
            version.content,
            intimate=intimate,
            retired=change == PhotoChange.RETIRE,
            by=actor.username,
            at=utcnow(),
            reason=said,
        ),
        what=_CHANGE_WHAT[PhotoChange(change)].format(number=number),
        reason=said,
        labels_removed=removed,
        channel=channel,
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel=channel,
            actor=actor,
            entities=(updated.versioned_reference,),
            reasons=(f"photograph corrected: {PhotoChange(change).value}", f"why: {said}"),
        )
    )
    uow.session.flush()
    return photo


def _check_reclassification(uow: UnitOfWork, actor: Actor, exam: Exam) -> None:
    """Marking a photo as not intimate widens who sees it: her consent to
    photographs of her injuries must permit it, as it would at capture."""
    try:
        _check_consent(uow, actor, exam, intimate=False)
    except MediaRefused as refused:
        raise MediaRefused(
            sentence(
                "Her photo consent does not permit photographs other than intimate images, so "
                "this one stays marked intimate. Retire it if it should not be in the record."
            ),
            "change",
        ) from refused
