"""The mark on the injury Observation (fc-mapped-injury with fc-body-map-mark)
is validated, and the drawings, the code systems and the exam's regions agree."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from clinic.bodymap.diagrams import diagram_book
from clinic.exam.resources import BODY_REGIONS
from clinic.fhir.outcome import FhirError
from clinic.fhir.profiles import PROFILES_DIR, ProfileRegistry
from clinic.fhir.validation import validate_resource

EXAMPLE = PROFILES_DIR / "examples/Observation-example-mapped-injury.json"


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry()


def parts(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return resource["extension"][0]["extension"]  # type: ignore[no-any-return]


def test_the_example_conforms(registry: ProfileRegistry) -> None:
    example = json.loads(EXAMPLE.read_text())
    validate_resource(example, registry)
    assert registry.lineage(example["meta"]["profile"][0])[-2:] == [
        "https://forensic-care.org/fhir/StructureDefinition/fc-injury",
        "https://forensic-care.org/fhir/StructureDefinition/fc-mapped-injury",
    ]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("extension"), "fc-map-1"),
        (lambda d: d["extension"].append(copy.deepcopy(d["extension"][0])), "fc-map-1"),
        (lambda d: parts(d)[0]["valueCoding"].update(code="horse"), "fc-map-2"),
        (lambda d: parts(d)[0]["valueCoding"].update(system="http://example.org"), "fc-map-2"),
        (lambda d: parts(d)[1]["valueCoding"].update(code="above"), "fc-map-3"),
        (lambda d: parts(d)[2].update(valueDecimal=-0.5), "fc-map-4"),
        (lambda d: parts(d)[3].update(valueDecimal=1000.5), "fc-map-4"),
        (lambda d: parts(d).pop(3), "fc-map-4"),
        (lambda d: parts(d).append({"url": "z", "valueDecimal": 1}), "fc-map-5"),
        (lambda d: parts(d).pop(4), "fc-map-6"),
        (lambda d: d.pop("component"), "fc-inj-1"),  # still an injury
    ],
)
def test_the_mark_is_validated(
    registry: ProfileRegistry, mutate: Callable[[dict[str, Any]], Any], fragment: str
) -> None:
    resource = json.loads(EXAMPLE.read_text())
    mutate(resource)
    with pytest.raises(FhirError) as refused:
        validate_resource(resource, registry)
    assert fragment in json.dumps([issue.diagnostics for issue in refused.value.issues])


def codes(name: str) -> dict[str, str]:
    document = json.loads((PROFILES_DIR / f"CodeSystem-{name}.json").read_text())
    return {concept["code"]: concept["display"] for concept in document["concept"]}


def test_the_drawings_the_code_systems_and_the_exam_agree() -> None:
    book = diagram_book()
    assert codes("body-diagram") == book.diagrams
    assert codes("body-diagram-view") == book.views
    assert codes("body-region") == BODY_REGIONS
    for drawing in book.drawings.values():
        assert drawing.diagram in book.diagrams
        assert drawing.view in book.views
        assert set(drawing.region_codes) <= set(BODY_REGIONS), drawing.code
        for region in drawing.regions:
            assert all(
                0 <= x <= drawing.width and 0 <= y <= drawing.height for x, y in region.points
            )
    # Every body diagram is drawn from the front, the back and both sides.
    for diagram in ("adult-female", "adult-male", "child"):
        assert {d.view for d in book.drawings.values() if d.diagram == diagram} == {
            "front",
            "back",
            "left",
            "right",
        }
    assert {"anogenital-female", "anogenital-male"} == book.anogenital
    # The profile's code lists are the code systems' (fc-map-2, fc-map-3).
    profile = (PROFILES_DIR / "StructureDefinition-fc-mapped-injury.json").read_text()
    for code in (*book.diagrams, *book.views):
        assert f"code = '{code}'" in profile


def test_each_region_of_a_drawing_can_be_marked_by_keyboard() -> None:
    """The middle of each region, where a keyboard mark goes, is in that region."""
    for drawing in diagram_book().drawings.values():
        for code in drawing.region_codes:
            point = drawing.free_point(code, [], 14)
            assert point is not None
            assert drawing.region_at(*point) == code, (drawing.code, code)


def test_the_capability_statement_names_the_profile(client) -> None:  # type: ignore[no-untyped-def]
    statement = client.get("/fhir/metadata").get_json()
    (observation,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Observation"]
    assert (
        "https://forensic-care.org/fhir/StructureDefinition/fc-mapped-injury"
        in observation["supportedProfile"]
    )
