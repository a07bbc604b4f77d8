"""FHIRPath invariants: the base specification's and our profiles'.

fhir.resources checks structure and datatypes but not the FHIRPath constraints of
the specification (Consent's ppc-1, Period's per-1, ...). They are evaluated here
with fhirpathpy. Evaluation fails closed: an expression that cannot be evaluated
refuses the resource rather than letting it through.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from clinic.fhir.compiled_invariants import Fallback, compiled_check

BASE_INVARIANTS_FILE = Path(__file__).with_name("base_invariants.json")

# The resource types we write and validate. Adding one: extend this, the policy's
# kinds, the search parameters and the profiles, then rerun the extraction script.
VALIDATED_TYPES = (
    "AllergyIntolerance",
    "Appointment",
    "CarePlan",
    "Communication",
    "Composition",
    "Condition",
    "Encounter",
    "EpisodeOfCare",
    "MedicationAdministration",
    "MedicationStatement",
    "Patient",
    "Observation",
    "Organization",
    "AuditEvent",
    "Consent",
    "DocumentReference",
    "Specimen",
    "Task",
    "Provenance",
    "RiskAssessment",
    "QuestionnaireResponse",
    "Flag",
    "Media",
    "ServiceRequest",
    "HealthcareService",
)

# Base constraints not evaluated, and why each is safe to leave out.
EXCLUDED_INVARIANTS = {
    "ele-1": "every element has a value or children: enforced by fhir.resources' parser",
    "txt-1": "narrative XHTML rules (htmlChecks()): narrative is checked by the store itself",
    "txt-2": "narrative must have content: checked by the store with txt-1",
    "dom-3": "contained resources must be referenced: the store refuses contained resources",
}

_R4_MODEL = models["r4"]


@dataclass(frozen=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str
    path: str  # FHIRPath to the elements the expression applies to


@dataclass(frozen=True)
class InvariantViolation:
    key: str
    human: str
    location: str
    expression: str
    could_not_evaluate: bool = False


@cache
def base_invariants() -> dict[str, tuple[Invariant, ...]]:
    data = json.loads(BASE_INVARIANTS_FILE.read_text())
    return {
        resource_type: tuple(Invariant(**entry) for entry in entries)
        for resource_type, entries in data.items()
    }


def _ignore_trace(_label: str, _value: Any) -> None:
    """Some base expressions call trace(); keep their output out of the logs."""


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath hasValue(), which fhirpathpy lacks: one primitive with a value."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


_OPTIONS = {
    "traceFn": _ignore_trace,
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
}


@cache
def _compiled(expression: str) -> Any:
    return fhirpathpy.compile(expression, _R4_MODEL, _OPTIONS)


def evaluate(resource: dict[str, Any], expression: str) -> list[Any]:
    function = _compiled(expression)
    result: list[Any] = function(resource, {"resource": resource, "rootResource": resource})
    return result


_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_OF_TYPE = re.compile(r"ofType\([A-Za-z][A-Za-z0-9]*\)")


@cache
def _json_steps(path: str) -> tuple[str, ...] | None:
    """The member names along an invariant's path below the resource, to tell
    cheaply that no element is there; None when the path is not a plain chain
    of members (then it is always evaluated)."""
    segments = path.split(".")[1:]
    steps: list[str] = []
    for segment in segments:
        if _OF_TYPE.fullmatch(segment):
            continue  # a choice element is matched by all its types already
        if not _SEGMENT.fullmatch(segment):
            return None
        steps.append(segment)
    return tuple(steps)


def _member_values(node: dict[str, Any], name: str) -> list[Any]:
    """The values of a member in JSON, generously: the member itself, a primitive's
    `_name` (its id and extensions), and every `name<Type>` of a choice element."""
    found: list[Any] = []
    for key, value in node.items():
        bare = key[1:] if key.startswith("_") else key
        if bare == name or (
            bare.startswith(name) and len(bare) > len(name) and bare[len(name)].isupper()
        ):
            if isinstance(value, list):
                found.extend(item for item in value if item is not None)
            elif value is not None:
                found.append(value)
    return found


def may_have_elements(resource: dict[str, Any], path: str) -> bool:
    """False only when the resource certainly has no element at `path`: then an
    invariant on those elements holds without evaluating it (a superset test:
    whatever FHIRPath finds at the path, this finds too)."""
    steps = _json_steps(path)
    if steps is None:
        return True
    nodes: list[Any] = [resource]
    for step in steps:
        nodes = [
            value
            for node in nodes
            if isinstance(node, dict)
            for value in _member_values(node, step)
        ]
        if not nodes:
            return False
    return True


def _names(key: str) -> list[str]:
    """Every step name `_member_values` matches to this key: the bare name and,
    for `name<Type>`, each prefix ending before a capital."""
    bare = key[1:] if key.startswith("_") else key
    return [bare, *(bare[:index] for index in range(1, len(bare)) if bare[index].isupper())]


class ElementIndex:
    """Every chain of member names `may_have_elements` would find in one resource,
    gathered in one walk over its JSON, so that each of the thousands of paths a
    validation asks about is a set lookup instead of a walk. It answers exactly as
    `may_have_elements` does (tests/fhir/test_invariant_prefilter.py compares them);
    it describes the resource as it was when made, so it lives for one validation."""

    def __init__(self, resource: dict[str, Any]) -> None:
        chains: set[tuple[str, ...]] = set()
        pending: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), resource)]
        while pending:
            prefix, node = pending.pop()
            for key, value in node.items():
                items = value if isinstance(value, list) else [value]
                present = [item for item in items if item is not None]
                if not present:
                    continue
                for name in _names(key):
                    chain = (*prefix, name)
                    chains.add(chain)
                    pending.extend((chain, item) for item in present if isinstance(item, dict))
        self._chains = frozenset(chains)

    def may_have(self, path: str) -> bool:
        steps = _json_steps(path)
        return steps is None or not steps or steps in self._chains


def check_invariants(
    resource: dict[str, Any],
    invariants: tuple[Invariant, ...],
    index: ElementIndex | None = None,
) -> list[InvariantViolation]:
    """Every error-severity invariant must hold on every element at its path.

    Each is evaluated from the resource root as `path.where((expression) = false)`,
    so that the engine keeps the element types (choice types, date comparisons) it
    needs. An element violates an invariant when the expression is false for it;
    an empty result is not a violation, as in the HL7 validator (R4B's ref-1, for
    one, is empty for a Reference that has only an identifier).

    The most evaluated invariants are checked by their Python form
    (clinic/fhir/compiled_invariants.py) when it exists for the very expression
    and path; where the JSON is not the shape that form models, fhirpathpy decides.
    """
    violations: list[InvariantViolation] = []
    if index is None:
        index = ElementIndex(resource)
    for invariant in invariants:
        if invariant.severity != "error":
            continue
        if not index.may_have(invariant.path):
            continue  # no element there: `path.where(...).exists()` is false
        check = compiled_check(invariant)
        if check is not None:
            try:
                violated = check(resource)
            except Fallback:
                pass
            else:
                if violated:
                    violations.append(
                        InvariantViolation(
                            invariant.key, invariant.human, invariant.path, invariant.expression
                        )
                    )
                continue
        try:
            result = evaluate(
                resource, f"{invariant.path}.where(({invariant.expression}) = false).exists()"
            )
        except Exception:  # noqa: BLE001 - fail closed on anything the engine cannot do
            violations.append(
                InvariantViolation(
                    invariant.key, invariant.human, invariant.path, invariant.expression, True
                )
            )
            continue
        if result != [False]:
            violations.append(
                InvariantViolation(
                    invariant.key, invariant.human, invariant.path, invariant.expression
                )
            )
    return violations
