"""The bulk path of the data generator (bench/bulk.py) writes the rows the services
write for the same input, but for ids and times."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from bench.bulk import Recording, record_case, replay, replay_many
from bench.generate import Bench, setup, write_case
from clinic.audit.services import AUDIT_LOG, verify_audit_trail
from clinic.core.db import Base, db
from clinic.fhir.models import ResourceVersion
from clinic.fhir.validation import validate_resource
from clinic.ledger.services import integrate_all, log_size

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REFERENCE = re.compile(r"SA-[0-9A-Z]{4}-[0-9A-Z]{4}")
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")
# A time as the report words it ("Saturday 5 December 2026, 23:40"): a case written
# a minute after the recording says another minute.
MOMENT_IN_WORDS = re.compile(r"\b[A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d")
# Bookkeeping that differs between any two cases: row numbers, the log's sequence
# and the leaf hash over ids and times (checked by verifying the trail instead).
BOOKKEEPING = {"log_index", "leaf_hash"}

Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _snapshot(app: Flask) -> Snapshot:
    rows: Snapshot = {}
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            key = [column.name for column in table.primary_key.columns]
            rows[table.name] = {
                tuple(row[k] for k in key): dict(row)
                for row in db.session.execute(sa.select(table)).mappings()
            }
    return rows


def _new_rows(before: Snapshot, after: Snapshot) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [row for key, row in rows.items() if key not in before[name]]
        for name, rows in after.items()
    }


def _normalised(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return "<time>"
    if isinstance(value, str):
        value = MOMENT_IN_WORDS.sub("<time>", MOMENT.sub("<time>", value))
        return REFERENCE.sub("<ref>", UUID.sub("<id>", value))
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    return value


def _shape(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Counter[str]]:
    """Each table's new rows, ids, references and times blanked, as a multiset."""
    shapes = {}
    for name, table_rows in rows.items():
        autoincrement = Base.metadata.tables[name].autoincrement_column
        skipped = BOOKKEEPING | ({autoincrement.name} if autoincrement is not None else set())
        shapes[name] = Counter(
            repr(sorted((k, _normalised(v)) for k, v in row.items() if k not in skipped))
            for row in table_rows
        )
    return {name: shape for name, shape in shapes.items() if shape}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Records stay pending (as the replay leaves them) until a test integrates them.
    return {**app_config, "LOG_INTEGRATE_ON_COMMIT": False}


@pytest.fixture
def bench(app: Flask) -> Bench:
    made = setup(app)
    write_case(app, made, 0)  # what every case shares exists before the recording
    return made


def _recorded(app: Flask, bench: Bench) -> tuple[Recording, dict[str, list[dict[str, Any]]]]:
    before = _snapshot(app)
    recording = record_case(app, bench, 1)
    return recording, _new_rows(before, _snapshot(app))


def _replayed(app: Flask, recording: Recording) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    before = _snapshot(app)
    with app.app_context():
        patient_id = replay(db.session, recording)
        db.session.commit()
    return patient_id, _new_rows(before, _snapshot(app))


def test_a_replayed_case_has_the_rows_of_a_case_written_through_the_services(
    app: Flask, bench: Bench
) -> None:
    recording, recorded = _recorded(app, bench)
    patient_id, replayed = _replayed(app, recording)
    before = _snapshot(app)
    write_case(app, bench, 1)  # the same input, through the services
    written = _new_rows(before, _snapshot(app))

    assert _shape(written)["fhir_resource_versions"]  # a whole case, compared table by table
    assert _shape(replayed) == _shape(written)
    assert _shape(recorded) == _shape(written)
    assert patient_id != recording.patient_id
    assert any(row["logical_id"] == patient_id for row in replayed["fhir_resources"])


def test_a_replay_keeps_none_of_the_recorded_case_s_ids(app: Flask, bench: Bench) -> None:
    recording, _ = _recorded(app, bench)
    _, replayed = _replayed(app, recording)
    text = repr(replayed)
    recorded_ids = {*recording.generated_ids, recording.case_reference}
    assert {found for found in recorded_ids if found in text} == set()
    hex_forms = {found.replace("-", "") for found in recording.generated_ids}
    assert {found for found in hex_forms if found in text} == set()
    assert recording.case_reference not in text


def test_replayed_resources_validate_and_the_audit_trail_verifies(app: Flask, bench: Bench) -> None:
    recording, _ = _recorded(app, bench)
    _, replayed = _replayed(app, recording)
    registry = app.extensions["clinic.profiles"]
    contents = [row["content"] for row in replayed[ResourceVersion.__tablename__]]
    assert len(contents) >= 20
    for content in contents:
        validate_resource(json.loads(content), registry)
    assert replayed["audit_events"]
    with app.app_context():
        integrate_all(db.session)
        assert log_size(db.session, AUDIT_LOG) == db.session.scalar(
            sa.text("SELECT count(*) FROM audit_events")
        )
        report = verify_audit_trail(db.session)
    assert report.is_valid, report.problem


def test_copies_replayed_together_are_each_a_whole_case_of_their_own(
    app: Flask, bench: Bench
) -> None:
    """Each recorded write is sent once for all the copies (executemany): every
    copy still has exactly the rows of one case written through the services, and
    no copy shares an id with another."""
    recording, _ = _recorded(app, bench)
    before = _snapshot(app)
    with app.app_context():
        patients = replay_many(db.session, recording, 3)
        db.session.commit()
    together = _new_rows(before, _snapshot(app))
    one_by_one_patient, one_by_one = _replayed(app, recording)

    assert len(set(patients)) == 3
    assert _shape(one_by_one)["fhir_resource_versions"]
    assert _shape(together) == {
        name: Counter({row: count * 3 for row, count in shape.items()})
        for name, shape in _shape(one_by_one).items()
    }
    ids_of = [
        {
            row["logical_id"]
            for row in together["fhir_resource_versions"]
            if patient in row["content"]
        }
        for patient in patients
    ]
    one_case = {
        row["logical_id"]
        for row in one_by_one["fhir_resource_versions"]
        if one_by_one_patient in row["content"]
    }
    assert one_case
    assert all(len(ids) == len(one_case) for ids in ids_of)
    assert all(not (a & b) for n, a in enumerate(ids_of) for b in ids_of[n + 1 :])
    with app.app_context():
        integrate_all(db.session)
        report = verify_audit_trail(db.session)
    assert report.is_valid, report.problem
