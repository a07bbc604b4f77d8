"""Releases in words (issue 12, point 4): the clinic's approval page says what will
leave the building and what will not, and why; the officer's request page and the
release report say what was released of what they asked for, and nothing more;
the printable released exam report holds only released content and names the
examiner who signed it, with role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.exam.services import sign_off
from clinic.ledger.services import generate_key
from clinic.release.bundle import release_key_name
from clinic.release.models import ReleaseRequest
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to
from tests.evidence.test_retention import seal_kit
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _request(app: Flask, client: FlaskClient, world: World) -> tuple[Any, str]:
    """A signed exam, a sealed kit of two swabs and clothing, a force asking for
    the report, the swabs and her identity; she permits the report without her own
    account, the swabs and the clothing (not asked for), not her identity."""
    case = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, case.id))
    kit = collect_kit(app, "examiner", case.id, ("swab", "swab", "clothing"))
    seal_kit(app, kit)
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
    filed = file(
        client, world["officer"].token, case.reference, requested=("report", "swabs", "identity")
    ).get_json()
    release_to(
        app,
        case.id,
        "RIVERPOL",
        all_items(app, "police-release/v1", agree=False)
        | {"report": True, "report-account": False, "swabs": True, "clothing": True},
    )
    return kit, filed["id"]


def _staff(app: Flask, username: str = "counsellor") -> FlaskClient:
    staff = app.test_client()
    login(staff, username, PASSWORD)
    return staff


def _approve(app: Flask, request_id: str, username: str = "examiner") -> Any:
    staff = _staff(app, username)
    page = f"/releases/incoming/{request_id}"
    return staff.post(
        f"/releases/incoming/{request_id}/approve", data={"csrf_token": csrf_token(staff, page)}
    )


def _section(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(ul|p|dd)>', page, re.S)
    assert match, element_id
    return re.sub(r"\s+", " ", match.group(1))


def test_the_approval_page_says_in_words_what_leaves_and_what_does_not_and_why(
    app: Flask, client: FlaskClient, world: World
) -> None:
    kit, request_id = _request(app, client, world)
    page = _staff(app).get(f"/releases/incoming/{request_id}").get_data(as_text=True)
    leaving = _section(page, "releasable")
    staying = _section(page, "not-releasable")
    swabs = [i for i in kit.items if i.kind == "swab"]
    clothing = next(i for i in kit.items if i.kind == "clothing")
    assert "The signed exam report, signed by Examiner on 20" in leaving
    assert "without her own account" in leaving
    for n, swab in enumerate(kit.items):
        if swab.kind == "swab":
            assert f"{swab.label}, seal I-SEAL-{n}" in leaving
    assert clothing.label not in leaving
    assert "Her own account of the assault (4 records): she declined" in staying
    assert f"{clothing.label}, seal I-SEAL-2: the force did not ask for it" in staying
    assert "Her name and contact details: she declined" in staying
    assert all(swab.label not in staying for swab in swabs)
    # Words, not FHIR ids.
    for kind in ("Composition/", "Observation/", "Specimen/", "Encounter/", "_history"):
        assert kind not in page
    assert not {i.id for i in kit.items} & set(UUID.findall(page))
    # After approval the page still speaks in words.
    assert _approve(app, request_id).status_code == 302
    approved = _staff(app).get(f"/releases/incoming/{request_id}").get_data(as_text=True)
    assert "Specimen/" not in approved
    assert "Composition/" not in approved


def test_the_officer_sees_in_words_what_was_released_of_what_they_asked_for(
    app: Flask, client: FlaskClient, world: World
) -> None:
    kit, request_id = _request(app, client, world)
    assert _approve(app, request_id).status_code == 302
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    swabs = sorted(i.label for i in kit.items if i.kind == "swab")
    for url in (f"/releases/{request_id}", f"/releases/{request_id}/report"):
        page = officer.get(url).get_data(as_text=True)
        outcome = _section(page, "outcome")
        assert "The exam report: released." in outcome
        assert f"Swabs: released ({', '.join(swabs)})." in outcome
        assert "Her name and contact details: not released." in outcome
        # Only in terms of what they asked for: no reasons, no other items.
        for word in ("declin", "clothing", "account", "consent does not"):
            assert word not in outcome.lower(), (url, word)
    report = officer.get(f"/releases/{request_id}/report").get_data(as_text=True)
    assert "1 of the 3 items you asked for" in report


def test_the_printable_released_exam_report_holds_only_released_content(
    app: Flask, client: FlaskClient, world: World
) -> None:
    kit, request_id = _request(app, client, world)
    assert _approve(app, request_id).status_code == 302
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    response = officer.get(f"/releases/{request_id}/exam-report")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    # The examiner who signed, by name and role: a witness.
    assert "Examiner, Forensic examiner" in _section(page, "signed-by").replace("</dd", "")
    # Released findings and treatment, in words.
    assert "Bruise" in page
    assert "Levonorgestrel 1.5 mg" in page
    assert "Injuries" in page
    # Nothing withheld: her own account, her demeanour, the clothing, her identity.
    for withheld in ("held me down", "Quiet, tearful", "History"):
        assert withheld not in page, withheld
    # Only the sections the police never receive say so (test_minimum_necessary).
    marker = '<p class="withheld">Withheld: the police never receive this section.</p>'
    assert page.count(marker) == 2
    assert "withheld" not in page.replace(marker, "").lower()
    clothing = next(i for i in kit.items if i.kind == "clothing")
    assert clothing.label not in page
    for swab in (i for i in kit.items if i.kind == "swab"):
        assert swab.label in page
    assert "Patient/" not in page
    # Audited and recorded like a download.
    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, request_id)
        assert request is not None
        assert [d.get("printed") for d in request.delivered or []] == ["exam-report"]
    audit = api(
        client, "GET", "/fhir/AuditEvent?subtype=export&altid=officer", world["auditor"].token
    )
    assert len(audit.get_json()["entry"]) == 1
    clinic = _staff(app).get(f"/releases/incoming/{request_id}").get_data(as_text=True)
    assert "released exam report printed by officer" in clinic


def test_the_printed_report_is_refused_as_the_bundle_is(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _kit, request_id = _request(app, client, world)
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    # Not approved yet: refused, saying so, with nothing of the case.
    refused = officer.get(f"/releases/{request_id}/exam-report")
    assert refused.status_code == 409
    assert "awaiting survivor decision" in refused.get_data(as_text=True)
    assert _approve(app, request_id).status_code == 302
    other = app.test_client()
    login(other, "officer.hill", PASSWORD)
    assert other.get(f"/releases/{request_id}/exam-report").status_code == 404
    assert other.get("/releases/no-such/exam-report").status_code == 404
    for staff in ("examiner", "counsellor", "custodian", "admin", "auditor"):
        assert _staff(app, staff).get(f"/releases/{request_id}/exam-report").status_code == 403


@pytest.mark.parametrize("registration", ["NMC 12A3456E"])
def test_the_examiners_registration_is_shown_where_their_account_has_one(
    app: Flask, client: FlaskClient, world: World, registration: str
) -> None:
    from clinic.accounts.models import User

    # The signer is fixed in the report at sign-off: the registration is set before.
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(
            sa.update(User)
            .where(User.username == "examiner")
            .values(professional_registration=registration)
        )
    _kit, request_id = _request(app, client, world)
    with app.app_context(), unit_of_work() as uow:
        uow.session.execute(
            sa.update(User)
            .where(User.username == "examiner")
            .values(professional_registration="CHANGED LATER")
        )
    assert _approve(app, request_id).status_code == 302
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    page = officer.get(f"/releases/{request_id}/exam-report").get_data(as_text=True)
    assert f"professional registration {registration}" in page
    assert "CHANGED LATER" not in page
