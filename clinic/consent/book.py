"""The survivor's Consents as the decision point reads them, once per unit of work.

Read straight from the resource store (not through the decision point: deciding
whether someone may see a record needs her Consents, whoever is asking). Every
caller that decides on a record about a survivor passes `consent_book(uow)`.

Which Consents she has, and which version of each is current, is read from the
database on every unit of work (one indexed query on the head rows). Only the
parsing of a version's content is kept between requests, keyed by the Consent and
its version number: stored versions never change (the version table is
append-only), so a withdrawal, which writes a new version, is seen by the very
next request. A version enters the shared cache only once the transaction that
read it has committed, so a version written by a transaction that was rolled back
(whose number a later write will reuse) is never kept.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.access.consent import Directive, Directives
from clinic.consent.resources import directive_of
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.models import ResourceVersion, StoredResource

# (Consent id, version number) -> its Directive, or None when not active.
VersionKey = tuple[str, int]
_CACHE_SIZE = 50_000
_cache: OrderedDict[VersionKey, Directive | None] = OrderedDict()
_lock = threading.Lock()
_PENDING = "clinic.consent_versions_read"

_heads = StoredResource.__table__
# Which Consents she has and the current version of each, built once: every
# decision on a record about her sends it (once per unit of work).
_CURRENT_CONSENTS = (
    sa.select(_heads.c.logical_id, _heads.c.version_id)
    .where(_heads.c.resource_type == "Consent", _heads.c.subject == sa.bindparam("subject"))
    .order_by(_heads.c.last_updated, _heads.c.logical_id)
)


def _cached(key: VersionKey) -> tuple[bool, Directive | None]:
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return True, _cache[key]
    return False, None


def _keep(entries: dict[VersionKey, Directive | None]) -> None:
    with _lock:
        _cache.update(entries)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _lock:
        _cache.clear()


@sa.event.listens_for(Session, "after_commit")
def _promote(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        _keep(pending)


@sa.event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)


class ConsentBook:
    def __init__(self, uow: UnitOfWork) -> None:
        self._session = uow.session
        self._memo: dict[str, Directives] = {}

    def directives(self, subject: str) -> Directives:
        """Her active Consents, oldest first. A Consent recorded or withdrawn in this
        unit of work is seen at once: writers call `forget`."""
        if subject not in self._memo:
            self._memo[subject] = self._read(subject)
        return self._memo[subject]

    def _read(self, subject: str) -> Directives:
        self._session.flush()  # this unit of work's writes are seen, as by an ORM query
        current = self._session.execute(_CURRENT_CONSENTS, {"subject": subject}).all()
        found: dict[VersionKey, Directive | None] = {}
        missing: list[VersionKey] = []
        for logical_id, version_id in current:
            key = (logical_id, version_id)
            hit, directive = _cached(key)
            if hit:
                found[key] = directive
            else:
                missing.append(key)
        if missing:
            version = ResourceVersion
            rows = self._session.execute(
                sa.select(version.logical_id, version.version_id, version.content).where(
                    version.resource_type == "Consent",
                    sa.tuple_(version.logical_id, version.version_id).in_(missing),
                )
            ).all()
            loaded: dict[VersionKey, Directive | None] = {}
            for logical_id, version_id, text in rows:
                content = json.loads(text)
                loaded[(logical_id, version_id)] = (
                    directive_of(logical_id, content) if content.get("status") == "active" else None
                )
            found.update(loaded)
            self._session.info.setdefault(_PENDING, {}).update(loaded)
        return Directives(
            directive
            for key in ((logical_id, version_id) for logical_id, version_id in current)
            if (directive := found.get(key)) is not None
        )

    def forget(self, subject: str) -> None:
        self._memo.pop(subject, None)


def consent_book(uow: UnitOfWork) -> ConsentBook:
    book = uow.memo.get("consent_book")
    if not isinstance(book, ConsentBook):
        book = uow.memo["consent_book"] = ConsentBook(uow)
    return book
