"""Validation against the profiles published in fhir_profiles/.

Supported in a profile's differential: cardinality (min, max), fixed[x] and
pattern[x] values, required bindings to our ValueSets, and FHIRPath constraints.
Slicing is not used by our profiles and a profile that declares it is refused at
load time, so nothing in a profile is silently ignored.

Each resource type has one base profile (derived from the core specification),
which every resource of the type must meet. A profile may specialise one of ours
(its baseDefinition is our profile): a resource that claims it in `meta.profile`
must meet it and every profile it derives from. A released profile (its id starts
with `fc-released-`) describes a record as a release bundle holds it: the clinic
never accepts it on a write (validate_resource with `released=True` checks one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinic.fhir.canonical import STRUCTURE_DEFINITION
from clinic.fhir.compiled_invariants import Fallback, compiled_cardinality
from clinic.fhir.invariants import ElementIndex, Invariant, check_invariants, evaluate
from clinic.fhir.outcome import Issue

PROFILES_DIR = Path(__file__).resolve().parent.parent.parent / "fhir_profiles"
# A profile of a record as a release bundle holds it (never as the clinic holds it):
# not a type's base profile, never accepted on a write (scripts/write_released_profiles.py).
RELEASED_PREFIX = "fc-released-"

_SUPPORTED_ELEMENT_KEYS = {
    "id",
    "path",
    "short",
    "definition",
    "comment",
    "requirements",
    "min",
    "max",
    "binding",
    "constraint",
    "type",
    "mustSupport",
    "alias",
    "label",
    "isModifier",
    "isSummary",
    "isModifierReason",
}


class ProfileError(Exception):
    """A definition in fhir_profiles/ that cannot be used; names the file."""


@dataclass(frozen=True)
class Cardinality:
    path: str
    min: int
    max: int | None  # None: unbounded


@dataclass(frozen=True)
class ValueRule:
    path: str
    value: Any
    is_pattern: bool


@dataclass(frozen=True)
class Binding:
    path: str
    value_set: str
    codes: frozenset[tuple[str | None, str]]


@dataclass
class Profile:
    url: str
    resource_type: str
    cardinalities: list[Cardinality]
    values: list[ValueRule]
    bindings: list[Binding]
    invariants: tuple[Invariant, ...]
    base: str | None = None  # the profile of ours it specialises, if any


_LOADED: dict[tuple[Path, tuple[tuple[str, int, int], ...]], ProfileRegistry] = {}


def load_profiles(directory: Path = PROFILES_DIR) -> ProfileRegistry:
    """The registry of `directory`, loaded once per process while its files stay as
    they are (name, size and modification time of each): every app made in one
    process (a test suite makes thousands) shares it. Nothing changes a registry
    once it is loaded."""
    fingerprint = tuple(
        (path.name, stat.st_size, stat.st_mtime_ns)
        for path in sorted(directory.glob("*.json"))
        for stat in (path.stat(),)
    )
    key = (directory.resolve(), fingerprint)
    registry = _LOADED.get(key)
    if registry is None:
        _LOADED.clear()  # a changed directory: the old registry is stale
        registry = _LOADED[key] = ProfileRegistry(directory)
    return registry


class ProfileRegistry:
    def __init__(self, directory: Path = PROFILES_DIR) -> None:
        self.directory = directory
        self.code_systems: dict[str, dict[str, Any]] = {}
        self.value_sets: dict[str, frozenset[tuple[str | None, str]]] = {}
        self.profiles: dict[str, Profile] = {}
        self.default_profiles: dict[str, str] = {}
        self.released_profiles: dict[str, str] = {}
        self.definitions: dict[str, dict[str, Any]] = {}
        # Every definition we publish, by resourceType and id (served by the API).
        self.conformance: dict[str, dict[str, dict[str, Any]]] = {}
        self._load()

    # -- loading -------------------------------------------------------------

    def _load(self) -> None:
        documents = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                document = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise ProfileError(f"{path.name}: not JSON ({error})") from error
            documents.append((path, document))
            if isinstance(document, dict) and "id" in document:
                by_id = self.conformance.setdefault(str(document.get("resourceType")), {})
                by_id[str(document["id"])] = document
        for path, document in documents:
            if document.get("resourceType") == "CodeSystem":
                self._parse(path, document)
                self.code_systems[document["url"]] = document
        for path, document in documents:
            if document.get("resourceType") == "ValueSet":
                self._parse(path, document)
                self.value_sets[document["url"]] = self._expand(path, document)
        for path, document in documents:
            kind = document.get("resourceType")
            if kind == "StructureDefinition":
                self._parse(path, document)
                self.definitions[document["url"]] = document
                if document.get("kind") == "resource":
                    profile = self._compile(path, document)
                    self.profiles[profile.url] = profile
                    if profile.base is not None:
                        continue
                    if document["id"].startswith(RELEASED_PREFIX):
                        self.released_profiles[profile.resource_type] = profile.url
                        continue
                    if profile.resource_type in self.default_profiles:
                        raise ProfileError(
                            f"{path.name}: a second profile for {profile.resource_type}"
                        )
                    self.default_profiles[profile.resource_type] = profile.url
            elif kind in ("SearchParameter", "OperationDefinition"):
                self._parse(path, document)
        self._check_bases()

    @staticmethod
    def _parse(path: Path, document: dict[str, Any]) -> None:
        from clinic.fhir.validation import check_definition

        # The snapshot is generated from the differential (clinic/fhir/snapshots.py)
        # and checked by its own test; parsing it again here would only slow start-up.
        issues = check_definition({k: v for k, v in document.items() if k != "snapshot"})
        if issues:
            problems = "; ".join(issue.diagnostics for issue in issues)
            raise ProfileError(
                f"{path.name}: not a valid {document.get('resourceType')}: {problems}"
            )

    def _expand(self, path: Path, value_set: dict[str, Any]) -> frozenset[tuple[str | None, str]]:
        codes: set[tuple[str | None, str]] = set()
        for include in value_set.get("compose", {}).get("include", []):
            system = include["system"]
            if "concept" in include:
                codes.update((system, concept["code"]) for concept in include["concept"])
            elif system in self.code_systems:
                codes.update(
                    (system, concept["code"]) for concept in self.code_systems[system]["concept"]
                )
            else:
                raise ProfileError(f"{path.name}: cannot expand {system} without listed concepts")
        return frozenset(codes)

    def _compile(self, path: Path, definition: dict[str, Any]) -> Profile:
        resource_type = definition["type"]
        cardinalities, values, bindings = [], [], []
        invariants: list[Invariant] = []
        for element in definition.get("differential", {}).get("element", []):
            element_path = element["path"].replace("[x]", "")
            extra = set(element) - _SUPPORTED_ELEMENT_KEYS
            extra = {key for key in extra if not key.startswith(("fixed", "pattern"))}
            if extra or "sliceName" in element or "slicing" in element:
                raise ProfileError(
                    f"{path.name}: {element['path']} uses unsupported {sorted(extra)}"
                )
            if "min" in element or "max" in element:
                maximum = element.get("max", "*")
                cardinalities.append(
                    Cardinality(
                        element_path,
                        element.get("min", 0),
                        None if maximum == "*" else int(maximum),
                    )
                )
            for key, value in element.items():
                if key.startswith(("fixed", "pattern")):
                    values.append(ValueRule(element_path, value, key.startswith("pattern")))
            binding = element.get("binding")
            if binding and binding.get("strength") == "required":
                url = binding["valueSet"].split("|")[0]
                if url not in self.value_sets:
                    raise ProfileError(
                        f"{path.name}: {element['path']} binds unknown ValueSet {url}"
                    )
                bindings.append(Binding(element_path, url, self.value_sets[url]))
            for constraint in element.get("constraint", []):
                invariants.append(
                    Invariant(
                        constraint["key"],
                        constraint["severity"],
                        constraint["human"],
                        constraint["expression"],
                        element_path,
                    )
                )
        base = definition.get("baseDefinition", "")
        ours = base if base.startswith(f"{STRUCTURE_DEFINITION}/") else None
        return Profile(
            definition["url"],
            resource_type,
            cardinalities,
            values,
            bindings,
            tuple(invariants),
            ours,
        )

    def _check_bases(self) -> None:
        for profile in self.profiles.values():
            seen = {profile.url}
            base = profile.base
            while base is not None:
                parent = self.profiles.get(base)
                if parent is None or parent.resource_type != profile.resource_type:
                    raise ProfileError(
                        f"{profile.url}: its baseDefinition {base} is not one of our "
                        f"{profile.resource_type} profiles"
                    )
                if parent.url in seen:
                    raise ProfileError(f"{profile.url}: its baseDefinitions form a loop")
                seen.add(parent.url)
                base = parent.base

    def lineage(self, profile_url: str) -> list[str]:
        """The profile and every profile of ours it specialises, most general first."""
        chain: list[str] = []
        current: str | None = profile_url
        while current is not None:
            chain.insert(0, current)
            current = self.profiles[current].base
        return chain

    def specialisations(self, resource_type: str) -> list[str]:
        """Our profiles of a type other than its base profile."""
        return sorted(
            url
            for url, profile in self.profiles.items()
            if profile.resource_type == resource_type and profile.base is not None
        )

    # -- validation ------------------------------------------------------------

    def validate(
        self, resource: dict[str, Any], profile_url: str, index: ElementIndex | None = None
    ) -> list[Issue]:
        profile = self.profiles.get(profile_url)
        if profile is None:
            return [
                Issue(
                    "not-supported", f"profile {profile_url} is not known here", ("meta.profile",)
                )
            ]
        issues: list[Issue] = []
        if index is None:
            index = ElementIndex(resource)
        for rule in profile.cardinalities:
            issues.extend(self._check_cardinality(resource, rule, index))
        for value_rule in profile.values:
            if not index.may_have(value_rule.path):
                continue  # nothing there to match
            for node in evaluate(resource, value_rule.path):
                matches = (
                    _matches_pattern(node, value_rule.value)
                    if value_rule.is_pattern
                    else node == value_rule.value
                )
                if not matches:
                    kind = "pattern" if value_rule.is_pattern else "fixed value"
                    issues.append(
                        Issue(
                            "value",
                            f"{value_rule.path} does not match the profile's {kind} {json.dumps(value_rule.value)}",
                            (value_rule.path,),
                        )
                    )
        for binding in profile.bindings:
            if not index.may_have(binding.path):
                continue  # nothing there to be bound
            for node in evaluate(resource, binding.path):
                if not _in_value_set(node, binding.codes):
                    issues.append(
                        Issue(
                            "code-invalid",
                            f"{binding.path} is not a code from {binding.value_set}",
                            (binding.path,),
                        )
                    )
        for violation in check_invariants(resource, profile.invariants, index):
            issues.append(
                Issue("invariant", f"{violation.key}: {violation.human}", (violation.location,))
            )
        return issues

    @staticmethod
    def _check_cardinality(
        resource: dict[str, Any], rule: Cardinality, index: ElementIndex
    ) -> list[Issue]:
        parent, _, child = rule.path.rpartition(".")
        if not index.may_have(parent):
            return []  # `all()` over no elements holds
        compiled = compiled_cardinality(rule.path, rule.min, rule.max)
        holds: bool | None = None
        if compiled is not None:
            try:
                holds = compiled(resource)
            except Fallback:
                holds = None  # a shape the plain count does not model: FHIRPath decides
        if holds is None:
            checks = [f"{child}.count() >= {rule.min}"]
            if rule.max is not None:
                checks.append(f"{child}.count() <= {rule.max}")
            holds = evaluate(resource, f"{parent}.all({' and '.join(checks)})") == [True]
        if holds:
            return []
        upper = "*" if rule.max is None else str(rule.max)
        return [
            Issue(
                "required" if rule.min else "structure",
                f"{rule.path} must occur {rule.min}..{upper} times",
                (rule.path,),
            )
        ]


def _matches_pattern(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and _matches_pattern(value[key], expected)
            for key, expected in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(_matches_pattern(item, expected) for item in value) for expected in pattern
        )
    return bool(value == pattern)


def _in_value_set(node: Any, codes: frozenset[tuple[str | None, str]]) -> bool:
    if isinstance(node, str):
        return any(code == node for _, code in codes)
    if isinstance(node, dict) and "coding" in node:
        return any(_in_value_set(coding, codes) for coding in node["coding"])
    if isinstance(node, dict) and "code" in node:
        return (node.get("system"), node["code"]) in codes
    return False
