"""One transaction per request or CLI command, committed or rolled back here only.

Services receive the unit of work (its session and its audit trail) from the
caller; they flush, never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from clinic.audit.services import AuditRecord, Outcome, append_records
from clinic.core.db import CommitOutcomeUnknown, connection_lost, one_round_trip
from clinic.ledger.services import integrate_after_commit

log = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._audit: list[AuditRecord] = []
        self._kept: list[Callable[[Session], Sequence[AuditRecord]]] = []
        # Per-transaction caches kept by services (e.g. the survivor's Consents);
        # emptied whenever the transaction ends.
        self.memo: dict[str, Any] = {}

    def audit(self, record: AuditRecord) -> None:
        self._audit.append(record)

    def keep(self, work: Callable[[Session], Sequence[AuditRecord]]) -> None:
        """Work that stands whether the request succeeds or fails (the count of a
        failed sign-in): run just before the commit, or after the rollback of a
        failed request, in the transaction that records its audit trail. It
        answers audit records of its own, appended as they are."""
        self._kept.append(work)

    @property
    def pending_audit(self) -> tuple[AuditRecord, ...]:
        return tuple(self._audit)

    def commit(self) -> None:
        """Append the audit records and commit, all or nothing. Raises
        CommitOutcomeUnknown when the connection broke once the COMMIT was sent and
        before its answer came."""
        sent = committed = False
        driver = None
        try:
            kept = [record for work in self._kept for record in work(self.session)]
            self.session.flush()  # the work's own writes, each answered, before the pipeline
            with one_round_trip(self.session) as driver:
                append_records(self.session, [*self._audit, *kept])
                if driver is not None:
                    # The audit rows and the COMMIT in one round trip; the pipeline is
                    # left before SQLAlchemy returns the connection to the pool.
                    sent = not driver.broken  # a broken connection sends nothing
                    driver.commit()  # returns once the server has answered the COMMIT
                    committed = True
            sent = True
            self.session.commit()  # on PostgreSQL, nothing left to send
        except Exception as error:
            if not committed:
                lost = sent and connection_lost(error, driver)
                self._end_transaction(quietly=lost)
                if lost:
                    raise CommitOutcomeUnknown(str(error)) from error
                raise
            # The server answered the COMMIT: what failed after it (leaving the
            # pipeline) changed nothing that was saved.
            log.warning("after a committed transaction: %s", error)
            self._end_transaction(quietly=True)
        except BaseException:
            self._end_transaction(quietly=True)
            raise
        finally:
            self.memo.clear()
        self._audit.clear()
        self._kept.clear()
        integrate_after_commit(self.session)

    def _end_transaction(self, *, quietly: bool) -> None:
        """Roll back what is left of the transaction. `quietly` when the connection
        may be gone, and its transaction with it: the pool discards the connection."""
        try:
            self.session.rollback()
        except Exception:
            if not quietly:
                raise
            log.warning("rolling back on a broken connection", exc_info=True)

    def fail(self, outcome: Outcome, description: str) -> None:
        """Roll back everything, then record the attempt with its failure outcome."""
        self.session.rollback()
        self.memo.clear()
        records = [record.failed(outcome, description) for record in self._audit]
        kept_work, self._kept = self._kept, []
        self._audit.clear()
        if records or kept_work:
            try:
                records += [record for work in kept_work for record in work(self.session)]
                append_records(self.session, records)
                self.session.commit()
            except BaseException:
                self.session.rollback()
                raise
            integrate_after_commit(self.session)

    def rollback(self) -> None:
        self.session.rollback()
        self.memo.clear()
        self._audit.clear()
        self._kept.clear()
