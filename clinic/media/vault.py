"""The media vault: photographs encrypted at rest (docs/design.md section 8).

Each photo has its own data key (AES-256-GCM); every variant of it (the original,
the display copy, the thumbnail) is encrypted under that key with its own nonce
and bound to the photo and variant as associated data, so ciphertext cannot be
moved between photos unnoticed. The data key is stored wrapped (AES-256-GCM) by
the media key, which lives in the instance folder like the log signing keys
(`keys/media.key`, mode 0600), never in the database: a stolen database or
backup holds no readable photo. Rotating the media key re-wraps the data keys
and leaves the photos' ciphertext untouched. A lost media key is lost photos.

Where the ciphertext lives is behind `PhotoStore`; by default it is the database
(`DatabasePhotoStore`), so a photo and its record commit or roll back together and
one backup holds both.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from clinic.media.models import Photo, PhotoContent

KEY_FILE = "media.key"
_NEW_SUFFIX = ".new"
_RETIRED_SUFFIX = ".retired"
_HEADER = "clinic-media-key-v1"


class VaultError(Exception):
    """The vault cannot do what was asked (a missing or wrong key); says why."""


@dataclass(frozen=True)
class MediaKey:
    key_id: str
    secret: bytes

    @classmethod
    def generate(cls) -> MediaKey:
        return cls.of(AESGCM.generate_key(bit_length=256))

    @classmethod
    def of(cls, secret: bytes) -> MediaKey:
        return cls(hashlib.sha256(b"media-key:" + secret).hexdigest()[:16], secret)

    def text(self) -> str:
        return f"{_HEADER} {self.key_id} {base64.b64encode(self.secret).decode()}\n"

    @classmethod
    def parse(cls, text: str, source: str) -> MediaKey:
        parts = text.split()
        if len(parts) != 3 or parts[0] != _HEADER:
            raise VaultError(f"{source} is not a media key file")
        key = cls.of(base64.b64decode(parts[2]))
        if key.key_id != parts[1] or len(key.secret) != 32:
            raise VaultError(f"{source} is damaged (its key does not match its id)")
        return key


class Keyring:
    """The media keys in the instance folder: the current one (`media.key`), one
    being introduced by a rotation (`media.key.new`) and retired ones
    (`media.<id>.retired`, kept so that backups taken before a rotation stay
    readable)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def current_path(self) -> Path:
        return self.directory / KEY_FILE

    def has_current(self) -> bool:
        return self.current_path.exists()

    def current(self) -> MediaKey:
        if not self.current_path.exists():
            raise VaultError(
                f"there is no media key ({self.current_path}); photographs cannot be stored "
                "or read. Restore it from the key backup (see README, Media key)"
            )
        return MediaKey.parse(self.current_path.read_text(), self.current_path.name)

    def create(self) -> MediaKey:
        """The first media key of this instance. Two processes taking the first
        photograph at once: one writes the key, the other uses it."""
        key = MediaKey.generate()
        try:
            self._write(self.current_path, key)
        except FileExistsError:
            return self.current()
        return key

    def get(self, key_id: str) -> MediaKey:
        for path in sorted(self.directory.glob("media.*")):
            key = MediaKey.parse(path.read_text(), path.name)
            if key.key_id == key_id:
                return key
        raise VaultError(
            f"the media key {key_id} is not in {self.directory}; the photographs it "
            "protects cannot be read until it is restored"
        )

    def begin_rotation(self) -> tuple[MediaKey, MediaKey]:
        """(old, new): the new key is written beside the current one, so that a
        rotation interrupted after its commit still finds every key."""
        old = self.current()
        new_path = self.current_path.with_name(KEY_FILE + _NEW_SUFFIX)
        if new_path.exists():
            new_path.unlink()  # a rotation that never committed: nothing uses it
        new = MediaKey.generate()
        self._write(new_path, new)
        return old, new

    def finish_rotation(self, old: MediaKey) -> None:
        """After the re-wrapped keys are committed: the new key becomes current and
        the old one is kept, retired, for backups taken before the rotation."""
        retired = self.directory / f"media.{old.key_id}{_RETIRED_SUFFIX}"
        self.current_path.rename(retired)
        self.current_path.with_name(KEY_FILE + _NEW_SUFFIX).rename(self.current_path)

    def abandon_rotation(self) -> None:
        self.current_path.with_name(KEY_FILE + _NEW_SUFFIX).unlink(missing_ok=True)

    def _write(self, path: Path, key: MediaKey) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.text())


# -- the storage interface ------------------------------------------------------


@dataclass(frozen=True)
class SealedContent:
    """One variant of a photo as stored: encrypted, with what was checked about it."""

    photo_id: str
    variant: str
    content_type: str
    sha256: str  # of the plain bytes
    derived_from_sha256: str | None
    nonce: bytes
    ciphertext: bytes


class PhotoStore(Protocol):
    """Where sealed photo bytes are kept. The database by default; an object store
    can implement the same two calls without the domain changing."""

    def put(self, content: SealedContent) -> None: ...

    def get(self, photo_id: str, variant: str) -> SealedContent | None: ...


class DatabasePhotoStore:
    """Sealed bytes in the `photo_contents` table, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, content: SealedContent) -> None:
        self.session.add(
            PhotoContent(
                photo_id=content.photo_id,
                variant=content.variant,
                content_type=content.content_type,
                sha256=content.sha256,
                derived_from_sha256=content.derived_from_sha256,
                nonce=content.nonce,
                ciphertext=content.ciphertext,
            )
        )

    def get(self, photo_id: str, variant: str) -> SealedContent | None:
        row = self.session.get(PhotoContent, (photo_id, variant))
        if row is None:
            return None
        return SealedContent(
            row.photo_id,
            row.variant,
            row.content_type,
            row.sha256,
            row.derived_from_sha256,
            row.nonce,
            row.ciphertext,
        )


# -- sealing and opening --------------------------------------------------------


@dataclass(frozen=True)
class PlainContent:
    variant: str
    content_type: str
    data: bytes
    derived_from_sha256: str | None = None


def _key_aad(photo_id: str) -> bytes:
    return f"photo-key:{photo_id}".encode()


def _content_aad(photo_id: str, variant: str) -> bytes:
    return f"photo:{photo_id}:{variant}".encode()


def wrap(key: MediaKey, photo_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key.secret).encrypt(nonce, data_key, _key_aad(photo_id))


def unwrap(key: MediaKey, photo_id: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(key.secret).decrypt(wrapped[:12], wrapped[12:], _key_aad(photo_id))
    except InvalidTag as error:
        raise VaultError(f"the data key of photo {photo_id} does not open") from error


def new_data_key(key: MediaKey, photo_id: str) -> tuple[bytes, bytes]:
    """A fresh data key for one photo, and the same key wrapped by `key` (kept on
    the Photo with `key.key_id`)."""
    data_key = AESGCM.generate_key(bit_length=256)
    return data_key, wrap(key, photo_id, data_key)


def seal(store: PhotoStore, data_key: bytes, photo_id: str, contents: list[PlainContent]) -> None:
    """Encrypt and store every variant of a photo under its data key."""
    cipher = AESGCM(data_key)
    for content in contents:
        nonce = os.urandom(12)
        store.put(
            SealedContent(
                photo_id,
                content.variant,
                content.content_type,
                hashlib.sha256(content.data).hexdigest(),
                content.derived_from_sha256,
                nonce,
                cipher.encrypt(nonce, content.data, _content_aad(photo_id, content.variant)),
            )
        )


def open_content(
    store: PhotoStore, keyring: Keyring, photo: Photo, variant: str
) -> tuple[SealedContent, bytes]:
    """The stored variant and its plain bytes, checked against the SHA-256 taken
    when it was sealed."""
    sealed = store.get(photo.id, variant)
    if sealed is None:
        raise VaultError(f"photo {photo.id} has no {variant}")
    data_key = unwrap(keyring.get(photo.key_id), photo.id, photo.wrapped_key)
    try:
        data = AESGCM(data_key).decrypt(
            sealed.nonce, sealed.ciphertext, _content_aad(photo.id, variant)
        )
    except InvalidTag as error:
        raise VaultError(f"the {variant} of photo {photo.id} does not open") from error
    if hashlib.sha256(data).hexdigest() != sealed.sha256:
        raise VaultError(f"the {variant} of photo {photo.id} is not what was stored")
    return sealed, data


def rewrap_all(session: Session, keyring: Keyring, old: MediaKey, new: MediaKey) -> int:
    """Re-wrap every photo's data key under `new` (in the caller's transaction);
    the photos' ciphertext is not touched. Returns how many were re-wrapped."""
    count = 0
    last = ""
    while True:
        photos = session.scalars(
            sa.select(Photo).where(Photo.id > last).order_by(Photo.id).limit(500)
        ).all()
        if not photos:
            return count
        for photo in photos:
            key = old if photo.key_id == old.key_id else keyring.get(photo.key_id)
            photo.wrapped_key = wrap(new, photo.id, unwrap(key, photo.id, photo.wrapped_key))
            photo.key_id = new.key_id
            count += 1
        session.flush()
        last = photos[-1].id
