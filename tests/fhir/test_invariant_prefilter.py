"""The cheap test that lets validation skip an invariant, a fixed value, a binding or
a cardinality whose elements are absent must never skip one whose elements are
there: whatever FHIRPath finds at a path, `may_have_elements` finds too."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import given, settings

from clinic.cli import unit_of_work
from clinic.fhir.invariants import ElementIndex, base_invariants, evaluate, may_have_elements
from clinic.fhir.models import ResourceVersion
from clinic.fhir.outcome import FhirError
from clinic.fhir.profiles import load_profiles
from clinic.fhir.validation import validate_resource
from tests.exam.helpers import call, complete_exam
from tests.fhir.test_compiled_invariants import resources
from tests.helpers import open_case

CRAFTED: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "birthDate": "1990-01-01",
        "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "a"}]},
        "name": [{"family": "X", "period": {"start": "2020-01-01", "end": "2019-01-01"}}],
        "identifier": [{"system": "urn:x", "value": "1", "assigner": {"display": "A"}}],
    },
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": 1, "code": "mm"},
        "effectivePeriod": {"start": "2021-01-01", "end": "2020-01-01"},
        "component": [
            {"code": {"text": "c"}, "valueCodeableConcept": {"text": "v"}},
            {"code": {"text": "d"}, "valueQuantity": {"value": 2, "code": "mm"}},
        ],
        "note": [{"authorReference": {"reference": "#x"}, "text": "n"}],
    },
]


def _stored(app: Flask) -> list[dict[str, Any]]:
    with app.app_context(), unit_of_work() as uow:
        return [
            json.loads(text) for text in uow.session.scalars(sa.select(ResourceVersion.content))
        ]


def _paths(app: Flask, resource_type: str) -> set[str]:
    registry = app.extensions["clinic.profiles"]
    paths = {i.path for i in base_invariants().get(resource_type, ())}
    for profile in registry.profiles.values():
        if profile.resource_type != resource_type:
            continue
        paths |= {i.path for i in profile.invariants}
        paths |= {rule.path for rule in profile.values}
        paths |= {rule.path for rule in profile.bindings}
        paths |= {rule.path.rpartition(".")[0] for rule in profile.cardinalities}
    return paths


def test_no_path_with_elements_is_ever_skipped(app: Flask) -> None:
    from clinic.exam.services import sign_off

    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    resources = _stored(app) + CRAFTED
    checked = skipped = 0
    for resource in resources:
        index = ElementIndex(resource)
        for path in _paths(app, resource["resourceType"]):
            found = evaluate(resource, path)
            checked += 1
            # validation asks the index, which must answer as the walk does
            assert index.may_have(path) == may_have_elements(resource, path), path
            if not may_have_elements(resource, path):
                skipped += 1
                assert found == [], (resource["resourceType"], path, found)
    assert skipped > checked // 2  # the test does skip most paths: it is worth having


@settings(max_examples=200)
@given(resources())
def test_the_index_answers_as_the_walk_does(resource: dict[str, Any]) -> None:
    """Validation builds one ElementIndex per resource and asks it about every
    path; on generated resources (primitives with `_name`, choice types, nulls,
    empty arrays, nested extensions) it answers as `may_have_elements` does."""
    index = ElementIndex(resource)
    registry = load_profiles()
    paths = {i.path for i in base_invariants().get(resource["resourceType"], ())}
    for profile in registry.profiles.values():
        if profile.resource_type == resource["resourceType"]:
            paths |= {i.path for i in profile.invariants}
            paths |= {rule.path.rpartition(".")[0] for rule in profile.cardinalities}
    paths |= {"Observation.component.code.coding", "Observation.value", "Observation.valueQuantity"}
    for path in paths:
        assert index.may_have(path) == may_have_elements(resource, path), path


def test_a_violation_below_a_choice_type_or_a_primitive_is_still_found(app: Flask) -> None:
    registry = app.extensions["clinic.profiles"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "effectivePeriod": {"start": "2021-01-01", "end": "2020-01-01"},  # per-1
    }
    with pytest.raises(FhirError) as refused:
        validate_resource(observation, registry)
    assert any("per-1" in issue.diagnostics for issue in refused.value.issues)


def test_no_search_parameter_with_elements_is_ever_skipped(app: Flask) -> None:
    """The store indexes a resource without evaluating the search parameters that
    find nothing in it; it must never skip one that finds something."""
    from clinic.exam.services import sign_off
    from clinic.fhir.search_params import TYPE_PARAMS
    from clinic.fhir.store import _may_match

    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    checked = skipped = 0
    for resource in _stored(app) + CRAFTED:
        for param in TYPE_PARAMS.get(resource["resourceType"], ()):
            if param.expression is None:
                continue
            found = evaluate(resource, param.expression)
            checked += 1
            if not _may_match(resource, param.expression):
                skipped += 1
                assert found == [], (resource["resourceType"], param.expression, found)
    assert checked > skipped > 0  # both cases occur over a whole exam
