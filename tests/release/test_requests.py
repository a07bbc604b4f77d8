"""Release requests (docs/design.md section 7, promise 2): always accepted, the same
answer whatever the reference, each force seeing only its own; the clinic matches
them to its cases and approves only what her consent permits."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.exam.services import sign_off
from clinic.release.models import ReleaseRequest
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to, withdraw
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file


@dataclass
class ExaminedCase:
    id: str
    reference: str
    kit: Any


@pytest.fixture
def case(app: Flask) -> ExaminedCase:
    opened = open_case(app)
    exam_id = complete_exam(app, opened.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    kit = collect_kit(app, "examiner", opened.id, ("swab", "swab", "clothing"))
    return ExaminedCase(opened.id, opened.reference, kit)


def _shape(task: dict[str, Any]) -> dict[str, Any]:
    """What may differ between two filed requests: ids, times and what was sent."""
    return {
        key: value
        for key, value in task.items()
        if key not in ("id", "identifier", "authoredOn", "input")
    }


def _statements(engine: sa.Engine) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        # The token's last use is written at most once a minute, whatever the request:
        # it says when the force called, not what it cited.
        if statement.split()[:2] == ["UPDATE", "api_tokens"]:
            return
        seen.append(statement.split()[0])

    return seen, record


def test_every_request_gets_the_same_answer_and_the_same_work(
    app: Flask, client: FlaskClient, world: World, case: Any, engine: sa.Engine
) -> None:
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    refused = open_case(app)
    release_to(app, refused.id, "RIVERPOL", all_items(app, "police-release/v1", agree=False))
    undecided = open_case(app)
    token = world["officer"].token
    answers = {}
    work = {}
    for name, cited in {
        "unknown": "SA-0000-0000",
        "consented": case.reference,
        "refused": refused.reference,
        "undecided": undecided.reference,
        "kit label": case.kit.kit.label,
    }.items():
        seen, listener = _statements(engine)
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            response = file(client, token, cited)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        assert response.status_code == 201, response.get_data(as_text=True)
        answers[name] = _shape(response.get_json())
        work[name] = seen
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1
    assert answers["unknown"]["businessStatus"]["text"] == "awaiting survivor decision"
    # The same statements, in the same order, whatever was cited.
    assert len({tuple(w) for w in work.values()}) == 1, work
    # Only the clinic knows which matched.
    with app.app_context(), unit_of_work() as uow:
        matched = dict(
            uow.session.execute(
                sa.select(ReleaseRequest.cited_reference, ReleaseRequest.case_id)
            ).all()
        )
    assert matched["SA-0000-0000"] is None
    assert matched[case.reference] == matched[case.kit.kit.label] == case.id


def _refused_reads(engine: sa.Engine, reference: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM audit_events WHERE action = 'R' AND outcome <> '0' "
                    "AND channel = 'fhir' AND entities LIKE :ref"
                ),
                {"ref": f"%{reference}%"},
            ).scalar()
            or 0
        )


def test_each_force_sees_only_its_own_requests(
    app: Flask, client: FlaskClient, world: World, case: Any, engine: sa.Engine
) -> None:
    filed = file(client, world["officer"].token, case.reference).get_json()
    other = world["officer.hill"].token
    theirs = api(client, "GET", f"/fhir/Task/{filed['id']}", other)
    unknown = api(client, "GET", "/fhir/Task/no-such-request", other)
    assert theirs.status_code == unknown.status_code == 404
    # Both attempts leave a refused read in the audit trail, the same for each.
    assert _refused_reads(engine, f"Task/{filed['id']}") == 1
    assert _refused_reads(engine, "Task/no-such-request") == 1
    assert theirs.get_json()["issue"][0]["code"] == unknown.get_json()["issue"][0]["code"]
    assert api(client, "GET", "/fhir/Task", other).get_json().get("entry", []) == []
    mine = api(client, "GET", "/fhir/Task", world["officer"].token).get_json()
    assert [e["resource"]["id"] for e in mine["entry"]] == [filed["id"]]
    assert (
        api(client, "GET", f"/fhir/Task/{filed['id']}", world["officer"].token).status_code == 200
    )
    for staff in ("examiner", "counsellor", "custodian", "admin", "auditor"):
        assert api(client, "GET", "/fhir/Task", world[staff].token).status_code == 403
        assert file(client, world[staff].token, case.reference).status_code == 403


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"crime": ""}, "crime_reference"),
        ({"requested": ()}, "requested"),
        ({"requested": ("everything",)}, "requested"),
        ({"cited": ""}, "cited_reference"),
    ],
)
def test_a_bad_request_is_refused_clearly_and_records_nothing(
    app: Flask, client: FlaskClient, world: World, change: dict[str, Any], where: str
) -> None:
    cited = change.pop("cited", "SA-0000-0000")
    response = file(client, world["officer"].token, cited, **change)
    assert response.status_code == 422
    assert where in json.dumps(response.get_json())
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(ReleaseRequest)) == 0


def _approve(app: Flask, username: str, request_id: str) -> Any:
    client = app.test_client()
    login(client, username, PASSWORD)
    page = f"/releases/incoming/{request_id}"
    return client.post(
        f"/releases/incoming/{request_id}/approve", data={"csrf_token": csrf_token(client, page)}
    )


def test_approval_releases_exactly_what_she_consented_to_and_what_was_asked(
    app: Flask, client: FlaskClient, world: World, case: Any
) -> None:
    token = world["officer"].token
    filed = file(
        client, token, case.reference, requested=("report", "swabs", "non-intimate-photos")
    ).get_json()
    # Without her consent there is nothing to approve.
    refused = _approve(app, "examiner", filed["id"])
    assert refused.status_code == 422
    assert "permits nothing" in refused.get_data(as_text=True)
    agreed = all_items(app, "police-release/v1", agree=False) | {
        "report": True,
        "report-account": False,
        "swabs": True,
        "clothing": True,  # permitted, but not asked for
    }
    release_to(app, case.id, "RIVERPOL", agreed)
    # Another site cannot approve it; police cannot approve at all.
    assert _approve(app, "examiner.south", filed["id"]).status_code == 404
    assert _approve(app, "officer", filed["id"]).status_code == 404
    approved = _approve(app, "counsellor", filed["id"])
    assert approved.status_code == 302
    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, filed["id"])
        assert request is not None
        kinds = sorted({ref.split("/")[0] for ref in request.approved or []})
        assert kinds == [
            "Composition",
            "Encounter",
            "MedicationAdministration",
            "Observation",
            "Specimen",
        ]
        first_approval = sorted(request.approved or [])
        specimens = [ref for ref in request.approved or [] if ref.startswith("Specimen/")]
        assert {ref.split("/")[1] for ref in specimens} == {
            i.id for i in case.kit.items if i.kind == "swab"
        }
    task = api(client, "GET", f"/fhir/Task/{filed['id']}", token).get_json()
    assert task["status"] == "ready"
    assert "Consent" not in json.dumps(task)
    assert case.id not in json.dumps(task)
    # Approving again refreshes the same computed set.
    assert _approve(app, "examiner", filed["id"]).status_code == 302
    with app.app_context(), unit_of_work() as uow:
        again = uow.session.get(ReleaseRequest, filed["id"])
        assert again is not None
        assert sorted(again.approved or []) == first_approval


def test_withdrawal_stops_an_approved_release_and_the_force_sees_the_date(
    app: Flask, client: FlaskClient, world: World, case: Any
) -> None:
    token = world["officer"].token
    filed = file(client, token, case.reference, requested=("report", "swabs")).get_json()
    consent_id = release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    assert _approve(app, "examiner", filed["id"]).status_code == 302
    # Narrowing what was not approved changes nothing.
    narrowed = withdraw(app, case.id, consent_id, items=("identity",))
    task = api(client, "GET", f"/fhir/Task/{filed['id']}", token).get_json()
    assert task["status"] == "ready"
    assert task["businessStatus"]["coding"][0]["code"] == "approved"
    # Withdrawing the swabs narrows the release; the report stays released.
    narrowed = withdraw(app, case.id, narrowed, items=("swabs",))
    task = api(client, "GET", f"/fhir/Task/{filed['id']}", token).get_json()
    assert task["status"] == "ready"
    assert task["businessStatus"]["text"].startswith("narrowed on 20")
    assert "swab" not in json.dumps(task["businessStatus"])
    # Withdrawing the whole consent stops it.
    withdraw(app, case.id, narrowed)
    task = api(client, "GET", f"/fhir/Task/{filed['id']}", token).get_json()
    assert task["status"] == "cancelled"
    assert task["businessStatus"]["text"].startswith("consent withdrawn on 20")
    assert "swab" not in json.dumps(task["businessStatus"])


def test_another_sites_staff_get_a_matched_request_answered_as_unknown(
    app: Flask, client: FlaskClient, world: World, case: Any
) -> None:
    """A request that matches a NORTH case tells SOUTH nothing: not its crime
    reference, not what was asked, not even that it exists; and the attempt is on
    the audit trail as a refused read, like a guessed id."""
    from clinic.audit.models import AuditEntry

    filed = file(client, world["officer"].token, case.reference, crime="RP/SECRET/77").get_json()
    south = app.test_client()
    login(south, "examiner.south", PASSWORD)
    theirs = south.get(f"/releases/incoming/{filed['id']}")
    unknown = south.get("/releases/incoming/no-such-request")
    assert theirs.status_code == unknown.status_code == 404

    # The same page but for the path asked for (the language switcher returns to it)
    # and the forms' CSRF tokens, which are signed with the second they were made.
    def page(response: Any, asked: str) -> str:
        text = response.get_data(as_text=True).replace(asked, "ID")
        return re.sub(r'(name="csrf_token" value=)"[^"]*"', r"\1", text)

    assert 'name="csrf_token"' in theirs.get_data(as_text=True)
    assert page(theirs, filed["id"]) == page(unknown, "no-such-request")
    listing = south.get("/releases/incoming").get_data(as_text=True)
    assert "RP/SECRET/77" not in listing
    assert case.reference not in listing
    approve = south.post(
        f"/releases/incoming/{filed['id']}/approve",
        data={"csrf_token": csrf_token(south, "/releases/incoming")},
    )
    assert approve.status_code == 404
    with app.app_context(), unit_of_work() as uow:
        misses = uow.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.username == "examiner.south",
                AuditEntry.outcome_desc != None,  # noqa: E711
            )
        ).all()
        refused = [e for e in misses if f"Task/{filed['id']}" in e.entities]
        assert {e.subtype for e in refused} == {"read", "update"}
        assert all(e.outcome == "4" for e in refused)
        assert any("another site" in " ".join(e.reasons) for e in refused)
        unknown_entry = [e for e in misses if "Task/no-such-request" in e.entities]
        assert [e.outcome for e in unknown_entry] == ["4"]
    # The site whose case it matches still sees it, and an unmatched request is
    # still shown to every site, so that the clinic can contact the force.
    north = app.test_client()
    login(north, "examiner", PASSWORD)
    assert "RP/SECRET/77" in north.get(f"/releases/incoming/{filed['id']}").get_data(as_text=True)
    stray = file(client, world["officer"].token, "SA-ZZZZ-ZZZZ", crime="RP/STRAY/1").get_json()
    assert south.get(f"/releases/incoming/{stray['id']}").status_code == 200
