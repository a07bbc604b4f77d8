"""Snapshots of our StructureDefinitions, generated from their differentials over the
official R4B definitions (the npm package hl7.fhir.r4b.core 4.3.0, installed by
`npm ci`; no network).

A package tool or a validator (Medplum, the HL7 validator) reads a profile's
snapshot, never its differential, so every profile we publish carries one. This
generator merges a differential over its base's snapshot for the kinds of
constraint our profiles use, and refuses anything else, so nothing is dropped
silently:

- an element of the base: its min, max, type, fixed[x], pattern[x], binding,
  slicing, short/definition/comment, mustSupport are replaced; its constraints are
  kept and ours added (with `source` our profile);
- an element inside a datatype (`Patient.meta.security`,
  `Provenance.agent.who.identifier.system`): the datatype's elements are unfolded
  under its parent first, as the specification's snapshot generation does;
- a named slice (`Extension.extension:relationship`, our complex extensions sliced
  by url): a copy of the sliced element, placed after it and its earlier slices,
  whose own elements unfold from its type.

A specialisation of one of our profiles starts from that profile's snapshot.
scripts/write_snapshots.py writes them; tests/fhir/test_snapshots.py fails when a
checked-in snapshot differs from a regenerated one.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

Element = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent.parent
CORE_PACKAGE = ROOT / "node_modules" / "hl7.fhir.r4b.core"
CORE_BASE = "http://hl7.org/fhir/StructureDefinition/"
# What a differential element may say (everything else is refused).
_REPLACED = {
    "short",
    "definition",
    "comment",
    "requirements",
    "alias",
    "label",
    "min",
    "max",
    "type",
    "binding",
    "slicing",
    "sliceName",
    "mustSupport",
    "isModifier",
    "isModifierReason",
    "isSummary",
}
_VALUE_PREFIXES = ("fixed", "pattern")


class SnapshotError(Exception):
    """A differential this generator cannot turn into a snapshot; names the profile."""


class SnapshotGenerator:
    """Snapshots for a set of our StructureDefinitions (url -> document)."""

    def __init__(self, definitions: dict[str, dict[str, Any]], core: Path = CORE_PACKAGE) -> None:
        self.definitions = definitions
        self.core = core
        self._core_cache: dict[str, dict[str, Any]] = {}
        self._done: dict[str, list[Element]] = {}

    def _core(self, name: str) -> dict[str, Any]:
        if name not in self._core_cache:
            path = self.core / f"StructureDefinition-{name}.json"
            if not path.exists():
                raise SnapshotError(f"{path} is missing: install the R4B definitions with `npm ci`")
            self._core_cache[name] = json.loads(path.read_text())
        return self._core_cache[name]

    def _base_elements(self, base_url: str) -> list[Element]:
        if base_url in self.definitions:
            return self.snapshot(base_url)
        if not base_url.startswith(CORE_BASE):
            raise SnapshotError(f"unknown base {base_url}")
        return list(self._core(base_url.removeprefix(CORE_BASE))["snapshot"]["element"])

    def snapshot(self, url: str) -> list[Element]:
        """The snapshot elements of one of our profiles."""
        if url not in self._done:
            definition = self.definitions[url]
            elements = copy.deepcopy(self._base_elements(definition["baseDefinition"]))
            for differential in definition["differential"]["element"]:
                try:
                    _merge(self._ensure(elements, differential["id"]), differential, url)
                except SnapshotError as error:
                    raise SnapshotError(f"{definition['id']}: {error}") from error
            self._done[url] = elements
        return self._done[url]

    def with_snapshot(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The definition with its snapshot, just after its differential."""
        if self.definitions.get(definition["url"]) is not definition:
            self.definitions[definition["url"]] = definition
            self._done.pop(definition["url"], None)
        done = {key: value for key, value in definition.items() if key != "snapshot"}
        done["snapshot"] = {"element": self.snapshot(definition["url"])}
        return done

    # -- finding or making an element ---------------------------------------------

    def _ensure(self, elements: list[Element], element_id: str) -> Element:
        found = _find(elements, element_id)
        if found is not None:
            return elements[found]
        parent_id, _, last = element_id.rpartition(".")
        if not parent_id:
            raise SnapshotError(f"{element_id} is not in the base")
        if ":" in last:
            return self._slice(elements, parent_id, last)
        parent = self._ensure(elements, parent_id)
        self._unfold(elements, parent)
        found = _find(elements, element_id)
        if found is None:
            raise SnapshotError(f"{element_id} is not an element of {parent_id}")
        return elements[found]

    def _slice(self, elements: list[Element], parent_id: str, last: str) -> Element:
        name, _, slice_name = last.partition(":")
        sliced = self._ensure(elements, f"{parent_id}.{name}")
        if "slicing" not in sliced:
            raise SnapshotError(f"slice {slice_name} of {sliced['id']}, which is not sliced")
        made = {
            key: copy.deepcopy(value)
            for key, value in sliced.items()
            if key not in ("slicing", "sliceName")
        }
        made["id"] = f"{sliced['id']}:{slice_name}"
        made = {"id": made.pop("id"), "path": made.pop("path"), "sliceName": slice_name, **made}
        elements.insert(_subtree_end(elements, sliced["id"]), made)
        return made

    def _unfold(self, elements: list[Element], parent: Element) -> None:
        """The elements of the parent's datatype, under it (once)."""
        index = elements.index(parent)
        if index + 1 < len(elements) and elements[index + 1]["id"].startswith(parent["id"] + "."):
            return  # a backbone element, or already unfolded
        codes = {kind["code"] for kind in parent.get("type", [])}
        if len(codes) != 1:
            raise SnapshotError(f"{parent['id']} has no single type to unfold")
        (code,) = codes
        datatype = self._core(code)["snapshot"]["element"]
        children = []
        for element in datatype[1:]:
            child = copy.deepcopy(element)
            child["id"] = parent["id"] + element["id"][len(code) :]
            child["path"] = parent["path"] + element["path"][len(code) :]
            children.append(child)
        elements[index + 1 : index + 1] = children


def _find(elements: list[Element], element_id: str) -> int | None:
    return next((i for i, e in enumerate(elements) if e["id"] == element_id), None)


def _subtree_end(elements: list[Element], element_id: str) -> int:
    """The index after an element, its children and its slices."""
    index = _find(elements, element_id)
    assert index is not None
    index += 1
    while index < len(elements) and elements[index]["id"].startswith(
        (element_id + ".", element_id + ":")
    ):
        index += 1
    return index


def _merge(target: Element, differential: Element, url: str) -> None:
    for key, value in differential.items():
        if key in ("id", "path"):
            if key == "path" and value != target["path"]:
                raise SnapshotError(f"{differential['id']}: path {value} is not {target['path']}")
            continue
        if key == "constraint":
            ours = {c["key"] for c in value}
            kept = [c for c in target.get("constraint", []) if c["key"] not in ours]
            target["constraint"] = kept + [{**c, "source": url} for c in value]
        elif key in _REPLACED:
            target[key] = copy.deepcopy(value)
        elif key.startswith(_VALUE_PREFIXES):
            for other in [k for k in target if k.startswith(_VALUE_PREFIXES)]:
                del target[other]
            target[key] = copy.deepcopy(value)
        else:
            raise SnapshotError(f"{differential['id']}: {key} is not supported")


def profile_documents(directory: Path) -> dict[Path, dict[str, Any]]:
    """Path -> StructureDefinition, for every one in `directory`."""
    return {
        path: json.loads(path.read_text())
        for path in sorted(directory.glob("StructureDefinition-*.json"))
    }


def snapshotted(directory: Path, core: Path = CORE_PACKAGE) -> dict[Path, dict[str, Any]]:
    """Path -> StructureDefinition with a freshly generated snapshot, for every one
    in `directory`."""
    documents = profile_documents(directory)
    generator = SnapshotGenerator({d["url"]: d for d in documents.values()}, core)
    return {path: generator.with_snapshot(document) for path, document in documents.items()}


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
