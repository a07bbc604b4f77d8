"""The clinic's definitions as a FHIR package (https://hl7.org/fhir/packages.html), the
form an integrator's tools load: a gzipped tarball with `package/package.json`,
`package/.index.json`, an ImplementationGuide listing everything, every
StructureDefinition (with its snapshot), CodeSystem, ValueSet, OperationDefinition
and SearchParameter of fhir_profiles/ as the files are, and the examples in
`package/example/`.

Built the same way by `scripts/build_fhir_package.py` and by the API
(`GET /fhir/package.tgz`, built once per process): the bytes depend on the files
only (sorted members, fixed times and owners), so the download is the build.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from clinic.fhir.canonical import CANONICAL_BASE

PACKAGE_NAME = "org.forensic-care.fhir"
PACKAGE_VERSION = "0.1.0"
FHIR_VERSION = "4.3.0"
CORE_PACKAGE = ("hl7.fhir.r4b.core", "4.3.0")
IMPLEMENTATION_GUIDE_ID = PACKAGE_NAME
IMPLEMENTATION_GUIDE_URL = f"{CANONICAL_BASE}/ImplementationGuide/{IMPLEMENTATION_GUIDE_ID}"
PUBLISHER = "Forensic care clinic project"
TITLE = "Forensic care clinic: FHIR R4B definitions"
DESCRIPTION = (
    "Profiles, extensions, code systems, value sets and operations of the forensic care "
    "clinic's FHIR API (sexual assault medical-forensic examinations, chain of custody, "
    "consent, follow-up and releases to police), with one example of each profile."
)
# The kinds of definition the package carries, and the API serves.
DEFINITION_TYPES = (
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
    "OperationDefinition",
    "SearchParameter",
)
# Fields of a resource that .index.json repeats, when the resource has them.
_INDEXED = ("url", "version", "kind", "type", "supplements", "content")


@dataclass(frozen=True)
class FhirPackage:
    tarball: bytes
    members: tuple[str, ...]  # paths in the tarball, in order

    @property
    def filename(self) -> str:
        return f"{PACKAGE_NAME}-{PACKAGE_VERSION}.tgz"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.tarball).hexdigest()


def _resource_files(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_bytes())
        if isinstance(document, dict) and document.get("resourceType"):
            found.append((path, document))
    return found


def _index_entry(filename: str, resource: dict[str, Any]) -> dict[str, Any]:
    entry = {"filename": filename, "resourceType": resource["resourceType"], "id": resource["id"]}
    entry.update({key: resource[key] for key in _INDEXED if key in resource})
    return entry


def _index(files: list[tuple[str, dict[str, Any]]]) -> bytes:
    body = {"index-version": 2, "files": [_index_entry(name, r) for name, r in files]}
    return _json(body)


def _json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def manifest() -> dict[str, Any]:
    """package/package.json."""
    return {
        "name": PACKAGE_NAME,
        "version": PACKAGE_VERSION,
        "type": "fhir.ig",
        "canonical": CANONICAL_BASE,
        "url": CANONICAL_BASE,
        "title": TITLE,
        "description": DESCRIPTION,
        "author": PUBLISHER,
        "license": "AGPL-3.0-or-later",
        "fhirVersions": [FHIR_VERSION],
        "dependencies": {CORE_PACKAGE[0]: CORE_PACKAGE[1]},
    }


def implementation_guide(
    definitions: list[dict[str, Any]], examples: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ImplementationGuide: every definition, then every example (with the
    profile it illustrates)."""
    listed: list[dict[str, Any]] = []
    for resource in definitions:
        listed.append(
            {
                "reference": {"reference": f"{resource['resourceType']}/{resource['id']}"},
                "name": str(resource.get("title") or resource.get("name") or resource["id"]),
                "exampleBoolean": False,
            }
        )
    for resource in examples:
        claimed = (resource.get("meta") or {}).get("profile") or []
        example: dict[str, Any] = (
            {"exampleCanonical": claimed[0]} if claimed else {"exampleBoolean": True}
        )
        listed.append(
            {
                "reference": {"reference": f"{resource['resourceType']}/{resource['id']}"},
                "name": f"Example {resource['resourceType']}/{resource['id']}",
                **example,
            }
        )
    dates = [str(r["date"])[:10] for r in definitions if r.get("date")]
    return {
        "resourceType": "ImplementationGuide",
        "id": IMPLEMENTATION_GUIDE_ID,
        "url": IMPLEMENTATION_GUIDE_URL,
        "version": PACKAGE_VERSION,
        "name": "ForensicCareClinic",
        "title": TITLE,
        "status": "draft",
        **({"date": max(dates)} if dates else {}),
        "publisher": PUBLISHER,
        "description": DESCRIPTION,
        "packageId": PACKAGE_NAME,
        "fhirVersion": [FHIR_VERSION],
        "definition": {"resource": listed},
    }


def package_files(directory: Path) -> list[tuple[str, bytes]]:
    """(path in the tarball, bytes), in the tarball's order."""
    definitions = [
        (path, doc)
        for path, doc in _resource_files(directory)
        if doc["resourceType"] in DEFINITION_TYPES
    ]
    examples = _resource_files(directory / "examples")
    guide = implementation_guide([d for _, d in definitions], [d for _, d in examples])
    guide_name = f"ImplementationGuide-{guide['id']}.json"
    files: list[tuple[str, bytes]] = [("package/package.json", _json(manifest()))]
    listed = [(guide_name, guide)] + [(path.name, doc) for path, doc in definitions]
    files.append(("package/.index.json", _index(listed)))
    files.append((f"package/{guide_name}", _json(guide)))
    # Definitions as the files are: what fhir_profiles/ holds is what is published.
    files += [(f"package/{path.name}", path.read_bytes()) for path, _ in definitions]
    files.append(
        ("package/example/.index.json", _index([(path.name, doc) for path, doc in examples]))
    )
    files += [(f"package/example/{path.name}", path.read_bytes()) for path, _ in examples]
    return files


def build_package(directory: Path) -> FhirPackage:
    """The package of the definitions in `directory`: the same bytes for the same files."""
    raw = io.BytesIO()
    files = package_files(directory)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as archive:
        archive.write(raw.getvalue())
    return FhirPackage(compressed.getvalue(), tuple(name for name, _ in files))


@lru_cache(maxsize=2)
def package_of(directory: Path) -> FhirPackage:
    """The package of a directory, built once per process (the files of a running
    clinic do not change; the profile registry is loaded once too)."""
    return build_package(directory)
