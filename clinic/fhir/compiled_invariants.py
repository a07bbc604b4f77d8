"""The most evaluated FHIRPath invariants, written as plain Python over the JSON.

fhirpathpy interprets an expression's syntax tree node by node, wrapping every
value it meets; for the invariants a whole exam evaluates hundreds of times
(our profiles' security-label and examiner-decision rules, the base
specification's ref-1 on every Reference, dom-2/4/5 on every resource) that is
most of validation. Each one here is the same expression, step by step, with
FHIRPath's rules: a member of a collection is the member of every item (arrays
flattened), a choice element is found as fhirpathpy finds it (the first of the
model's types present), `=` on an empty side is empty, `and`/`or`/`implies`
are three-valued, `where()` keeps the items whose criterion is true.

Two guards keep it exactly fhirpathpy's verdict, never a weaker one:

- a predicate is used only for the very (key, expression) it was written from:
  a profile whose expression changes, by one character, is evaluated by
  fhirpathpy again, as is an invariant whose path is not a plain chain of
  members;
- wherever the JSON is not the plain shape a predicate models (a primitive's
  `_name` beside or instead of its value, a null or nested array, several values
  where one is expected, a value of another JSON type, a contained reference),
  it raises `Fallback` and fhirpathpy decides, errors included.

tests/fhir/test_compiled_invariants.py evaluates every predicate and fhirpathpy
side by side on generated resources and on every resource of a whole signed-off
exam, and requires the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from fhirpathpy.models import models

if TYPE_CHECKING:
    from clinic.fhir.invariants import Invariant

_MODEL = models["r4"]

Truth = bool | None  # FHIRPath's single Boolean or empty (None)
Predicate = Callable[[Any, dict[str, Any]], Truth]  # (element, root resource)


class Fallback(Exception):
    """The JSON is not the shape the predicate models: let fhirpathpy decide."""


# -- FHIRPath's building blocks, over JSON ---------------------------------------


def _members(nodes: list[Any], key: str) -> list[Any]:
    """`nodes.key` for a member that is not a choice element."""
    found: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue  # a primitive has no members
        if f"_{key}" in node:
            raise Fallback  # fhirpathpy adds the `_key` object as a value of its own
        value = node.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            for item in value:
                if item is None or isinstance(item, list):
                    raise Fallback
            found.extend(value)
        else:
            found.append(value)
    return found


def _choice(nodes: list[Any], choice_path: str, of_type: str | None = None) -> list[Any]:
    """`nodes.value` (a choice element at `choice_path` in fhirpathpy's model),
    with `.ofType(of_type)` when given: fhirpathpy takes the first of the model's
    types present in each node."""
    key = choice_path.rsplit(".", 1)[1]
    types = _MODEL["choiceTypePaths"][choice_path]
    found: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        for name in types:
            value = node.get(key + name)
            if value is None and node.get(f"_{key}{name}") is None:
                continue
            if f"_{key}{name}" in node or isinstance(value, list):
                raise Fallback
            if of_type is None or name == of_type:
                found.append(value)
            break
    return found


def _eq(values: list[Any], literal: str) -> Truth:
    """`values = 'literal'`."""
    if not values:
        return None
    if len(values) != 1 or not isinstance(values[0], str):
        raise Fallback
    return values[0] == literal


def _and(a: Truth, b: Truth) -> Truth:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: Truth, b: Truth) -> Truth:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _implies(a: bool, b: Truth) -> Truth:
    """`a implies b` where `a` is an `exists()` (never empty)."""
    return b if a else True


def _where(items: list[Any], criterion: Callable[[Any], Truth]) -> list[Any]:
    """`items.where(criterion)`: every item is evaluated, as fhirpathpy does, so
    that an item it could not evaluate falls back even after a match."""
    verdicts = [criterion(item) for item in items]
    return [item for item, verdict in zip(items, verdicts, strict=True) if verdict is True]


def _all(items: list[Any], criterion: Callable[[Any], Truth]) -> bool:
    verdicts = [criterion(item) for item in items]
    return all(verdict is True for verdict in verdicts)


def _coding_is(system: str, code: str) -> Callable[[Any], Truth]:
    """The criterion `system = 'system' and code = 'code'` on a Coding."""

    def criterion(coding: Any) -> Truth:
        return _and(
            _eq(_members([coding], "system"), system), _eq(_members([coding], "code"), code)
        )

    return criterion


# -- the invariants ------------------------------------------------------------

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_EXAM_OBSERVATION = "https://forensic-care.org/fhir/CodeSystem/exam-observation"
_EXAM_SECTION = "https://forensic-care.org/fhir/CodeSystem/exam-section"
_GUIDANCE_DECISION = "https://forensic-care.org/fhir/CodeSystem/guidance-decision"
_COMPONENT_VALUE = "Observation.component.value"


def _security_labels(element: Any, root: dict[str, Any]) -> Truth:
    security = _members(_members([element], "meta"), "security")
    sensitive = _where(security, _coding_is(_ACT_CODE, "SDV"))

    def restricted(label: Any) -> Truth:
        code = _members([label], "code")
        return _and(
            _eq(_members([label], "system"), _CONFIDENTIALITY), _or(_eq(code, "R"), _eq(code, "V"))
        )

    return _and(bool(sensitive), bool(_where(security, restricted)))


def _is_examiner_decision(component: Any) -> Truth:
    codings = _members(_members([component], "code"), "coding")
    return bool(_where(codings, _coding_is(_EXAM_OBSERVATION, "examiner-decision")))


def _guidance_decided(element: Any, root: dict[str, Any]) -> Truth:
    decisions = _where(_members([element], "component"), _is_examiner_decision)

    def decided(coding: Any) -> Truth:
        code = _members([coding], "code")
        return _and(
            _eq(_members([coding], "system"), _GUIDANCE_DECISION),
            _or(_eq(code, "confirmed"), _eq(code, "overridden")),
        )

    codings = _members(_choice(decisions, _COMPONENT_VALUE, "CodeableConcept"), "coding")
    return _and(len(decisions) == 1, bool(_where(codings, decided)))


def _override_explained(element: Any, root: dict[str, Any]) -> Truth:
    decisions = _where(_members([element], "component"), _is_examiner_decision)
    codings = _members(_choice(decisions, _COMPONENT_VALUE, "CodeableConcept"), "coding")
    overridden = bool(_where(codings, lambda coding: _eq(_members([coding], "code"), "overridden")))
    return _implies(overridden, bool(_members(_members([element], "note"), "text")))


def _reference_resolves(element: Any, root: dict[str, Any]) -> Truth:
    """ref-1 for a reference that is not to a contained resource (those fall back)."""
    references = _members([element], "reference")
    if not references:
        return None  # `{} or {} or false` is empty
    if len(references) != 1 or not isinstance(references[0], str):
        raise Fallback
    if references[0].startswith("#"):
        raise Fallback
    return True  # `startsWith('#').not()` is true


def _no_nested_contained(element: Any, root: dict[str, Any]) -> Truth:
    return not _members(_members([element], "contained"), "contained")


def _contained_unversioned(element: Any, root: dict[str, Any]) -> Truth:
    meta = _members(_members([element], "contained"), "meta")
    return _and(not _members(meta, "versionId"), not _members(meta, "lastUpdated"))


def _contained_unlabelled(element: Any, root: dict[str, Any]) -> Truth:
    return not _members(_members(_members([element], "contained"), "meta"), "security")


def _has_exam_section(element: Any, root: dict[str, Any]) -> Truth:
    codings = _members(_members([element], "category"), "coding")
    return bool(_where(codings, lambda coding: _eq(_members([coding], "system"), _EXAM_SECTION)))


def _components_answered(element: Any, root: dict[str, Any]) -> Truth:
    def answered(component: Any) -> Truth:
        return _or(
            bool(_choice([component], _COMPONENT_VALUE)),
            bool(_members([component], "dataAbsentReason")),
        )

    return _all(_members([element], "component"), answered)


def _value_or_absent_reason(element: Any, root: dict[str, Any]) -> Truth:
    return _or(
        not _members([element], "dataAbsentReason"), not _choice([element], "Observation.value")
    )


def _extension_value_or_children(element: Any, root: dict[str, Any]) -> Truth:
    return bool(_members([element], "extension")) != bool(_choice([element], "Extension.value"))


_SECURITY_LABELS = (
    "meta.security.where(system = 'http://terminology.hl7.org/CodeSystem/v3-ActCode' and "
    "code = 'SDV').exists() and meta.security.where(system = "
    "'http://terminology.hl7.org/CodeSystem/v3-Confidentiality' and (code = 'R' or "
    "code = 'V')).exists()"
)
_EXAMINER_DECISION = (
    "component.where(code.coding.where(system = "
    "'https://forensic-care.org/fhir/CodeSystem/exam-observation' and "
    "code = 'examiner-decision').exists())"
)

# (key, expression) -> the predicate written from exactly that expression.
PREDICATES: dict[tuple[str, str], Predicate] = {
    ("fc-sec-1", _SECURITY_LABELS): _security_labels,
    (
        "fc-guide-1",
        f"{_EXAMINER_DECISION}.count() = 1 and {_EXAMINER_DECISION}.value.ofType(CodeableConcept)"
        ".coding.where(system = 'https://forensic-care.org/fhir/CodeSystem/guidance-decision' "
        "and (code = 'confirmed' or code = 'overridden')).exists()",
    ): _guidance_decided,
    (
        "fc-guide-2",
        f"{_EXAMINER_DECISION}.value.ofType(CodeableConcept).coding.where(code = 'overridden')"
        ".exists() implies note.text.exists()",
    ): _override_explained,
    (
        "ref-1",
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids')) or (reference='#' and "
        "%rootResource!=%resource)",
    ): _reference_resolves,
    ("dom-2", "contained.contained.empty()"): _no_nested_contained,
    (
        "dom-4",
        "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
    ): _contained_unversioned,
    ("dom-5", "contained.meta.security.empty()"): _contained_unlabelled,
    (
        "fc-find-1",
        "category.coding.where(system = "
        "'https://forensic-care.org/fhir/CodeSystem/exam-section').exists()",
    ): _has_exam_section,
    ("fc-find-3", "component.all(value.exists() or dataAbsentReason.exists())"): (
        _components_answered
    ),
    ("obs-6", "dataAbsentReason.empty() or value.empty()"): _value_or_absent_reason,
    ("ext-1", "extension.exists() != value.exists()"): _extension_value_or_children,
}


# -- where the elements are ----------------------------------------------------


@cache
def plain_path(path: str) -> tuple[str, ...] | None:
    """The member names along an invariant's path, when fhirpathpy finds its
    elements by plain member access (no choice element, function or type filter
    on the way); None otherwise."""
    root, *keys = path.split(".")
    if not (root.isidentifier() and root[:1].isupper()):
        return None
    type_path = root
    for key in keys:
        if not key.isidentifier():
            return None
        child = f"{type_path}.{key}"
        child = _MODEL["pathsDefinedElsewhere"].get(child, child)
        if child in _MODEL["choiceTypePaths"]:
            return None
        if key == "extension":
            child = "Extension"
        type_path = _MODEL["path2Type"].get(child, child)
    return (root, *keys)


def _elements(resource: dict[str, Any], steps: tuple[str, ...]) -> list[Any]:
    if "resourceType" not in resource:
        raise Fallback  # fhirpathpy cannot evaluate the path's root without one
    if resource["resourceType"] != steps[0]:
        return []  # the path's root is a type filter
    nodes: list[Any] = [resource]
    for key in steps[1:]:
        nodes = _members(nodes, key)
    return nodes


Check = Callable[[dict[str, Any]], bool]


@cache
def compiled_check(invariant: Invariant) -> Check | None:
    """A function telling whether the invariant is violated on some element of a
    resource (raising Fallback where fhirpathpy must decide), or None when this
    invariant is not compiled."""
    predicate = PREDICATES.get((invariant.key, invariant.expression))
    steps = plain_path(invariant.path)
    if predicate is None or steps is None:
        return None

    def violated(resource: dict[str, Any]) -> bool:
        verdicts = [predicate(element, resource) for element in _elements(resource, steps)]
        return any(verdict is False for verdict in verdicts)

    return violated


@cache
def compiled_cardinality(path: str, minimum: int, maximum: int | None) -> Check | None:
    """Whether `parent.all(child.count() >= minimum and child.count() <= maximum)`
    holds (a profile's cardinality), when the element is reached by plain member
    access; None otherwise. Raises Fallback where fhirpathpy must decide (a
    `_child` object, which fhirpathpy counts as an item of its own)."""
    steps = plain_path(path)
    if steps is None or len(steps) < 2:
        return None
    parent, child = steps[:-1], steps[-1]

    def holds(resource: dict[str, Any]) -> bool:
        counts = [len(_members([node], child)) for node in _elements(resource, parent)]
        return all(count >= minimum and (maximum is None or count <= maximum) for count in counts)

    return holds
