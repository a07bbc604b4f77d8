"""Chain of custody: every action from every state, seals, two-person
destruction, who may do what, concurrency, and the custody log."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import AccessDenied
from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.evidence.models import CustodyEvent, CustodyState, EvidenceItem, EvidenceKind
from clinic.evidence.services import (
    CUSTODY_TRANSITIONS,
    CustodyInput,
    CustodyRefused,
    EvidenceNotFound,
    ItemSpec,
    chain_of,
    collect_kit,
    record_custody,
    verify_custody_log,
)
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record
from tests.helpers import api, open_case, signature_png
from tests.helpers import collect_kit as collect_via_helper

S = CustodyState


@pytest.fixture
def survivor(app: Flask) -> str:
    """The case evidence is collected for, with her evidence-collection consent."""
    case_id = open_case(app, "examiner").id
    record(app, case_id, "evidence-collection/v1", all_items(app, "evidence-collection/v1"))
    return case_id


@pytest.fixture
def kit(app: Flask, survivor: str) -> Any:
    return collect_via_helper(app, "examiner", survivor)


def act(app: Flask, username: str, item_id: str, action: str, **details: Any) -> CustodyEvent:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        event = record_custody(
            uow,
            actor=actor_for(user),
            item_id=item_id,
            action=action,
            details=CustodyInput(**details),
        )
        uow.session.expunge(event)
        return event


def item(app: Flask, item_id: str) -> EvidenceItem:
    with app.app_context():
        row = db.session.get(EvidenceItem, item_id)
        assert row is not None
        db.session.expunge(row)
        return row


def lab(world: World) -> str:
    return world.organizations["FORLAB"]


def valid_details(app: Flask, world: World, item_id: str, action: str) -> dict[str, Any]:
    """What a careful custodian would enter for `action` on this item now."""
    seal = item(app, item_id).seal_number
    return {
        "sealed": {"seal_number": "SEAL-NEW-1"},
        "stored": {
            "seal_number": seal,
            "location": "Store A, freezer 2",
        },
        "checked-out": {"seal_number": seal, "to_person": "custodian"},
        "transferred": {
            "seal_number": seal,
            "receiver_name": "Dr Lee",
            "receiver_organization_id": lab(world),
            "receiver_signature_png": signature_png(),
        },
        "returned": {"seal_number": "LAB-SEAL-9", "is_seal_intact": True},
        "seal-broken": {"note": "re-examination requested by the lab"},
        "destroyed": {
            "seal_number": seal,
            "second_person": "examiner",
            "second_person_password": PASSWORD,
        },
    }[action]


# How to bring a fresh item into each state: (username, action) steps.
PATHS: dict[CustodyState, list[str]] = {
    S.COLLECTED: [],
    S.SEALED: ["sealed"],
    S.STORED: ["sealed", "stored"],
    S.CHECKED_OUT: ["sealed", "stored", "checked-out"],
    S.TRANSFERRED: ["sealed", "stored", "transferred"],
    S.RETURNED: ["sealed", "stored", "transferred", "returned"],
    S.DESTROYED: ["sealed", "stored", "destroyed"],
}


def bring_to(app: Flask, world: World, item_id: str, state: CustodyState) -> None:
    for step in PATHS[state]:
        if step == "destroyed":
            _make_due(app, item_id)
        act(app, "custodian", item_id, step, **valid_details(app, world, item_id, step))
    assert item(app, item_id).state == state.value


def _make_due(app: Flask, item_id: str) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(EvidenceItem)
            .where(EvidenceItem.id == item_id)
            .values(disposal_due=datetime.now(UTC).date() - timedelta(days=1))
        )
        db.session.commit()


@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("action", list(CUSTODY_TRANSITIONS))
def test_every_action_from_every_state(
    app: Flask, world: World, kit: Any, state: CustodyState, action: str
) -> None:
    item_id = kit.items[0].id
    bring_to(app, world, item_id, state)
    if action == "destroyed":
        _make_due(app, item_id)
    allowed_from, next_state = CUSTODY_TRANSITIONS[action]
    # Sealing needs a broken seal: from states where the seal is intact it is refused.
    expected = state in allowed_from and not (
        action == "sealed" and item(app, item_id).is_seal_intact
    )
    before = item(app, item_id)
    if expected:
        event = act(app, "custodian", item_id, action, **valid_details(app, world, item_id, action))
        assert event.action == action
        assert item(app, item_id).state == next_state.value
    else:
        with pytest.raises(CustodyRefused):
            act(app, "custodian", item_id, action, **valid_details(app, world, item_id, action))
        after = item(app, item_id)
        assert (after.state, after.seal_number, after.holder) == (
            before.state,
            before.seal_number,
            before.holder,
        )


def test_declined_items_are_recorded_and_take_no_custody_action(
    app: Flask, world: World, survivor: str
) -> None:
    with app.app_context(), unit_of_work() as uow:
        examiner = actor_for(uow.session.scalar(sa.select(User).where(User.username == "examiner")))
        collected = collect_kit(
            uow,
            app.extensions["clinic.profiles"],
            actor=examiner,
            case_id=survivor,
            kit_name="Kit",
            items=[
                ItemSpec(
                    EvidenceKind.BLOOD,
                    "Blood for toxicology",
                    is_declined=True,
                    declined_reason="declined by the survivor; no reason asked",
                ),
                ItemSpec(EvidenceKind.SWAB, "Swab 1"),
            ],
        )
        declined_id = collected.items[0].id
    assert item(app, declined_id).state == S.DECLINED.value
    specimen = api(
        app.test_client(), "GET", f"/fhir/Specimen/{declined_id}", world["examiner"].token
    ).get_json()
    assert specimen["status"] == "unavailable"
    assert "declined by the survivor" in specimen["note"][0]["text"]
    for action in CUSTODY_TRANSITIONS:
        with pytest.raises(CustodyRefused):
            act(
                app,
                "custodian",
                declined_id,
                action,
                **valid_details(app, world, declined_id, action),
            )


def test_a_seal_number_that_does_not_match_stops_everything(
    app: Flask, world: World, kit: Any, engine: sa.Engine
) -> None:
    item_id = kit.items[1].id
    bring_to(app, world, item_id, S.STORED)
    with engine.connect() as connection:
        events = connection.exec_driver_sql("SELECT count(*) FROM custody_events").scalar()
    for action in ("checked-out", "transferred"):
        details = valid_details(app, world, item_id, action) | {"seal_number": "SEAL-FORGED"}
        with pytest.raises(CustodyRefused) as refused:
            act(app, "custodian", item_id, action, **details)
        assert "does not match" in refused.value.message
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM custody_events").scalar() == events


def test_a_broken_seal_must_be_resealed_before_storage(app: Flask, world: World, kit: Any) -> None:
    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.CHECKED_OUT)
    act(app, "custodian", item_id, "seal-broken", note="re-examination")
    with pytest.raises(CustodyRefused, match="broken"):
        act(
            app,
            "custodian",
            item_id,
            "stored",
            seal_number="SEAL-NEW-1",
            location="Fridge 1",
        )
    act(app, "custodian", item_id, "sealed", seal_number="SEAL-NEW-2")
    act(
        app,
        "custodian",
        item_id,
        "stored",
        seal_number="SEAL-NEW-2",
        location="Fridge 1",
        storage_condition="fridge",
    )
    assert item(app, item_id).state == S.STORED.value


def test_destruction_needs_the_date_and_a_second_person_who_confirms(
    app: Flask, world: World, kit: Any
) -> None:
    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.STORED)
    details = valid_details(app, world, item_id, "destroyed")
    with pytest.raises(CustodyRefused, match="disposal date"):
        act(app, "custodian", item_id, "destroyed", **details)
    _make_due(app, item_id)
    for wrong, message in (
        ({"second_person": "custodian"}, "someone else"),
        ({"second_person_password": "not their password"}, "password"),
        ({"second_person": "counsellor"}, "examiner or custodian"),
        ({"second_person": "examiner.south"}, "of this site"),
    ):
        with pytest.raises(CustodyRefused, match=message):
            act(app, "custodian", item_id, "destroyed", **(details | wrong))
    event = act(app, "custodian", item_id, "destroyed", **details)
    assert event.second_person == "examiner"
    assert item(app, item_id).state == S.DESTROYED.value


@pytest.mark.parametrize("receiver", ["RIVERPOL", "SOUTH", "NORTH"])
def test_evidence_goes_only_to_a_lab_until_a_release_allows_police(
    app: Flask, world: World, kit: Any, receiver: str
) -> None:
    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.STORED)
    details = valid_details(app, world, item_id, "transferred") | {
        "receiver_organization_id": world.organizations[receiver]
    }
    with pytest.raises(CustodyRefused) as refused:
        act(app, "custodian", item_id, "transferred", **details)
    assert refused.value.field == "receiver_organization_id"


@pytest.mark.parametrize(
    ("username", "action"),
    [
        ("examiner", "stored"),
        ("counsellor", "sealed"),
        ("admin", "sealed"),
        ("auditor", "sealed"),
    ],
)
def test_roles_may_record_only_their_custody_actions(
    app: Flask, world: World, kit: Any, username: str, action: str
) -> None:
    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.SEALED)
    with pytest.raises((AccessDenied, EvidenceNotFound)):
        act(app, username, item_id, action, **valid_details(app, world, item_id, action))


def test_another_sites_item_is_answered_like_an_unknown_one(
    app: Flask, world: World, kit: Any
) -> None:
    item_id = kit.items[0].id
    messages = []
    for target in (item_id, "no-such-item"):
        with pytest.raises(EvidenceNotFound) as refused:
            act(app, "examiner.south", target, "sealed", seal_number="X")
        messages.append(refused.value.message)
    assert messages[0] == messages[1]
    for username in ("examiner.south", "officer"):
        with app.app_context(), unit_of_work() as uow:
            intruder = actor_for(
                uow.session.scalar(sa.select(User).where(User.username == username))
            )
            with pytest.raises(EvidenceNotFound):
                chain_of(uow, actor=intruder, item_id=item_id)


def test_concurrent_actions_on_one_item_cannot_both_succeed(
    app: Flask, world: World, kit: Any
) -> None:
    """Transaction A records a transfer and holds it uncommitted; B tries the same
    transfer meanwhile. B must wait, then see A's result and be refused."""
    from clinic.core.unit_of_work import UnitOfWork

    item_id = kit.items[2].id
    bring_to(app, world, item_id, S.STORED)
    details = valid_details(app, world, item_id, "transferred")
    outcome: dict[str, str] = {}

    def second_custodian() -> None:
        try:
            act(app, "custodian", item_id, "transferred", **details)
            outcome["b"] = "ok"
        except CustodyRefused as refused:
            outcome["b"] = refused.message

    with app.app_context():
        first = UnitOfWork(db.new_session(app))
        custodian = actor_for(
            first.session.scalar(sa.select(User).where(User.username == "custodian"))
        )
        record_custody(
            first,
            actor=custodian,
            item_id=item_id,
            action="transferred",
            details=CustodyInput(**details),
        )
        racer = threading.Thread(target=second_custodian)
        racer.start()
        racer.join(timeout=1.5)
        assert racer.is_alive(), "the second transaction must wait for the first"
        first.commit()
        first.session.close()
    racer.join(timeout=30)
    assert "cannot be transferred now" in outcome["b"]
    with app.app_context():
        transfers = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(CustodyEvent)
            .where(CustodyEvent.item_id == item_id, CustodyEvent.action == "transferred")
        )
    assert transfers == 1


def test_the_specimen_is_clinical_and_the_custody_record_is_not(
    app: Flask, client: FlaskClient, world: World, kit: Any
) -> None:
    swab = kit.items[0]
    assert re.fullmatch(r"NORTH-K[0-9A-HJKMNP-TV-Z]{8}-01", swab.label)
    assert (
        api(client, "GET", f"/fhir/Specimen/{swab.id}", world["examiner"].token).status_code == 200
    )
    assert (
        api(client, "GET", f"/fhir/Specimen/{swab.id}", world["custodian"].token).status_code == 403
    )
    assert (
        api(client, "GET", f"/fhir/Specimen/{swab.id}", world["counsellor"].token).status_code
        == 403
    )
    assert (
        api(client, "GET", f"/fhir/Specimen/{swab.id}", world["officer"].token).status_code == 404
    )
    found = api(
        client, "GET", f"/fhir/Specimen?parent={kit.kit.id}", world["examiner"].token
    ).get_json()
    assert len(found["entry"]) == 3
    with app.app_context(), unit_of_work() as uow:
        custodian = actor_for(
            uow.session.scalar(sa.select(User).where(User.username == "custodian"))
        )
        _record, events = chain_of(uow, actor=custodian, item_id=swab.id)
        assert [e.action for e in events] == ["collected"]
        leaf = events[0].leaf_fields()
    assert "oral" not in str(leaf)
    assert kit.kit.patient_id not in str(leaf)


def test_the_custody_log_verifies_and_detects_a_changed_event(
    app: Flask, world: World, kit: Any, engine: sa.Engine
) -> None:
    from tests.conftest import BACKEND

    bring_to(app, world, kit.items[0].id, S.RETURNED)
    with app.app_context():
        report = verify_custody_log(db.session)
        assert report.is_valid, report.problem
        assert report.size == 4 + 4  # kit and three items collected, then four actions
    with engine.begin() as connection:
        if BACKEND == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            connection.exec_driver_sql("DROP TRIGGER custody_events_no_update")
        connection.exec_driver_sql(
            "UPDATE custody_events SET receiver_name = 'Someone Else' WHERE action = 'transferred'"
        )
    with app.app_context():
        report = verify_custody_log(db.session)
    assert not report.is_valid
    assert "does not match its recorded leaf hash" in (report.problem or "")


def _bomb() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, format="PNG")  # tiny file, 144 million pixels
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (None, "signs on the screen"),
        (b"GIF89a not a png", "not a PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a PNG"),
        ("jpeg", "not a PNG"),
        ("bomb", "not a PNG"),
        ("huge", "unexpected size"),
    ],
)
def test_a_transfer_needs_a_real_signature(
    app: Flask, world: World, kit: Any, signature: Any, message: str
) -> None:
    import io

    from PIL import Image

    if signature == "jpeg":
        buffer = io.BytesIO()
        Image.new("RGB", (200, 60), "white").save(buffer, format="JPEG")
        signature = buffer.getvalue()
    elif signature == "bomb":
        signature = _bomb()
    elif signature == "huge":
        signature = signature_png(2500, 80)
    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.STORED)
    details = valid_details(app, world, item_id, "transferred") | {
        "receiver_signature_png": signature
    }
    with pytest.raises(CustodyRefused) as refused:
        act(app, "custodian", item_id, "transferred", **details)
    assert message in refused.value.message
    assert item(app, item_id).state == S.STORED.value


def test_the_signature_is_kept_byte_exact_and_hashed_into_the_log(
    app: Flask, client: FlaskClient, world: World, kit: Any
) -> None:
    import hashlib

    from tests.helpers import login

    item_id = kit.items[0].id
    bring_to(app, world, item_id, S.TRANSFERRED)
    with app.app_context():
        event = db.session.scalar(
            sa.select(CustodyEvent).where(
                CustodyEvent.item_id == item_id, CustodyEvent.action == "transferred"
            )
        )
        assert event is not None
        digest = event.receiver_signature
        assert event.leaf_fields()["receiverSignatureSha256"] == digest
    assert digest == hashlib.sha256(signature_png()).hexdigest()
    for username, status in (
        ("custodian", 200),
        ("examiner", 200),
        ("examiner.south", 404),
        ("counsellor", 403),
    ):
        browser = app.test_client()
        login(browser, username, PASSWORD)
        response = browser.get(f"/evidence/signatures/{digest}")
        assert response.status_code == status, username
        if status == 200:
            assert response.data == signature_png()
            assert response.mimetype == "image/png"


def test_transfers_not_back_within_the_limit_show_as_overdue(
    app: Flask, world: World, kit: Any
) -> None:
    from tests.helpers import login

    late, recent = kit.items[0].id, kit.items[1].id
    bring_to(app, world, late, S.TRANSFERRED)
    bring_to(app, world, recent, S.TRANSFERRED)
    with app.app_context():
        db.session.execute(
            sa.update(EvidenceItem)
            .where(EvidenceItem.id == late)
            .values(
                last_event_at=datetime.now(UTC)
                - timedelta(days=app.config["TRANSFER_OVERDUE_DAYS"] + 1)
            )
        )
        db.session.commit()
    browser = app.test_client()
    login(browser, "custodian", PASSWORD)
    page = browser.get("/evidence/?overdue=1").get_data(as_text=True)
    assert item(app, late).label in page
    assert item(app, recent).label not in page
    everything = browser.get("/evidence/").get_data(as_text=True)
    assert everything.count("overdue</strong>") == 1
