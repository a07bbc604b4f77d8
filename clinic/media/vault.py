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
import fcntl
import hashlib
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from clinic.i18n import N_
from clinic.i18n.sentences import Listing, Word, sentence
from clinic.media.models import Photo, PhotoContent

KEY_FILE = "media.key"
_NEW_SUFFIX = ".new"
_RETIRED_SUFFIX = ".retired"
_UNUSED_SUFFIX = ".unused"
_HEADER = "clinic-media-key-v1"
LOCK_FILE = ".media-key.lock"


class VaultError(Exception):
    """The vault cannot do what was asked (a missing or wrong key); says why: in
    English for the operator's commands (`str`), and, where a screen may show it,
    as a sentence said in the reader's language (`message`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# A photo's stored copies, named within a sentence (records and commands say the code).
_VARIANT_WORDS = {
    "original": N_("original"),
    "display": N_("display copy"),
    "thumbnail": N_("thumbnail"),
    "blurred": N_("blurred copy"),
}


def _variant(variant: str) -> Word:
    return Word(_VARIANT_WORDS.get(str(variant), str(variant)), english_text=str(variant))


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
        if not text.strip():
            raise VaultError(sentence("%(source)s is empty: it holds no media key", source=source))
        parts = text.split()
        if len(parts) != 3 or parts[0] != _HEADER:
            raise VaultError(
                sentence(
                    "%(source)s is not a media key file (it is damaged or something else)",
                    source=source,
                )
            )
        try:
            secret = base64.b64decode(parts[2], validate=True)
        except ValueError as error:
            raise VaultError(
                sentence("%(source)s is damaged (its key is not readable)", source=source)
            ) from error
        key = cls.of(secret)
        if key.key_id != parts[1] or len(key.secret) != 32:
            raise VaultError(
                sentence("%(source)s is damaged (its key does not match its id)", source=source)
            )
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
                sentence(
                    "there is no media key (%(path)s); photographs cannot be stored or read. "
                    "Restore it from the key backup (see README, Media key)",
                    path=str(self.current_path),
                )
            )
        return self._read(self.current_path)

    @contextmanager
    def lock(self, *, wait: bool = True) -> Iterator[None]:
        """The key folder's exclusive lock (`flock` on `.media-key.lock`), held by a
        whole rotation (settle, begin, re-wrap and commit, finish) and by the
        creation of the first key, so that they never overlap, in this process or
        another. The lock goes with the process: a killed rotation leaves none.
        `wait=False`: a lock held elsewhere is a VaultError at once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as error:
                raise VaultError(
                    "another media-key rotation is running on this instance; "
                    "let it finish, then run `clinic media-key status`"
                ) from error
            yield
        finally:
            os.close(fd)  # releases the lock

    def create(self) -> MediaKey:
        """The first media key of this instance, made under the folder's lock: a
        rotation is never half way through its renames meanwhile, and of two
        processes taking the first photograph at once one writes the key and the
        other uses it."""
        with self.lock():
            if self.current_path.exists():
                return self.current()
            key = MediaKey.generate()
            self._write(self.current_path, key)
            return key

    def known(self) -> tuple[dict[str, Path], list[str]]:
        """Every key file here by key id (current, pending, retired, set aside),
        and what is wrong with those that cannot be read."""
        keys: dict[str, Path] = {}
        damaged: list[str] = []
        for path in sorted(self.directory.glob("media.*")):
            try:
                keys.setdefault(self._read(path).key_id, path)
            except VaultError as error:
                damaged.append(error.message)
        return keys, damaged

    def get(self, key_id: str) -> MediaKey:
        keys, damaged = self.known()
        if key_id in keys:
            return self._read(keys[key_id])
        raise VaultError(
            sentence(
                "the media key %(key)s is not in %(folder)s (%(damaged)s); the photographs it "
                "protects cannot be read until it is restored",
                key=key_id,
                folder=str(self.directory),
                damaged=Listing(tuple(damaged), separator="; "),
            )
            if damaged
            else sentence(
                "the media key %(key)s is not in %(folder)s; the photographs it protects "
                "cannot be read until it is restored",
                key=key_id,
                folder=str(self.directory),
            )
        )

    def _read(self, path: Path) -> MediaKey:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise VaultError(
                sentence(
                    "%(file)s cannot be read (%(error)s)",
                    file=path.name,
                    error=error.__class__.__name__,
                )
            ) from error
        return MediaKey.parse(text, path.name)

    @property
    def pending_path(self) -> Path:
        return self.directory / (KEY_FILE + _NEW_SUFFIX)

    def pending(self) -> MediaKey | None:
        """The key of a rotation under way or left half done (`media.key.new`)."""
        if not self.pending_path.exists():
            return None
        return self._read(self.pending_path)

    def begin_rotation(self) -> tuple[MediaKey, MediaKey]:
        """(old, new): the new key is written beside the current one, so that a
        rotation interrupted after its commit still finds every key. A rotation
        left half done must be settled first (`settle_rotation`): its key may be
        the only one that opens the photographs, so it is never replaced here."""
        old = self.current()
        if self.pending_path.exists():
            raise VaultError(
                f"a rotation was left half done ({self.pending_path.name} is still there); "
                "it must be finished or set aside first"
            )
        new = MediaKey.generate()
        self._write(self.pending_path, new)
        return old, new

    def settle_rotation(self, in_use: Collection[str]) -> str | None:
        """A rotation left half done (stopped after the new key was written and
        before the files were renamed), settled from what the database says
        (`in_use`: the key ids that wrap photographs' data keys): if its re-wrap
        committed, the new key becomes current and the old one is retired; if
        not, the unused new key is set aside (renamed with the time). No key file
        is ever deleted. Returns what was done, or None if nothing was pending."""
        new = self.pending()
        if new is None:
            return None
        if new.key_id in in_use:
            self.finish_rotation()
            return f"a rotation to media key {new.key_id} had committed: it is now finished"
        aside = self._set_aside(
            self.pending_path, f"media.{new.key_id}{_UNUSED_SUFFIX}", stamped=True
        )
        return (
            f"a rotation to media key {new.key_id} never committed (no photograph uses it): "
            f"the unused key was set aside as {aside.name}"
        )

    def finish_rotation(self) -> None:
        """After the re-wrapped keys are committed (under `lock`): the old key is
        retired (kept for backups taken before the rotation) and the new key
        becomes current. Stopped part way, `settle_rotation` finishes it."""
        self.retire_current()
        self.promote_pending()

    def retire_current(self) -> None:
        """The current key renamed `media.<id>.retired` (not if it already is the
        pending key: a rotation stopped after `promote_pending` linked it)."""
        if not self.current_path.exists():
            return
        old = self.current()
        pending = self.pending()
        if pending is not None and pending.key_id == old.key_id:
            return
        self._set_aside(self.current_path, f"media.{old.key_id}{_RETIRED_SUFFIX}")

    def promote_pending(self) -> None:
        """`media.key.new` becomes `media.key`, never over an existing `media.key`:
        a hard link (which fails if the name is taken), then the `.new` name is
        dropped only when both names are the same file, so no key is lost."""
        if not self.pending_path.exists():
            raise VaultError(
                f"{self.pending_path.name} is not there: there is no rotation to finish"
            )
        try:
            os.link(self.pending_path, self.current_path)
        except FileExistsError:
            if not os.path.samefile(self.pending_path, self.current_path):
                raise VaultError(
                    f"{self.current_path.name} appeared while a rotation was finishing; "
                    f"nothing was replaced: {self.pending_path.name} holds the key the "
                    "photographs need. Run `clinic media-key status`"
                ) from None
        self._sync_directory()
        self.pending_path.unlink()  # a second name of the file now named media.key
        self._sync_directory()

    def abandon_rotation(self) -> None:
        """A rotation whose re-wrap did not commit: its unused key is set aside
        (renamed with the time), never deleted."""
        new = self.pending()
        if new is not None:
            self._set_aside(self.pending_path, f"media.{new.key_id}{_UNUSED_SUFFIX}", stamped=True)

    def _set_aside(self, path: Path, name: str, *, stamped: bool = False) -> Path:
        """Rename a key file without replacing another: a name already taken gets
        a counter. `stamped`: the time is added to the name."""
        base = f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}" if stamped else name
        target, counter = self.directory / base, 1
        while target.exists():
            counter += 1
            target = self.directory / f"{base}-{counter}"
        path.rename(target)
        self._sync_directory()
        return target

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write(self, path: Path, key: MediaKey) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.text())
            handle.flush()
            os.fsync(handle.fileno())
        self._sync_directory()


# -- the storage interface ------------------------------------------------------


# The sealing format of a stored variant (`photo_contents.format`). 1: the
# associated data binds the photo id and the variant. 2 (every variant sealed
# since): also the content type, so a row whose type was changed does not open
# (and so is never served as something else). Both are read.
FORMAT_PHOTO_VARIANT = 1
FORMAT_WITH_CONTENT_TYPE = 2
SEAL_FORMAT = FORMAT_WITH_CONTENT_TYPE


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
    format: int = SEAL_FORMAT


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
                format=content.format,
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
            row.format,
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


def _content_aad(photo_id: str, variant: str, content_type: str, seal_format: int) -> bytes:
    if seal_format == FORMAT_PHOTO_VARIANT:
        return f"photo:{photo_id}:{variant}".encode()
    if seal_format == FORMAT_WITH_CONTENT_TYPE:
        return f"photo-v2:{photo_id}:{variant}:{content_type}".encode()
    raise VaultError(
        sentence(
            "the %(variant)s of photo %(photo)s is sealed in an unknown format",
            variant=_variant(variant),
            photo=photo_id,
        )
    )


def wrap(key: MediaKey, photo_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key.secret).encrypt(nonce, data_key, _key_aad(photo_id))


def unwrap(key: MediaKey, photo_id: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(key.secret).decrypt(wrapped[:12], wrapped[12:], _key_aad(photo_id))
    except InvalidTag as error:
        raise VaultError(
            sentence("the data key of photo %(photo)s does not open", photo=photo_id)
        ) from error


def new_data_key(key: MediaKey, photo_id: str) -> tuple[bytes, bytes]:
    """A fresh data key for one photo, and the same key wrapped by `key` (kept on
    the Photo with `key.key_id`)."""
    data_key = AESGCM.generate_key(bit_length=256)
    return data_key, wrap(key, photo_id, data_key)


def seal(
    store: PhotoStore,
    data_key: bytes,
    photo_id: str,
    contents: list[PlainContent],
    seal_format: int = SEAL_FORMAT,
) -> None:
    """Encrypt and store every variant of a photo under its data key (in the
    current format; an older one only to test that such photos still open)."""
    cipher = AESGCM(data_key)
    for content in contents:
        nonce = os.urandom(12)
        aad = _content_aad(photo_id, content.variant, content.content_type, seal_format)
        store.put(
            SealedContent(
                photo_id,
                content.variant,
                content.content_type,
                hashlib.sha256(content.data).hexdigest(),
                content.derived_from_sha256,
                nonce,
                cipher.encrypt(nonce, content.data, aad),
                seal_format,
            )
        )


def open_content(
    store: PhotoStore, keyring: Keyring, photo: Photo, variant: str
) -> tuple[SealedContent, bytes]:
    """The stored variant and its plain bytes, checked against the SHA-256 taken
    when it was sealed."""
    sealed = store.get(photo.id, variant)
    if sealed is None:
        raise VaultError(
            sentence(
                "photo %(photo)s has no %(variant)s", photo=photo.id, variant=_variant(variant)
            )
        )
    data_key = unwrap(keyring.get(photo.key_id), photo.id, photo.wrapped_key)
    try:
        data = AESGCM(data_key).decrypt(
            sealed.nonce,
            sealed.ciphertext,
            _content_aad(photo.id, variant, sealed.content_type, sealed.format),
        )
    except InvalidTag as error:
        raise VaultError(
            sentence(
                "the %(variant)s of photo %(photo)s does not open",
                variant=_variant(variant),
                photo=photo.id,
            )
        ) from error
    if hashlib.sha256(data).hexdigest() != sealed.sha256:
        raise VaultError(
            sentence(
                "the %(variant)s of photo %(photo)s is not what was stored",
                variant=_variant(variant),
                photo=photo.id,
            )
        )
    return sealed, data


@dataclass(frozen=True)
class KeyReport:
    """What `clinic media-key status` says: the keys, and anything wrong."""

    lines: list[str]
    problems: list[str]


def key_problem(keyring: Keyring) -> str | None:
    """Why photographs cannot be stored or read now (the current key missing or
    damaged), or None."""
    if not keyring.has_current():
        return None  # none yet, or lost: said where it matters (a photo needs it)
    try:
        keyring.current()
    except VaultError as error:
        return error.message  # a sentence: the screen says it in its reader's language
    return None


def key_report(session: Session, keyring: Keyring) -> KeyReport:
    """The media keys as the instance folder and the database see them."""
    lines: list[str] = []
    problems: list[str] = []
    counts = dict(
        session.execute(sa.select(Photo.key_id, sa.func.count()).group_by(Photo.key_id)).all()
    )
    current = None
    try:
        current = keyring.current() if keyring.has_current() else None
    except VaultError as error:
        problems.append(f"the current media key cannot be used: {error}")
    if current is not None:
        lines.append(f"current media key: {current.key_id}")
    elif keyring.has_current():
        lines.append("current media key: damaged")
    elif counts:
        lines.append("current media key: missing")
        problems.append(
            f"there is no {KEY_FILE} while photographs exist: restore it from the key backup"
        )
    else:
        lines.append("current media key: none yet (made with the first photograph)")
    try:
        pending = keyring.pending()
    except VaultError as error:
        pending = None
        problems.append(f"a rotation was left half done and its new key is damaged: {error}")
    if pending is not None:
        if pending.key_id in counts:
            problems.append(
                f"a rotation was left half done after it committed: {counts[pending.key_id]} "
                f"photograph(s) use media key {pending.key_id}, still in "
                f"{keyring.pending_path.name}; `clinic media-key rotate` finishes it first"
            )
        else:
            problems.append(
                f"a rotation was left half done before it committed: media key "
                f"{pending.key_id} ({keyring.pending_path.name}) is used by no photograph; "
                "`clinic media-key rotate` sets it aside first"
            )
    keys, damaged = keyring.known()
    problems.extend(damaged)
    for key_id, count in sorted(counts.items()):
        where = keys.get(key_id)
        lines.append(f"{key_id}: {count} photograph(s)" + (f" ({where.name})" if where else ""))
        if where is None:
            problems.append(
                f"media key {key_id}, which {count} photograph(s) need, is not in "
                f"{keyring.directory}: restore it from the key backup"
            )
    return KeyReport(lines, problems)


def key_ids_in_use(session: Session) -> set[str]:
    """The media keys that wrap at least one photograph's data key."""
    return set(session.scalars(sa.select(Photo.key_id).distinct()))


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
