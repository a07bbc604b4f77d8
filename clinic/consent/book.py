"""The survivor's Consents as the decision point reads them, once per unit of work.

Read straight from the resource store (not through the decision point: deciding
whether someone may see a record needs her Consents, whoever is asking). Every
caller that decides on a record about a survivor passes `consent_book(uow)`.
"""

from __future__ import annotations

from clinic.access.consent import Directive
from clinic.consent.resources import directive_of
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.store import ResourceStore


class ConsentBook:
    def __init__(self, uow: UnitOfWork) -> None:
        self._store = ResourceStore(uow.session, None)  # type: ignore[arg-type]  # reads only
        self._cache: dict[str, tuple[Directive, ...]] = {}

    def directives(self, subject: str) -> tuple[Directive, ...]:
        """Her active Consents. A Consent recorded or withdrawn in this unit of
        work is seen at once: writers call `forget`."""
        if subject not in self._cache:
            self._cache[subject] = tuple(
                directive_of(version.logical_id, version.content)
                for version in self._store.of_subject("Consent", subject)
                if version.content.get("status") == "active"
            )
        return self._cache[subject]

    def forget(self, subject: str) -> None:
        self._cache.pop(subject, None)


def consent_book(uow: UnitOfWork) -> ConsentBook:
    book = uow.memo.get("consent_book")
    if not isinstance(book, ConsentBook):
        book = uow.memo["consent_book"] = ConsentBook(uow)
    return book
