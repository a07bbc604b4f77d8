"""Minimum necessary to police: her clinical baseline (medical, surgical and
gynaecological history, medicines, allergies, disabilities, the date of her last
consensual intercourse) and her mental state (thoughts of harming herself) never
leave with a release, whatever she consents to. The released report says those
sections are withheld and nothing else of them; the examiner's own report still
holds everything. Tried through every way police reach the clinic."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from clinic.access.terms import data_classes_of
from clinic.cli import unit_of_work
from clinic.exam import services
from clinic.exam.models import Exam
from clinic.exam.resources import Answer
from clinic.fhir.validation import validate_resource
from clinic.ledger.services import generate_key
from clinic.release.bundle import EMPTY_REASON_WITHHELD, release_key_name
from clinic.release.models import ReleaseRequest
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record, release_to
from tests.exam.helpers import call, complete_exam, decide_every_window, history, read
from tests.exam.test_structured_steps import fill_every_step, post
from tests.helpers import api, csrf_token, login, open_case
from tests.release.helpers import file

# What the baseline and mental state steps record (tests/exam/test_structured_steps.py)
# and a few more words only those steps hold.
SECRETS = (
    "Penicillin (rash)",
    "2026-11-28",  # last consensual intercourse
    "28 November 2026",
    "last-consensual-intercourse",
    "Last consensual intercourse",
    "Asthma since childhood",
    "Appendicectomy",
    "Two pregnancies",
    "Sertraline",
    "Uses a wheelchair",
    "Refuge place arranged",
    "self-harm-thoughts",
    "Thoughts of harming herself",
    "clinical-baseline",
    "mental-state-safety",
)
MORE_BASELINE = {
    "baseline__medical_history": "Asthma since childhood",
    "baseline__surgical_history": "Appendicectomy 2019",
    "baseline__obstetric_gynaecological_history": "Two pregnancies",
    "baseline__current_medicines": "Sertraline 50 mg",
    "baseline__disabilities": "Uses a wheelchair",
}
# What a release of the report with her account does carry: the proof the tests
# look at a real release, not an empty one.
RELEASED = ("Petechiae on both eyelids", "His left cheek")
WITHHELD_TITLES = ("Clinical baseline", "Mental state and immediate safety")


def _signed_exam(app: Flask, client: FlaskClient, case_id: str, *, steps: bool) -> str:
    exam_id = complete_exam(app, case_id)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(strangulation=Answer.YES),
    )
    if steps:
        login(client, "examiner", PASSWORD)
        fill_every_step(app, client, exam_id)
        from tests.exam.test_structured_steps import BASELINE

        saved = post(client, exam_id, "baseline", BASELINE | MORE_BASELINE)
        assert saved.status_code == 302, saved.get_data(as_text=True)
    decide_every_window(app, exam_id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    return exam_id


def _released(
    app: Flask, client: FlaskClient, world: World, *, steps: bool = True
) -> tuple[str, str, Any]:
    """A signed exam released to RIVERPOL with every item of her release form
    granted (the report and all of her account): (exam id, request id, case)."""
    case = open_case(app)
    exam_id = _signed_exam(app, client, case.id, steps=steps)
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
    filed = file(
        client, world["officer"].token, case.reference, requested=("report", "identity")
    ).get_json()
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1", agree=True))
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = f"/releases/incoming/{filed['id']}"
    plan = staff.get(page).get_data(as_text=True)
    if steps:
        assert (
            "Her health history and mental state (2 records): the police never receive it, "
            "whatever she consents to" in plan
        )
    approved = staff.post(f"{page}/approve", data={"csrf_token": csrf_token(staff, page)})
    assert approved.status_code == 302, approved.get_data(as_text=True)
    return exam_id, filed["id"], case


def _no_secrets(text: str, where: str, *ids: str) -> None:
    for secret in (*SECRETS, *ids):
        assert secret not in text, (where, secret)


def test_her_health_and_mental_state_are_classed_apart_from_the_report(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = _signed_exam(app, client, case.id, steps=True)
    record = read(app, exam_id)
    assert data_classes_of("Observation", record.entries["baseline"].content) == {
        "exam-report",
        "health-history",
    }
    assert data_classes_of("Observation", record.entries["mental-state"].content) == {
        "exam-report",
        "mental-health",
    }
    assert "health-history" not in data_classes_of(
        "Observation", record.entries["clothing"].content
    )


def test_the_release_bundle_and_printed_report_withhold_her_health_and_say_so(
    app: Flask, client: FlaskClient, world: World
) -> None:
    exam_id, request_id, _ = _released(app, client, world)
    record = read(app, exam_id)
    hidden_ids = (
        record.entries["baseline"].logical_id,
        record.entries["mental-state"].logical_id,
    )
    token = world["officer"].token
    bundle = api(client, "GET", f"/fhir/Task/{request_id}/$release", token).get_json()
    shipped = json.dumps(bundle, ensure_ascii=False)
    _no_secrets(shipped, "$release", *hidden_ids)
    for released in RELEASED:
        assert released in shipped, released
    report = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
    )
    withheld = [s for s in report["section"] if "emptyReason" in s]
    assert [s["title"] for s in withheld] == list(WITHHELD_TITLES)
    for section in withheld:
        assert section["emptyReason"]["coding"] == [EMPTY_REASON_WITHHELD]
        assert "entry" not in section
        assert section["text"]["div"].endswith(
            "Withheld: the police never receive this section.</div>"
        )
    validate_resource(report, app.extensions["clinic.profiles"], released=True)  # cmp-1, cmp-2
    # The force's other ways to the same release: the download and the printed report.
    officer = app.test_client()
    login(officer, "officer", PASSWORD)
    download = officer.get(f"/releases/{request_id}/bundle.json")
    assert download.status_code == 200
    _no_secrets(download.get_data(as_text=True), "bundle.json", *hidden_ids)
    for path in (f"/releases/{request_id}", f"/releases/{request_id}/report"):
        page = officer.get(path)
        assert page.status_code == 200, path
        _no_secrets(page.get_data(as_text=True), path, *hidden_ids)
    printed = officer.get(f"/releases/{request_id}/exam-report").get_data(as_text=True)
    _no_secrets(printed, "exam-report", *hidden_ids)
    assert printed.count("Withheld: the police never receive this section.") == 2
    assert "Petechiae on both eyelids" in printed
    # The examiner's own report still holds every word of it.
    examiner = app.test_client()
    login(examiner, "examiner", PASSWORD)
    own = examiner.get(f"/exams/{exam_id}/report").get_data(as_text=True)
    for kept in ("Penicillin (rash)", "Asthma since childhood", "Refuge place arranged"):
        assert kept in own, kept
    assert "Thoughts of harming herself" in own


POLICE_PATHS = (
    "/fhir/Observation/{id}",
    "/fhir/Observation/{id}/_history",
    "/fhir/Observation/{id}/_history/1",
    "/fhir/Observation?_id={id}",
    "/fhir/Observation?subject=Patient/{patient}",
    "/fhir/Observation?subject=Patient/{patient}&_count=1",
    "/fhir/Observation?_has:Composition:entry:_id={report}",
    "/fhir/Composition/{report}",
    "/fhir/Composition/{report}/_history",
    "/fhir/Composition/{report}/$document",
    "/fhir/Composition?_id={report}&_include=Composition:entry",
    "/fhir/Composition?subject=Patient/{patient}&_include=*",
    "/fhir/Observation/_history",
    "/fhir/Composition/_history",
    "/fhir/Task?_include=*",
    "/fhir/Task/{request}",
    "/fhir/Task/{request}/_history",
    "/fhir/Task?_count=1",
)


def test_no_other_police_path_reaches_her_health(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Search, read, _history, _include, $document, paging: each answer (and every
    page it links to) holds nothing of the withheld sections, however asked."""
    exam_id, request_id, case = _released(app, client, world)
    record = read(app, exam_id)
    with app.app_context(), unit_of_work() as uow:
        exam = uow.session.get(Exam, exam_id)
        assert exam is not None
        report_id = exam.report_id
    assert report_id is not None
    hidden = (record.entries["baseline"].logical_id, record.entries["mental-state"].logical_id)
    token = world["officer"].token
    for path in POLICE_PATHS:
        target = path.format(
            id=hidden[0], patient=case.patient_id, report=report_id, request=request_id
        )
        pages = 0
        while target and pages < 20:
            response = api(client, "GET", target, token)
            assert response.status_code < 500, target
            # The id asked for may be echoed back, as for any unknown id.
            said = response.get_data(as_text=True).replace(hidden[0], "ID")
            _no_secrets(said, target, *hidden)
            if "{id}" in path and pages == 0:
                guessed = str(uuid.uuid4())
                unknown = api(client, "GET", path.format(id=guessed), token)
                assert unknown.status_code == response.status_code, target
                assert unknown.get_data(as_text=True).replace(guessed, "ID") == said, target
            body = response.get_json(silent=True) or {}
            following = next(
                (link["url"] for link in body.get("link", []) if link.get("relation") == "next"),
                "",
            )
            target = "/" + following.split("://", 1)[-1].partition("/")[2] if following else ""
            pages += 1


def test_a_report_with_nothing_recorded_in_those_steps_looks_the_same_to_police(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The withheld sections are in every released report, recorded or not: what
    the force sees says nothing of whether she told the examiner anything."""
    shapes = []
    for steps in (True, False):
        _, request_id, _ = _released(app, client, world, steps=steps)
        bundle = api(
            client, "GET", f"/fhir/Task/{request_id}/$release", world["officer"].token
        ).get_json()
        report = next(
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
        )
        shapes.append([s for s in report["section"] if "emptyReason" in s])
    assert shapes[0] == shapes[1]
    assert [s["title"] for s in shapes[0]] == list(WITHHELD_TITLES)


def test_the_counselling_team_she_shares_her_report_with_still_reads_them(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Withheld from police, not from her care: her information-sharing consent to
    the counselling team covers her baseline and mental state with the report."""
    case = open_case(app)
    _signed_exam(app, client, case.id, steps=True)
    record(app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    counsellor = app.test_client()
    login(counsellor, "counsellor", PASSWORD)
    page = counsellor.get(f"/cases/{case.id}/consent/shared").get_data(as_text=True)
    for shared in ("Penicillin (rash)", "Refuge place arranged", "Petechiae on both eyelids"):
        assert shared in page, shared


def test_a_release_approved_with_her_health_in_it_delivers_the_rest_without_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """A release approved before these sections were withheld lists her baseline:
    the download leaves it out and still delivers the rest."""
    exam_id, request_id, _ = _released(app, client, world)
    baseline = read(app, exam_id).entries["baseline"]
    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, request_id)
        assert request is not None
        request.approved = [*(request.approved or []), baseline.versioned_reference]
    response = api(client, "GET", f"/fhir/Task/{request_id}/$release", world["officer"].token)
    assert response.status_code == 200, response.get_data(as_text=True)
    shipped = response.get_data(as_text=True)
    _no_secrets(shipped, "$release", baseline.logical_id)
    assert "Petechiae on both eyelids" in shipped


# Her baseline's answers written as their own resources (clinic/exam/baseline.py).
BASELINE_RESOURCES = {
    "baseline:allergies": "AllergyIntolerance",
    "baseline:current-medicines": "MedicationStatement",
    "baseline:medical-history": "Condition",
    "baseline:surgical-history": "Condition",
}
BASELINE_PATHS = (
    "/fhir/{kind}/{id}",
    "/fhir/{kind}/{id}/_history",
    "/fhir/{kind}/{id}/_history/1",
    "/fhir/{kind}?_id={id}",
    "/fhir/{kind}?patient={patient}",
    "/fhir/{kind}?patient=Patient/{patient}&_count=1",
    "/fhir/{kind}?_id={id}&_include=*",
    "/fhir/{kind}?_id={id}&_revinclude=*",
    "/fhir/{kind}/_history",
    "/fhir/Patient?_id={patient}&_revinclude={kind}:patient",
    "/fhir/Encounter?_id={exam}&_revinclude=*",
    "/fhir/Observation?_id={baseline}&_revinclude=*",
)


def test_her_allergies_medicines_and_history_never_reach_the_police(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The resources her baseline's answers are written as: released to the force
    with everything she consented to, still nowhere in what the force can reach,
    and each answer the same as for an id that does not exist."""
    exam_id, request_id, case = _released(app, client, world)
    record = read(app, exam_id)
    hidden = {slot: record.entries[slot].logical_id for slot in BASELINE_RESOURCES}
    token = world["officer"].token
    bundle = api(client, "GET", f"/fhir/Task/{request_id}/$release", token).get_data(as_text=True)
    _no_secrets(bundle, "$release", *hidden.values())
    for kind in set(BASELINE_RESOURCES.values()):
        assert kind not in bundle, kind
    baseline_id = record.entries["baseline"].logical_id
    for slot, kind in BASELINE_RESOURCES.items():
        for path in BASELINE_PATHS:
            values = {
                "kind": kind,
                "patient": case.patient_id,
                "exam": exam_id,
                "baseline": baseline_id,
            }
            target = path.format(id=hidden[slot], **values)
            response = api(client, "GET", target, token)
            assert response.status_code < 500, target
            said = response.get_data(as_text=True).replace(hidden[slot], "ID")
            _no_secrets(said, target, *hidden.values())
            if "{id}" in path:
                guessed = str(uuid.uuid4())
                unknown = api(client, "GET", path.format(id=guessed, **values), token)
                assert unknown.status_code == response.status_code, target
                assert unknown.get_data(as_text=True).replace(guessed, "ID") == said, target
