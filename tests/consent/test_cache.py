"""Her Consents are parsed once per version and kept between requests; the cache can
never give a stale decision: a withdrawal is seen by the very next request, also
while other requests are being served at the same moment."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.consent import book, services
from clinic.consent.book import consent_book
from clinic.consent.resources import Withdrawal
from clinic.core.clock import utcnow
from tests.consent.helpers import all_items, record, withdraw
from tests.helpers import api, open_case


def test_a_withdrawal_is_seen_by_the_very_next_request_under_concurrent_reads(
    app: Flask, world: Any
) -> None:
    case = open_case(app)
    consent_id = record(
        app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
    )
    token = world["counsellor"].token
    path = f"/fhir/Patient/{case.patient_id}"
    for _ in range(3):  # the parsed Consent is now in the cache of this process
        assert api(app.test_client(), "GET", path, token).status_code == 200
    withdrawn = threading.Event()
    stop = threading.Event()
    seen: list[tuple[bool, int]] = []
    failures: list[BaseException] = []

    def reader() -> None:
        client = app.test_client()
        try:
            while not stop.is_set():
                after = withdrawn.is_set()
                seen.append((after, api(client, "GET", path, token).status_code))
        except BaseException as error:  # noqa: BLE001  (reported below)
            failures.append(error)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        while sum(1 for after, _ in seen if not after) < 8 and not failures:
            threading.Event().wait(0.01)
        withdraw(app, case.id, consent_id)
        withdrawn.set()
        while sum(1 for after, _ in seen if after) < 16 and not failures:
            threading.Event().wait(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    assert {status for after, status in seen if not after} <= {200, 404}
    assert 200 in {status for after, status in seen if not after}
    # Every request that began after the withdrawal was committed is refused.
    assert {status for after, status in seen if after} == {404}


def test_a_consent_version_read_in_a_rolled_back_transaction_is_never_kept(
    app: Flask, world: Any
) -> None:
    case = open_case(app)
    consent_id = record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    subject = f"Patient/{case.patient_id}"
    with app.app_context(), unit_of_work() as uow:
        assert [d.consent_id for d in consent_book(uow).directives(subject)] == [consent_id]
    assert (consent_id, 1) in book._cache

    def withdraw_then_fail() -> None:
        with app.app_context(), unit_of_work() as uow:
            counsellor = uow.session.scalar(sa.select(User).where(User.username == "counsellor"))
            services.withdraw(
                uow,
                app.extensions["clinic.profiles"],
                actor=actor_for(counsellor),
                case_id=case.id,
                consent_id=consent_id,
                withdrawal=Withdrawal(
                    method="in-person",
                    by="the survivor",
                    items=(),
                    at=utcnow(),
                    verified=True,
                    everything=True,
                ),
            )
            assert consent_book(uow).directives(subject) == ()
            raise RuntimeError("the request fails after the withdrawal was read")

    with pytest.raises(RuntimeError):
        withdraw_then_fail()
    assert (consent_id, 2) not in book._cache
    with app.app_context(), unit_of_work() as uow:
        assert [d.consent_id for d in consent_book(uow).directives(subject)] == [consent_id]


def test_the_cache_gives_the_same_directives_as_reading_afresh(app: Flask) -> None:
    case = open_case(app)
    subject = f"Patient/{case.patient_id}"
    record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    sharing = record(
        app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
    )
    withdraw(app, case.id, sharing, items=("gp",))
    with app.app_context(), unit_of_work() as uow:
        cached = consent_book(uow).directives(subject)
    book.clear_cache()
    with app.app_context(), unit_of_work() as uow:
        fresh = consent_book(uow).directives(subject)
    assert cached == fresh
    assert len(fresh) == 2
