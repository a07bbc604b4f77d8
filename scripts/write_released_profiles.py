"""Write the profiles of released records (and one example of each) into fhir_profiles/
from the profiles of the records as the clinic holds them. Run after changing one:

    .venv/bin/python scripts/write_released_profiles.py

A record in a release bundle is the held record with every reference to something
not released replaced: her Patient by her case reference (an identifier), anything
else by a display saying it is withheld. Such a record no longer meets its held
profile where that profile wants a literal reference, so it claims the released
profile of its type: the held profile's rules, with each required literal reference
relaxed to a reference, an identifier or a display. tests/release/test_bundle.py
fails when the files drift from the held profiles.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.canonical import STRUCTURE_DEFINITION  # noqa: E402
from clinic.fhir.profiles import RELEASED_PREFIX  # noqa: E402
from clinic.fhir.snapshots import SnapshotGenerator, profile_documents  # noqa: E402

PROFILES = ROOT / "fhir_profiles"
# The records a release can hold whose held profile wants a literal reference, and
# the example each released example is made from.
RELEASED: dict[str, str] = {
    "Composition": "Composition-example-report.json",
    "Encounter": "Encounter-example-exam.json",
    "Media": "Media-example-photo.json",
    "MedicationAdministration": "MedicationAdministration-example-treatment.json",
    "Observation": "Observation-example-injury.json",
    "Specimen": "Specimen-example-swab.json",
}
# What a released example withholds: her identity, her case and her encounter.
WITHHELD_KINDS = ("Patient", "EpisodeOfCare", "Encounter")
REFERENCE_RULE = "reference.exists() or identifier.exists() or display.exists()"


def _held_profile(kind: str) -> dict[str, Any]:
    for path in sorted(PROFILES.glob("StructureDefinition-fc-*.json")):
        document = json.loads(path.read_text())
        if (
            document.get("kind") == "resource"
            and document.get("type") == kind
            and not document["id"].startswith(RELEASED_PREFIX)
            and not str(document.get("baseDefinition", "")).startswith(STRUCTURE_DEFINITION)
        ):
            # Its snapshot is generated again from the released differential.
            return {key: value for key, value in document.items() if key != "snapshot"}
    raise SystemExit(f"no held profile for {kind}")


def released_profile(kind: str) -> dict[str, Any]:
    held = _held_profile(kind)
    elements = copy.deepcopy(held["differential"]["element"])
    by_path = {element["path"]: element for element in elements}
    rule = 0
    for element in list(elements):
        path = element["path"]
        if not path.endswith(".reference") or element.get("min", 0) < 1:
            continue
        element["min"] = 0
        parent_path = path.removesuffix(".reference")
        parent = by_path.get(parent_path)
        if parent is None:
            parent = {"id": parent_path, "path": parent_path}
            elements.insert(elements.index(element), parent)
            by_path[parent_path] = parent
        rule += 1
        parent.setdefault("constraint", []).append(
            {
                "key": f"fc-rel-{rule}",
                "severity": "error",
                "human": "A released reference leads to a released entry, or is her case "
                "reference (an identifier), or says that it is withheld",
                "expression": REFERENCE_RULE,
            }
        )
    identifier = f"{RELEASED_PREFIX}{held['id'].removeprefix('fc-')}"
    return {
        "resourceType": "StructureDefinition",
        "id": identifier,
        "url": f"{STRUCTURE_DEFINITION}/{identifier}",
        "version": held["version"],
        "status": held["status"],
        "publisher": held["publisher"],
        "date": held["date"],
        "fhirVersion": held["fhirVersion"],
        "name": "FcReleased" + held["name"].removeprefix("Fc"),
        "title": f"{held['title']}, as released",
        "description": (
            f"A {kind} in a release bundle: {held['url']} with every required literal "
            "reference relaxed, because a reference to something not released is "
            "replaced (her Patient by her case reference, an identifier; anything else "
            "by a display saying it is withheld). Never held by the clinic."
        ),
        "kind": "resource",
        "abstract": False,
        "type": kind,
        "baseDefinition": held["baseDefinition"],
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def released_example(kind: str, profile: dict[str, Any]) -> dict[str, Any]:
    from clinic.release.bundle import _withhold

    example = json.loads((PROFILES / "examples" / RELEASED[kind]).read_text())
    example.pop("text", None)
    example.pop("contained", None)
    example["id"] = f"{example['id']}-released"
    example["meta"]["profile"] = [profile["url"]]
    targets: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str) and "/" in reference:
                targets.add("/".join(reference.split("/")[:2]))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(example)
    released = {target for target in targets if not target.startswith(WITHHELD_KINDS)}
    _withhold(example, released, SimpleNamespace(reference="SA-EXAMPLE-0001"))  # type: ignore[arg-type]
    return example


def definitions() -> dict[Path, dict[str, Any]]:
    """Path -> content, for every released profile and its example."""
    written: dict[Path, dict[str, Any]] = {}
    snapshots = SnapshotGenerator({d["url"]: d for d in profile_documents(PROFILES).values()})
    for kind in RELEASED:
        profile = snapshots.with_snapshot(released_profile(kind))
        written[PROFILES / f"StructureDefinition-{profile['id']}.json"] = profile
        example = released_example(kind, profile)
        written[PROFILES / "examples" / f"{kind}-example-released.json"] = example
    return written


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for path, document in definitions().items():
        path.write_text(text(document))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
