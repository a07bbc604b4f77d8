"""The releasable set (promise 3): exactly what her active Consents permit to one
police force, for legal purposes, now; tried the way a force would hope to get more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.access import AccessDenied, Action, Actor, Role, decide
from clinic.access.policy import RELEASE
from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.clock import utcnow
from clinic.exam.services import sign_off
from clinic.release.services import ReleaseRefused, releasable
from tests.conftest import World
from tests.consent.helpers import all_items, release_to, withdraw
from tests.exam.helpers import call, complete_exam
from tests.helpers import collect_kit, open_case


def _released(
    app: Flask, case_id: str, force_id: str, *, days_from_now: int = 0, username: str = "examiner"
) -> dict[str, set[str]]:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        found = releasable(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            force_id=force_id,
            at=utcnow() + timedelta(days=days_from_now),
        )
    kinds: dict[str, set[str]] = {}
    for version in found:
        assert "text" not in version.content  # narrative left out
        kinds.setdefault(version.resource_type, set()).add(_what(version.content))
    return kinds


def _what(content: dict[str, Any]) -> str:
    if content["resourceType"] == "Specimen":
        return str(content["type"]["coding"][0]["code"])
    if content["resourceType"] == "Observation":
        return next(
            c["code"]
            for cat in content.get("category", [])
            for c in cat["coding"]
            if c["system"].endswith("exam-section")
        )
    return str(content["resourceType"])


@pytest.fixture
def case(app: Flask) -> Any:
    opened = open_case(app)
    exam_id = complete_exam(app, opened.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    collect_kit(app, "examiner", opened.id, ("swab", "swab", "blood", "clothing"))
    return opened


def test_nothing_is_releasable_without_her_consent(app: Flask, world: World, case: Any) -> None:
    assert _released(app, case.id, world.organizations["RIVERPOL"]) == {}


def test_the_report_and_two_swabs_but_not_the_rest(app: Flask, world: World, case: Any) -> None:
    agreed = dict.fromkeys(all_items(app, "police-release/v1"), False) | {
        "report": True,
        "report-account": False,
        "swabs": True,
    }
    release_to(app, case.id, "RIVERPOL", agreed)
    released = _released(app, case.id, world.organizations["RIVERPOL"])
    assert released["Specimen"] == {"swab"}  # not the blood, not the clothing
    assert "Patient" not in released  # identity declined
    assert "history" not in released["Observation"]  # her account held back
    assert {"injuries", "timing"} <= released["Observation"]
    assert released["Composition"] == {"Composition"}


def test_another_force_gets_nothing(app: Flask, world: World, case: Any) -> None:
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    assert _released(app, case.id, world.organizations["HILLPOL"]) == {}


def test_after_the_end_date_nothing_is_releasable(app: Flask, world: World, case: Any) -> None:
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"), days=30)
    river = world.organizations["RIVERPOL"]
    assert _released(app, case.id, river, days_from_now=29)
    assert _released(app, case.id, river, days_from_now=31) == {}


def test_withdrawal_stops_the_release_at_once(app: Flask, world: World, case: Any) -> None:
    consent_id = release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    river = world.organizations["RIVERPOL"]
    assert "Patient" in _released(app, case.id, river)
    narrowed = withdraw(app, case.id, consent_id, items=("identity",))
    assert "Patient" not in _released(app, case.id, river)
    withdraw(app, case.id, narrowed)
    assert _released(app, case.id, river) == {}


def test_evidence_but_not_identity(app: Flask, world: World, case: Any) -> None:
    agreed = all_items(app, "police-release/v1", agree=False) | {
        "swabs": True,
        "clothing": True,
        "toxicology": True,
    }
    release_to(app, case.id, "RIVERPOL", agreed)
    released = _released(app, case.id, world.organizations["RIVERPOL"])
    assert set(released) == {"Specimen"}
    assert released["Specimen"] == {"swab", "clothing", "blood"}


def test_intimate_images_are_never_released_whatever_the_consent(app: Flask, world: World) -> None:
    from clinic.access import ResourceFacts
    from clinic.access.consent import Directive, Provision, Recipient, Verdict

    river = world.organizations["RIVERPOL"]
    everything = Directive(
        "c",
        "police-release/v1",
        True,
        (
            Provision(
                Verdict.PERMIT, recipients=frozenset({Recipient("police", f"Organization/{river}")})
            ),
        ),
    )

    class Book:
        def directives(self, subject: str) -> tuple[Directive, ...]:
            return (everything,)

    officer = Actor("u", "officer", Role.POLICE, river)
    image = ResourceFacts(
        "Observation",
        "x",
        site_id="north",
        subject="Patient/p",
        data_classes=frozenset({"intimate-images"}),
        security_labels=frozenset({"http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V"}),
    )
    assert not decide(
        officer, Action.EXPORT, "Observation", image, operation=RELEASE, consents=Book()
    ).permitted
    image_without_label = ResourceFacts(
        "Observation",
        "y",
        site_id="north",
        subject="Patient/p",
        data_classes=frozenset({"exam-report"}),
    )
    assert decide(
        officer,
        Action.EXPORT,
        "Observation",
        image_without_label,
        operation=RELEASE,
        consents=Book(),
    ).permitted
    # Direct reads stay closed: a release is the only way out.
    assert not decide(
        officer, Action.READ, "Observation", image_without_label, consents=Book()
    ).permitted
    assert not decide(
        officer, Action.EXPORT, "Observation", image_without_label, consents=Book()
    ).permitted


def test_only_her_care_team_prepares_a_release(app: Flask, world: World, case: Any) -> None:
    river = world.organizations["RIVERPOL"]
    for username in ("examiner.south", "custodian", "officer"):
        with pytest.raises((ReleaseRefused, AccessDenied)):
            _released(app, case.id, river, username=username)
    with pytest.raises(ReleaseRefused):
        _released(app, case.id, world.organizations["FORLAB"])
