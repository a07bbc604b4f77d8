"""Keeping and restoring drafts.

A step posted after the examiner's session timed out would otherwise be lost: the
web layer hands the posted fields here, bound to the user whose session it was and
to the page, and gives them back once, to that user only, on that page after she
signs in again. Nothing is saved to her record until she reviews it and presses
Save herself.

What is never kept: CSRF tokens, any field whose name says it is a password, and
uploaded files (the web layer never passes them). Drafts are encrypted at rest and
expire; expired drafts are deleted whenever drafts are kept or restored.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clinic.access import Actor
from clinic.accounts.models import User
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.drafts.models import SavedDraft, new_id
from clinic.i18n.sentences import sentence

MAX_PATH_LENGTH = 512
_KEY_INFO = b"clinic/saved-drafts/v1"
_NONCE_BYTES = 12


class DraftNotKept(DomainError):
    """Why a posted step could not be kept (the examiner is told on the sign-in page)."""


@dataclass(frozen=True)
class DraftSettings:
    """The deployment's limits: DRAFT_LIFETIME, DRAFT_MAX_BYTES, DRAFT_MAX_PER_USER."""

    lifetime: timedelta
    max_bytes: int
    max_per_user: int


def is_never_kept(name: str) -> bool:
    """CSRF tokens are useless later; passwords are never written anywhere."""
    return name == "csrf_token" or "password" in name.casefold()


def _cipher(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def _associated(draft_id: str, user_id: str, path: str) -> bytes:
    return f"{draft_id}\n{user_id}\n{path}".encode()


def keep_draft(
    uow: UnitOfWork,
    *,
    owner: User,
    path: str,
    fields: Iterable[tuple[str, str]],
    secret_key: str,
    settings: DraftSettings,
) -> SavedDraft | None:
    """Keep what `owner` posted to `path` after her session timed out. Returns None
    when nothing worth keeping was posted; raises DraftNotKept when it cannot be kept
    (inactive account, too large, an impossible path). Replaces her older draft of
    the same page and keeps at most `max_per_user` drafts (the newest)."""
    if not owner.is_active:
        raise DraftNotKept(sentence("The account is not active."))
    if not path.startswith("/") or len(path) > MAX_PATH_LENGTH:
        raise DraftNotKept(sentence("This page's address is too long to keep a draft for."))
    kept = [(name, value) for name, value in fields if not is_never_kept(name)]
    if not any(value.strip() for _, value in kept):
        return None
    plaintext = json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()
    if len(plaintext) > settings.max_bytes:
        raise DraftNotKept(sentence("What was typed is too large to keep."))
    now = utcnow()
    purge_expired_drafts(uow, now=now)
    uow.session.execute(
        sa.delete(SavedDraft).where(SavedDraft.user_id == owner.id, SavedDraft.path == path)
    )
    draft = SavedDraft(
        id=new_id(),
        user_id=owner.id,
        path=path,
        created_at=now,
        expires_at=now + settings.lifetime,
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    draft.sealed = nonce + _cipher(secret_key).encrypt(
        nonce, plaintext, _associated(draft.id, owner.id, path)
    )
    uow.session.add(draft)
    uow.session.flush()
    _keep_newest(uow, owner.id, settings.max_per_user)
    return draft


def _keep_newest(uow: UnitOfWork, user_id: str, limit: int) -> None:
    newest = sa.select(SavedDraft.id).where(SavedDraft.user_id == user_id)
    newest = newest.order_by(SavedDraft.created_at.desc(), SavedDraft.id).limit(limit)
    keep = set(uow.session.scalars(newest))
    uow.session.execute(
        sa.delete(SavedDraft).where(SavedDraft.user_id == user_id, SavedDraft.id.not_in(keep))
    )


def take_draft(
    uow: UnitOfWork, *, actor: Actor, path: str, secret_key: str, delete: bool = True
) -> list[tuple[str, str]] | None:
    """The fields `actor` herself posted to `path` when her session had ended, or
    None. The draft is deleted as it is given back: it is restored once (the web
    layer passes `delete=False` and calls `forget_draft` once the page holding it
    was actually shown). Only the acting user's own drafts are ever looked up."""
    now = utcnow()
    draft = uow.session.scalar(
        sa.select(SavedDraft).where(
            SavedDraft.user_id == actor.user_id,
            SavedDraft.path == path,
            SavedDraft.expires_at > now,
        )
    )
    if draft is None:
        return None  # the common case, on every page: a read, never a write
    purge_expired_drafts(uow, now=now)
    if delete:
        uow.session.delete(draft)
        uow.session.flush()
    sealed = bytes(draft.sealed)
    try:
        plaintext = _cipher(secret_key).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _associated(draft.id, draft.user_id, path)
        )
    except InvalidTag:
        return None  # sealed under another SECRET_KEY: cannot be read, so dropped
    return [(str(name), str(value)) for name, value in json.loads(plaintext)]


def purge_expired_drafts(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Delete every expired draft; returns how many."""
    result = uow.session.execute(
        sa.delete(SavedDraft).where(SavedDraft.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def forget_draft(uow: UnitOfWork, *, actor: Actor, path: str) -> None:
    """Delete `actor`'s own draft for `path` (it has been shown to her)."""
    uow.session.execute(
        sa.delete(SavedDraft).where(SavedDraft.user_id == actor.user_id, SavedDraft.path == path)
    )
