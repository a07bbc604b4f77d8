"""Narrowing is not all-or-nothing (issue 12, point 5) and withheld means absent
(point 6). She withdraws the swabs: the report she still permits stays released,
the clinic can approve the narrowed set, the force sees "narrowed on DATE" and
never what was removed. A released Composition and its custody Tasks lead to no
record that is not released."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fhir.resources.R4B.composition import Composition
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.evidence.models import CustodyState
from clinic.exam.services import sign_off
from clinic.fhir.canonical import STRUCTURE_DEFINITION
from clinic.fhir.validation import validate_resource
from clinic.ledger.services import create_checkpoint, generate_key, log_origin, trusted_keys
from clinic.ledger.standalone import main, verify_release
from clinic.release.bundle import release_key_name, withheld_count
from clinic.release.models import ReleaseRequest
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to, withdraw
from tests.evidence.test_custody import bring_to
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file

RELEASED_REPORT_PROFILE = f"{STRUCTURE_DEFINITION}/fc-released-exam-report"

ASKED = ("report", "swabs", "identity")


def _keys(app: Flask) -> None:
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
        origin = log_origin(app.config, "custody")
        create_checkpoint(
            uow.session,
            "custody",
            origin,
            generate_key(uow.session, Path(app.instance_path), origin),
        )


def _approve(app: Flask, request_id: str) -> Any:
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = f"/releases/incoming/{request_id}"
    return staff.post(
        f"/releases/incoming/{request_id}/approve", data={"csrf_token": csrf_token(staff, page)}
    )


def _case(
    app: Flask, client: FlaskClient, world: World, *, swabs: bool
) -> tuple[Any, Any, str, str]:
    case = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, case.id))
    kit = collect_kit(app, "examiner", case.id, ("swab", "swab", "clothing"))
    filed = file(client, world["officer"].token, case.reference, requested=ASKED).get_json()
    consent_id = release_to(
        app,
        case.id,
        "RIVERPOL",
        all_items(app, "police-release/v1", agree=False)
        | {"report": True, "report-account": False, "swabs": swabs},
    )
    assert _approve(app, filed["id"]).status_code == 302
    return case, kit, filed["id"], consent_id


def _download(client: FlaskClient, world: World, request_id: str) -> Any:
    return api(client, "GET", f"/fhir/Task/{request_id}/$release", world["officer"].token)


def _references(node: Any) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item))
    return found


def _shape(bundle: dict[str, Any]) -> Any:
    """What a force can tell from a bundle, ids, hashes, times and signature aside."""
    text = json.dumps(
        {key: value for key, value in bundle.items() if key not in ("id", "signature")}
    )
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", text)
    text = re.sub(r"[0-9a-f]{64}", "HASH", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.+Z-]+", "TIME", text)
    text = re.sub(r"SA-[0-9A-Z-]+", "CASE", text)
    text = re.sub(r"(custody-log-index\", \"value\": \")\d+", r"\1N", text)
    return json.loads(text)


def test_narrowing_keeps_what_she_still_permits_and_the_force_sees_only_the_date(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _keys(app)
    case, kit, request_id, consent_id = _case(app, client, world, swabs=True)
    first = _download(client, world, request_id).get_json()
    assert "Specimen" in {e["resource"]["resourceType"] for e in first["entry"]}
    withdraw(app, case.id, consent_id, items=("swabs",), username="counsellor")
    # The force: "narrowed on DATE", still ready; nothing about swabs.
    task = api(client, "GET", f"/fhir/Task/{request_id}", world["officer"].token).get_json()
    assert task["status"] == "ready"
    assert task["businessStatus"]["coding"][0]["code"] == "narrowed"
    assert task["businessStatus"]["text"].startswith("narrowed on 20")
    assert "swab" not in json.dumps(task["businessStatus"]).lower()
    # It still gets the report she permits, and no swab.
    narrowed = _download(client, world, request_id)
    assert narrowed.status_code == 200, narrowed.get_data(as_text=True)
    kinds = {e["resource"]["resourceType"] for e in narrowed.get_json()["entry"]}
    assert "Composition" in kinds
    assert "Specimen" not in kinds
    assert "Task" not in kinds  # no custody events of swabs no longer released
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    page = officer.get(f"/releases/{request_id}").get_data(as_text=True)
    # Days and times as the reader's language writes them (English here), in the
    # clinic's zone: "Dec 6, 2026".
    narrowed_on = r"approved; narrowed on [A-Z][a-z]{2} \d{1,2}, 20\d\d"
    assert re.search(narrowed_on, page)
    assert re.search(narrowed_on, officer.get("/releases/").get_data(as_text=True))
    assert "Swabs: not released." in page
    assert not any(i.label in page for i in kit.items)
    # The clinic: who recorded the narrowing and when, not the approver.
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    clinic = staff.get(f"/releases/incoming/{request_id}").get_data(as_text=True)
    status = re.search(r'id="request-status">(.*?)</dd>', clinic, re.S)
    assert status is not None
    assert re.search(
        r"narrowed on [A-Z][a-z]{2} \d{1,2}, 20\d\d, \d\d:\d\d, recorded by counsellor", status[1]
    )
    # The clinic approves the narrowed set: the report, no swab.
    assert _approve(app, request_id).status_code == 302
    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, request_id)
        assert request is not None
        assert request.approved
        assert not [r for r in request.approved if r.startswith("Specimen/")]
    assert _download(client, world, request_id).status_code == 200


def test_the_force_cannot_tell_a_narrowed_release_from_one_that_never_held_swabs(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _keys(app)
    narrowed_case, _, narrowed_id, consent_id = _case(app, client, world, swabs=True)
    withdraw(app, narrowed_case.id, consent_id, items=("swabs",))
    _, _, never_id, _ = _case(app, client, world, swabs=False)
    narrowed = _download(client, world, narrowed_id).get_json()
    never = _download(client, world, never_id).get_json()
    assert _shape(narrowed) == _shape(never)
    officer = app.test_client()
    login(officer, "officer", PASSWORD)

    def outcome(request_id: str) -> str:
        page = officer.get(f"/releases/{request_id}").get_data(as_text=True)
        found = re.search(r'<ul id="outcome"[^>]*>(.*?)</ul>', page, re.S)
        assert found is not None
        return found[1]

    assert outcome(narrowed_id) == outcome(never_id)


def test_withdrawing_everything_still_stops_the_release_and_names_who_recorded_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    _keys(app)
    case, _, request_id, consent_id = _case(app, client, world, swabs=True)
    narrowed = withdraw(app, case.id, consent_id, items=("swabs",), username="examiner")
    withdraw(app, case.id, narrowed, username="counsellor")
    task = api(client, "GET", f"/fhir/Task/{request_id}", world["officer"].token).get_json()
    assert task["status"] == "cancelled"
    assert task["businessStatus"]["text"].startswith("consent withdrawn on 20")
    assert _download(client, world, request_id).status_code == 409
    refused = _approve(app, request_id)
    assert refused.status_code == 422
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = staff.get(f"/releases/incoming/{request_id}").get_data(as_text=True)
    status = re.search(r'id="request-status">(.*?)</dd>', page, re.S)
    assert status is not None
    assert "recorded by counsellor" in status[1]


def test_no_section_entry_or_reference_in_a_release_leads_to_a_withheld_record(
    app: Flask, client: FlaskClient, world: World, tmp_path: Path
) -> None:
    _keys(app)
    _, kit, request_id, _ = _case(app, client, world, swabs=True)
    # One swab went to the lab and came back: a lab Organization in its custody.
    swab = next(i for i in kit.items if i.kind == "swab")
    bring_to(app, world, swab.id, CustodyState.RETURNED)
    _keys(app)  # a checkpoint that covers those events
    assert _approve(app, request_id).status_code == 302
    bundle = _download(client, world, request_id).get_json()
    released = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    # Every reference anywhere in the bundle leads to a released record (or to the
    # force's own request).
    for reference in _references(bundle):
        target = "/".join(reference.split("/")[:2])
        assert target in released | {f"Task/{request_id}"}, reference
    text = json.dumps(bundle)
    assert "Organization/" not in text
    assert "held me down" not in text
    report = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
    )
    # Dropped, not marked; only the sections the police never receive, in every
    # release whatever was recorded, say they are withheld (test_minimum_necessary).
    marked = [s for s in report["section"] if "emptyReason" in s]
    assert [s["title"] for s in marked] == [
        "Clinical baseline",
        "Mental state and immediate safety",
    ]
    assert "withheld" not in json.dumps([s for s in report["section"] if s not in marked])
    titles = [s["title"] for s in report["section"]]
    assert "History" not in titles  # her account: not even its place
    assert "Amendments after sign-off" not in titles
    for section in report["section"]:
        # cmp-1: a section has entries, text or sub-sections; here entries only.
        assert section.get("entry") or section.get("text") or section.get("section")
        for entry in section.get("entry", []):
            assert "/".join(entry["reference"].split("/")[:2]) in released
    Composition.model_validate(report)  # the base spec's cardinalities and types
    # Her case reference (an identifier) stands in for her Patient, which is not
    # released: the report claims, and meets, the released profile of its own.
    assert report["meta"]["profile"] == [RELEASED_REPORT_PROFILE]
    validate_resource(report, app.extensions["clinic.profiles"], released=True)
    # The count says what was asked for and not released: her identity. It does
    # not count the records of her account.
    assert withheld_count(bundle) == 1
    # Custody Tasks go through the same withholding; the chain still verifies offline.
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    receivers = [
        i
        for t in tasks
        for i in t.get("input", [])
        if i["type"]["coding"][0]["code"] == "receiver-organization"
    ]
    assert receivers
    assert all("reference" not in i["valueReference"] for i in receivers)
    with app.app_context():
        keys = trusted_keys()
    checked = verify_release(bundle, keys)
    assert checked[2].startswith(f"{len(tasks)} custody events proven")
    key_file = tmp_path / "keys.txt"
    key_file.write_text("\n".join(str(k) for k in keys))
    saved = tmp_path / "release.json"
    saved.write_text(json.dumps(bundle))
    assert main(["--key", str(key_file), "--release", str(saved)]) == 0
