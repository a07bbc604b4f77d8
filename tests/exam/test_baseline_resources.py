"""Her clinical baseline's allergies, medicines and history are also written as the
resources a receiving record expects (AllergyIntolerance, MedicationStatement,
Condition): each valid against its profile, linked to the baseline Observation,
versioned on re-save, taken back when cleared, read by the examiners of her site
only, every read audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.terms import data_classes_of
from clinic.audit.models import AuditEntry
from clinic.cli import unit_of_work
from clinic.exam import services
from clinic.exam.baseline import is_entered_in_error
from clinic.fhir.store import ResourceStore
from clinic.fhir.validation import validate_resource
from tests.conftest import World
from tests.consent.helpers import all_items
from tests.consent.helpers import record as record_consent
from tests.exam.helpers import call, complete_exam, read
from tests.helpers import api, open_case

ANSWERS = {
    "allergies": "None known",
    "current-medicines": "Sertraline 50 mg",
    "medical-history": "Asthma since childhood",
    "surgical-history": "Appendicectomy 2019",
}
SLOTS = {
    "baseline:allergies": "AllergyIntolerance",
    "baseline:current-medicines": "MedicationStatement",
    "baseline:medical-history": "Condition",
    "baseline:surgical-history": "Condition",
}


def _save(app: Flask, exam_id: str, answers: dict[str, Any]) -> None:
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="baseline",
        answers={"baseline": answers},
    )


def _current(app: Flask, exam_id: str, slot: str) -> Any:
    """The slot's current version, taken back or not (read_exam leaves those out)."""
    from clinic.exam.models import ExamEntry

    with app.app_context(), unit_of_work() as uow:
        row = uow.session.get(ExamEntry, (exam_id, slot))
        assert row is not None, slot
        return ResourceStore(uow.session, app.extensions["clinic.profiles"]).current(
            row.resource_type, row.resource_id
        )


def test_each_answer_is_its_own_valid_resource_linked_to_the_baseline(app: Flask) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS | {"disabilities": "Uses a wheelchair"})
    record = read(app, exam_id)
    baseline = record.entries["baseline"]
    registry = app.extensions["clinic.profiles"]
    for slot, kind in SLOTS.items():
        version = record.entries[slot]
        content = version.content
        assert version.resource_type == kind
        validate_resource(content, registry)
        assert data_classes_of(kind, content) == {"exam-report", "health-history"}
        links = {
            "AllergyIntolerance": lambda c: c["extension"][0]["valueReference"],
            "MedicationStatement": lambda c: c["derivedFrom"][0],
            "Condition": lambda c: c["evidence"][0]["detail"][0],
        }
        assert links[kind](content) == {"reference": f"Observation/{baseline.logical_id}"}
    allergy = record.entries["baseline:allergies"].content
    assert allergy["code"] == {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "716186003", "display": "No known allergy"}
        ],
        "text": "None known",
    }
    assert allergy["encounter"] == {"reference": f"Encounter/{exam_id}"}
    assert allergy["recorder"]["identifier"]["value"] == "examiner"
    medicine = record.entries["baseline:current-medicines"].content
    assert medicine["medicationCodeableConcept"] == {"text": "Sertraline 50 mg"}
    assert medicine["informationSource"] == {"reference": f"Patient/{case.patient_id}"}
    surgical = record.entries["baseline:surgical-history"].content
    assert surgical["code"] == {"text": "Appendicectomy 2019"}
    assert surgical["clinicalStatus"]["coding"][0]["code"] == "inactive"
    assert surgical["category"][0]["coding"][0]["code"] == "problem-list-item"
    # Not a disability, nor the other answers: only the four questions.
    assert not [
        slot for slot in record.entries if slot.startswith("baseline:") and slot not in SLOTS
    ]


def test_named_allergies_stay_words_only(app: Flask) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, {"allergies": "Penicillin (rash)"})
    allergy = read(app, exam_id).entries["baseline:allergies"].content
    assert allergy["code"] == {"text": "Penicillin (rash)"}
    assert "baseline:current-medicines" not in read(app, exam_id).entries


def test_resaving_writes_a_new_version_and_clearing_takes_it_back(app: Flask) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS)
    first = {slot: read(app, exam_id).entries[slot] for slot in SLOTS}
    _save(app, exam_id, ANSWERS)  # unchanged: nothing new
    for slot in SLOTS:
        assert _current(app, exam_id, slot).version_id == 1, slot
    _save(app, exam_id, ANSWERS | {"allergies": "Latex", "current-medicines": ""})
    changed = _current(app, exam_id, "baseline:allergies")
    assert changed.logical_id == first["baseline:allergies"].logical_id
    assert changed.version_id == 2
    assert changed.content["code"] == {"text": "Latex"}
    taken_back = _current(app, exam_id, "baseline:current-medicines")
    assert taken_back.logical_id == first["baseline:current-medicines"].logical_id
    assert taken_back.content["status"] == "entered-in-error"
    assert "baseline:current-medicines" not in read(app, exam_id).entries
    # The whole sheet cleared: every one taken back, each still valid.
    _save(app, exam_id, {})
    registry = app.extensions["clinic.profiles"]
    for slot in SLOTS:
        version = _current(app, exam_id, slot)
        assert is_entered_in_error(version.content), slot
        assert "clinicalStatus" not in version.content, slot
        validate_resource(version.content, registry)
    # Given again: the same resource comes back, a new version.
    _save(app, exam_id, {"allergies": "Latex"})
    again = _current(app, exam_id, "baseline:allergies")
    assert again.logical_id == first["baseline:allergies"].logical_id
    assert again.content["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    assert again.content["clinicalStatus"]["coding"][0]["code"] == "active"


def test_only_examiners_of_her_site_read_them_and_every_read_is_audited(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS)
    record = read(app, exam_id)
    for slot, kind in SLOTS.items():
        logical_id = record.entries[slot].logical_id
        own = world["examiner"].token
        assert api(client, "GET", f"/fhir/{kind}/{logical_id}", own).status_code == 200
        found = api(client, "GET", f"/fhir/{kind}?patient={case.patient_id}", own).get_json()
        assert logical_id in {entry["resource"]["id"] for entry in found["entry"]}
        history = api(client, "GET", f"/fhir/{kind}/{logical_id}/_history", own)
        assert history.status_code == 200
        with app.app_context(), unit_of_work() as uow:
            entries = uow.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.channel == "fhir")
            ).all()
        reads = [
            entry
            for entry in entries
            if entry.username == "examiner"
            and any(entity.startswith(f"{kind}/{logical_id}") for entity in entry.entities)
        ]
        assert len(reads) >= 3, (kind, len(reads))  # the read, the search, the history
        for other in ("examiner.south", "officer", "custodian", "admin", "counsellor.south"):
            token = world[other].token
            response = api(client, "GET", f"/fhir/{kind}/{logical_id}", token)
            assert response.status_code in (403, 404), (other, kind)
            searched = api(client, "GET", f"/fhir/{kind}?patient={case.patient_id}", token)
            assert not (searched.get_json() or {}).get("entry"), (other, kind)
        # Never written through the API.
        body = dict(record.entries[slot].content)
        assert api(client, "POST", f"/fhir/{kind}", own, body).status_code in (403, 404, 405)


def test_counsellors_read_them_exactly_as_they_read_the_baseline(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Her information-sharing consent to the counselling team covers her baseline;
    the resources read from it follow the baseline Observation, before and after."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    record = read(app, exam_id)
    token = world["counsellor"].token
    baseline = f"/fhir/Observation/{record.entries['baseline'].logical_id}"

    def statuses() -> list[int]:
        return [
            api(client, "GET", f"/fhir/{kind}/{record.entries[slot].logical_id}", token).status_code
            for slot, kind in SLOTS.items()
        ]

    before = api(client, "GET", baseline, token).status_code
    assert statuses() == [before] * len(SLOTS)
    record_consent(app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    after = api(client, "GET", baseline, token).status_code
    assert after == 200 != before
    assert statuses() == [200] * len(SLOTS)


def test_an_amendment_after_sign_off_is_the_baselines_one_amendment(app: Flask) -> None:
    """Her allergies changed after sign-off: the resource gets a new version and the
    report's amendments say what changed once, as the clinical baseline."""
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(
        app,
        "examiner",
        services.record_structured_step,
        exam_id=exam_id,
        step="baseline",
        answers={"baseline": ANSWERS | {"allergies": "Latex"}},
        reason="She remembered a latex allergy",
    )
    record = read(app, exam_id)
    assert [amendment.what for amendment in record.amendments] == ["Clinical baseline"]
    allergy = record.entries["baseline:allergies"]
    assert (allergy.version_id, allergy.content["code"]) == (2, {"text": "Latex"})
    for slot in ("baseline:current-medicines", "baseline:medical-history"):
        assert record.entries[slot].version_id == 1, slot


def test_changed_words_name_who_changed_them_and_the_same_words_keep_the_first_recorder(
    app: Flask, world: World
) -> None:
    """A medico-legal record names who recorded these words: another examiner's
    amendment is theirs, while saving the same words again changes nothing."""
    from tests.exam.test_consent_and_report import second_examiner

    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    _save(app, exam_id, ANSWERS)
    other = second_examiner(app, world)

    def save_as(username: str, answers: dict[str, Any]) -> None:
        call(
            app,
            username,
            services.record_structured_step,
            exam_id=exam_id,
            step="baseline",
            answers={"baseline": answers},
        )

    save_as(other, ANSWERS)  # the same words: no new version, still the first examiner's
    kept = _current(app, exam_id, "baseline:allergies")
    assert kept.version_id == 1
    assert kept.content["recorder"]["identifier"]["value"] == "examiner"
    save_as(other, ANSWERS | {"allergies": "Penicillin, latex"})
    changed = _current(app, exam_id, "baseline:allergies")
    assert changed.version_id == 2
    assert changed.content["recorder"]["identifier"]["value"] == other
    unchanged = _current(app, exam_id, "baseline:medical-history")
    assert unchanged.version_id == 1
    assert unchanged.content["recorder"]["identifier"]["value"] == "examiner"
