"""Retention: the disposal date fixed at sealing by the site's rule for the case's
reporting mode and age group, moved only later (objection, reporting mode), coming
due; storage locations; per-site transfer limits."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cases.models import ProxyRelationship, ReportingMode
from clinic.cases.services import Proxy
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.core.db import db
from clinic.evidence.models import AgeGroup, CountedFrom, CustodyEvent, EvidenceItem
from clinic.evidence.retention import (
    DEFAULT_RULES,
    RetentionRefused,
    RetentionTerms,
    SiteDeadlines,
    add_months,
    coming_due,
    extend_retention,
    set_site_retention,
)
from clinic.evidence.services import CustodyRefused, verify_custody_log
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.evidence.test_custody import act, item
from tests.helpers import collect_kit, csrf_token, login, open_case


def actor(app: Flask, username: str) -> Any:
    user = db.session.scalar(sa.select(User).where(User.username == username))
    return actor_for(user)


def seal_kit(app: Flask, kit: Any) -> None:
    act(app, "examiner", kit.kit.id, "sealed", seal_number="K-SEAL")
    for n, member in enumerate(kit.items):
        act(app, "examiner", member.id, "sealed", seal_number=f"I-SEAL-{n}")


def events(app: Flask, item_id: str) -> list[CustodyEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(CustodyEvent)
                .where(CustodyEvent.item_id == item_id)
                .order_by(CustodyEvent.id)
            )
        )


def set_rules(app: Flask, site_id: str, **changes: Any) -> None:
    rules = dict(DEFAULT_RULES)
    rules.update(changes.pop("rules", {}))
    deadlines = SiteDeadlines(
        **(
            {"transfer_limit_days": 60, "objection_extension_months": 24, "coming_due_days": 90}
            | changes
        )
    )
    with app.app_context(), unit_of_work() as uow:
        set_site_retention(
            uow, actor=actor(app, "admin"), site_id=site_id, rules=rules, deadlines=deadlines
        )


def test_sealing_fixes_one_disposal_date_for_the_kit_and_its_items(app: Flask) -> None:
    case = open_case(app)  # anonymous adult: 2 years 2 months from collection by default
    kit = collect_kit(app, "examiner", case.id)
    assert item(app, kit.kit.id).disposal_due is None
    seal_kit(app, kit)
    expected = add_months(kit.kit.collected_at.date(), 26)
    for member in (kit.kit, *kit.items):
        assert item(app, member.id).disposal_due == expected
        sealed = [e for e in events(app, member.id) if e.action == "sealed"]
        assert sealed[0].disposal_due == expected
        assert json.loads(_leaf(sealed[0]))["disposalDue"] == expected.isoformat()


def _leaf(event: CustodyEvent) -> bytes:
    from clinic.evidence.services import custody_leaf

    return custody_leaf(event)


def test_the_site_rule_for_the_reporting_mode_and_a_minors_18th_birthday_decide(
    app: Flask, world: World
) -> None:
    set_rules(
        app,
        world.organizations["NORTH"],
        rules={
            (ReportingMode.REPORTED, AgeGroup.ADULT): RetentionTerms(10, 6, CountedFrom.COLLECTION),
            (ReportingMode.ANONYMOUS, AgeGroup.MINOR): RetentionTerms(3, 0, CountedFrom.MAJORITY),
        },
    )
    adult = open_case(
        app,
        is_anonymous=False,
        reporting_mode=ReportingMode.REPORTED,
        age_years=None,
        name="A Survivor",
        birth_date=date(1990, 1, 1),
    )
    minor = open_case(app, age_years=15, proxy=Proxy(ProxyRelationship.PARENT, "she is 15"))
    adult_kit, minor_kit = (
        collect_kit(app, "examiner", adult.id),
        collect_kit(app, "examiner", minor.id),
    )
    seal_kit(app, adult_kit)
    seal_kit(app, minor_kit)
    assert item(app, adult_kit.kit.id).disposal_due == add_months(
        adult_kit.kit.collected_at.date(), 126
    )
    # 15 at registration: 18 at the latest three years on, then three more years.
    assert item(app, minor_kit.kit.id).disposal_due == add_months(
        minor_kit.kit.collected_at.date(), 72
    )
    # Another site's rules are its own: SOUTH still uses the defaults.
    south = collect_kit(app, "examiner.south", open_case(app, "examiner.south").id)
    act(app, "examiner.south", south.kit.id, "sealed", seal_number="S-1")
    assert item(app, south.kit.id).disposal_due == add_months(south.kit.collected_at.date(), 26)


def test_a_survivors_objection_keeps_the_kit_longer_and_is_in_the_log(
    app: Flask, world: World
) -> None:
    kit = collect_kit(app, "examiner", open_case(app).id)
    with app.app_context(), unit_of_work() as uow, pytest.raises(RetentionRefused, match="sealed"):
        extend_retention(
            uow,
            actor=actor(app, "custodian"),
            kit_id=kit.kit.id,
            reason="x",
            default_transfer_days=60,
        )
    seal_kit(app, kit)
    before = item(app, kit.kit.id).disposal_due
    assert before is not None
    for bad_target, reason, message in (
        (kit.items[0].id, "she phoned", "whole kit"),
        (kit.kit.id, "  ", "how the survivor objected"),
    ):
        with (
            app.app_context(),
            unit_of_work() as uow,
            pytest.raises(RetentionRefused, match=message),
        ):
            extend_retention(
                uow,
                actor=actor(app, "custodian"),
                kit_id=bad_target,
                reason=reason,
                default_transfer_days=60,
            )
    with app.app_context(), unit_of_work() as uow:
        due = extend_retention(
            uow,
            actor=actor(app, "custodian"),
            kit_id=kit.kit.id,
            reason="she phoned on 3 March, code word checked",
            default_transfer_days=60,
        )
    assert due == add_months(before, 24)
    for member in (kit.kit, *kit.items):
        assert item(app, member.id).disposal_due == due
        last = events(app, member.id)[-1]
        assert (last.action, last.disposal_due) == ("retention-extended", due)
        assert "code word checked" in (last.note or "")
    with app.app_context():
        assert verify_custody_log(db.session).is_valid


def test_a_change_of_reporting_mode_moves_dates_later_never_earlier(app: Flask) -> None:
    from tests.cases.test_cases import change_mode

    case = open_case(app)  # anonymous: 26 months
    kit = collect_kit(app, "examiner", case.id)
    seal_kit(app, kit)
    short = item(app, kit.kit.id).disposal_due
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    change_mode(app, case.id, ReportingMode.REPORTED, "she reported in person")  # 30 years
    long = item(app, kit.kit.id).disposal_due
    assert long == add_months(kit.kit.collected_at.date(), 360)
    assert short is not None
    assert long is not None
    assert long > short
    assert events(app, kit.items[0].id)[-1].note == "reporting mode changed to reported"
    change_mode(app, case.id, ReportingMode.UNREPORTED, "she withdrew her report")  # 26 months
    assert item(app, kit.kit.id).disposal_due == long


def test_destruction_waits_for_the_date(app: Flask, world: World) -> None:
    kit = collect_kit(app, "examiner", open_case(app).id)
    seal_kit(app, kit)
    target = kit.items[0].id
    act(app, "custodian", target, "stored", seal_number="I-SEAL-0", location="Store A, shelf 2")
    with pytest.raises(CustodyRefused, match="before its disposal date"):
        act(
            app,
            "custodian",
            target,
            "destroyed",
            seal_number="I-SEAL-0",
            second_person="examiner",
            second_person_password=PASSWORD,
        )
    due = item(app, target).disposal_due
    assert due is not None
    late = utcnow().replace(year=due.year + 1)
    act(
        app,
        "custodian",
        target,
        "destroyed",
        seal_number="I-SEAL-0",
        second_person="examiner",
        second_person_password=PASSWORD,
        occurred_at=late,
    )
    assert item(app, target).state == "destroyed"


def test_coming_due_lists_this_sites_kits_within_the_window(app: Flask, world: World) -> None:
    soon, later = (collect_kit(app, "examiner", open_case(app).id) for _ in range(2))
    other = collect_kit(app, "examiner.south", open_case(app, "examiner.south").id)
    today = utcnow().date()
    with app.app_context():
        for kit, days in ((soon, 10), (later, 200), (other, 5)):
            db.session.execute(
                sa.update(EvidenceItem)
                .where(EvidenceItem.id == kit.kit.id)
                .values(disposal_due=today + timedelta(days=days))
            )
        db.session.commit()
    with app.app_context(), unit_of_work() as uow:
        found, deadlines = coming_due(uow, actor=actor(app, "custodian"), default_transfer_days=60)
        assert [d.item.id for d in found] == [soon.kit.id]
        assert (found[0].days_left, found[0].is_overdue, deadlines.coming_due_days) == (
            10,
            False,
            90,
        )
    set_rules(app, world.organizations["NORTH"], coming_due_days=365)
    with app.app_context(), unit_of_work() as uow:
        found, _ = coming_due(uow, actor=actor(app, "custodian"), default_transfer_days=60)
        assert {d.item.id for d in found} == {soon.kit.id, later.kit.id}


@pytest.mark.parametrize(
    ("rules", "deadlines", "message"),
    [
        (
            {(ReportingMode.REPORTED, AgeGroup.ADULT): RetentionTerms(5, 0, CountedFrom.MAJORITY)},
            {},
            "minors only",
        ),
        (
            {
                (ReportingMode.REPORTED, AgeGroup.ADULT): RetentionTerms(
                    0, 0, CountedFrom.COLLECTION
                )
            },
            {},
            "at least one month",
        ),
        (
            {
                (ReportingMode.REPORTED, AgeGroup.ADULT): RetentionTerms(
                    1, 12, CountedFrom.COLLECTION
                )
            },
            {},
            "at least one month",
        ),
        ({}, {"transfer_limit_days": 0}, "positive"),
    ],
)
def test_retention_settings_that_make_no_sense_are_refused(
    app: Flask, world: World, rules: dict[Any, Any], deadlines: dict[str, int], message: str
) -> None:
    with pytest.raises(RetentionRefused, match=message):
        set_rules(app, world.organizations["NORTH"], rules=rules, **deadlines)


def test_only_admins_set_retention_and_only_for_sites(app: Flask, world: World) -> None:
    from clinic.access import AccessDenied

    with app.app_context(), unit_of_work() as uow, pytest.raises(AccessDenied):
        set_site_retention(
            uow,
            actor=actor(app, "custodian"),
            site_id=world.organizations["NORTH"],
            rules={},
            deadlines=SiteDeadlines(1, 1, 1),
        )
    with pytest.raises(RetentionRefused, match="clinic sites only"):
        set_rules(app, world.organizations["RIVERPOL"])


def test_admin_sets_retention_through_the_page(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin", PASSWORD)
    path = f"/admin/organizations/{world.organizations['NORTH']}/retention"
    page = client.get(path).get_data(as_text=True)
    assert 'value="26"' not in page  # years and months are separate: 2 years 2 months
    form = {"csrf_token": csrf_token(client, path)}
    for (mode, group), terms in DEFAULT_RULES.items():
        key = f"{mode.value}_{group.value}"
        form |= {
            f"{key}_years": str(terms.years),
            f"{key}_months": str(terms.months),
            f"{key}_from": terms.counted_from.value,
        }
    form |= {
        "transfer_limit_days": "30",
        "objection_extension_months": "12",
        "coming_due_days": "60",
    }
    bad = form | {"reported_adult_from": "majority"}
    assert client.post(path, data=bad).status_code == 422
    assert client.post(path, data=form | {"unreported_adult_years": "5"}).status_code == 302
    kit = collect_kit(app, "examiner", open_case(app, reporting_mode=ReportingMode.ANONYMOUS).id)
    seal_kit(app, kit)
    assert item(app, kit.kit.id).disposal_due == add_months(kit.kit.collected_at.date(), 26)
    unreported = open_case(
        app,
        is_anonymous=False,
        reporting_mode=ReportingMode.UNREPORTED,
        age_years=None,
        name="B Survivor",
        birth_date=date(1985, 2, 2),
    )
    kit = collect_kit(app, "examiner", unreported.id)
    seal_kit(app, kit)
    assert item(app, kit.kit.id).disposal_due == add_months(kit.kit.collected_at.date(), 62)


def test_items_are_stored_only_in_an_active_location_of_their_site(
    app: Flask, client: FlaskClient, world: World
) -> None:
    kit = collect_kit(app, "examiner", open_case(app).id)
    seal_kit(app, kit)
    target = kit.items[0].id
    for location, condition, message in (
        ("Nowhere", None, "not a storage location of this site"),
        ("South store", None, "not a storage location of this site"),
        ("Fridge 1", "freezer", "Fridge 1 is fridge, not freezer"),
        ("", None, "Choose where"),
    ):
        with pytest.raises(CustodyRefused, match=message):
            act(
                app,
                "custodian",
                target,
                "stored",
                seal_number="I-SEAL-0",
                location=location,
                storage_condition=condition,
            )
    login(client, "custodian", PASSWORD)
    token = csrf_token(client, "/evidence/locations")
    assert (
        client.post(
            "/evidence/locations",
            data={"csrf_token": token, "name": "Fridge 1", "condition": "fridge"},
        ).status_code
        == 422
    )
    with app.app_context():
        from clinic.evidence.models import StorageLocation

        fridge = db.session.scalar(
            sa.select(StorageLocation).where(StorageLocation.name == "Fridge 1")
        )
        assert fridge is not None
        fridge_id = fridge.id
    assert (
        client.post(
            "/evidence/locations/retire", data={"csrf_token": token, "location_id": str(fridge_id)}
        ).status_code
        == 302
    )
    with pytest.raises(CustodyRefused, match="not a storage location"):
        act(app, "custodian", target, "stored", seal_number="I-SEAL-0", location="Fridge 1")
    event = act(
        app, "custodian", target, "stored", seal_number="I-SEAL-0", location="Store A, freezer 2"
    )
    assert (event.location, event.storage_condition) == ("Store A, freezer 2", "freezer")


def test_the_sites_transfer_limit_decides_what_is_overdue(
    app: Flask, client: FlaskClient, world: World
) -> None:
    from tests.evidence.test_custody import valid_details

    kit = collect_kit(app, "examiner", open_case(app).id)
    seal_kit(app, kit)
    target = kit.items[0].id
    act(app, "custodian", target, "stored", seal_number="I-SEAL-0", location="Store A, shelf 2")
    act(app, "custodian", target, "transferred", **valid_details(app, world, target, "transferred"))
    with app.app_context():
        db.session.execute(
            sa.update(EvidenceItem)
            .where(EvidenceItem.id == target)
            .values(last_event_at=utcnow() - timedelta(days=10))
        )
        db.session.commit()
    login(client, "custodian", PASSWORD)
    label = item(app, target).label
    assert label not in client.get("/evidence/?overdue=1").get_data(as_text=True)
    set_rules(app, world.organizations["NORTH"], transfer_limit_days=7)
    page = client.get("/evidence/?overdue=1").get_data(as_text=True)
    assert label in page
    assert "more than 7 days" in page
