"""The FHIR package (clinic/fhir/package.py): loaded the way a package tool loads it,
reproducible, downloadable as the very bytes of the build, and free of errors for
the independent validator."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from clinic.fhir.package import IMPLEMENTATION_GUIDE_URL, PACKAGE_NAME, build_package
from clinic.fhir.profiles import PROFILES_DIR
from tests.validator import errors, validate


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("package") / "package.tgz"
    path.write_bytes(build_package(PROFILES_DIR).tarball)
    return path


def _unpacked(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball, "r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


def _check_index(files: dict[str, bytes], folder: str) -> list[dict[str, Any]]:
    """What a package tool does with a folder: read .index.json and find each file."""
    index = json.loads(files[f"{folder}/.index.json"])
    assert index["index-version"] == 2
    listed = []
    for entry in index["files"]:
        resource = json.loads(files[f"{folder}/{entry['filename']}"])
        assert resource["resourceType"] == entry["resourceType"], entry
        assert resource["id"] == entry["id"], entry
        assert resource.get("url") == entry.get("url"), entry
        assert resource.get("version") == entry.get("version"), entry
        listed.append(resource)
    present = {
        name.removeprefix(f"{folder}/")
        for name in files
        if name.startswith(f"{folder}/") and "/" not in name.removeprefix(f"{folder}/")
    }
    assert present - {"package.json", ".index.json"} == {e["filename"] for e in index["files"]}
    return listed


def test_the_package_loads_as_a_package_tool_loads_it(tarball: Path) -> None:
    files = _unpacked(tarball)
    manifest = json.loads(files["package/package.json"])
    assert manifest["name"] == PACKAGE_NAME
    assert manifest["fhirVersions"] == ["4.3.0"]
    assert manifest["dependencies"] == {"hl7.fhir.r4b.core": "4.3.0"}
    assert manifest["canonical"] == "https://forensic-care.org/fhir"
    definitions = _check_index(files, "package")
    examples = _check_index(files, "package/example")
    # Every definition of fhir_profiles/, byte for byte (CodeSystems as they are).
    published = sorted(
        path
        for path in PROFILES_DIR.glob("*.json")
        if not path.name.startswith("ImplementationGuide")
    )
    for path in published:
        assert files[f"package/{path.name}"] == path.read_bytes(), path.name
    for path in (PROFILES_DIR / "examples").glob("*.json"):
        assert files[f"package/example/{path.name}"] == path.read_bytes(), path.name
    # Every StructureDefinition has its snapshot; the guide lists every resource.
    assert all(
        d.get("snapshot", {}).get("element")
        for d in definitions
        if d["resourceType"] == "StructureDefinition"
    )
    (guide,) = [d for d in definitions if d["resourceType"] == "ImplementationGuide"]
    assert guide["url"] == IMPLEMENTATION_GUIDE_URL
    assert guide["packageId"] == PACKAGE_NAME
    listed = {r["reference"]["reference"] for r in guide["definition"]["resource"]}
    assert listed == {
        f"{d['resourceType']}/{d['id']}" for d in definitions + examples if d is not guide
    }
    consent_forms = [
        d
        for d in definitions
        if d.get("url", "").startswith("https://forensic-care.org/fhir/CodeSystem/consent-form/")
    ]
    assert len(consent_forms) == 6


def test_the_build_is_reproducible(tarball: Path) -> None:
    assert build_package(PROFILES_DIR).tarball == tarball.read_bytes()


def test_the_download_is_the_build_and_needs_no_token(client: FlaskClient, tarball: Path) -> None:
    for accept in ("*/*", "application/gzip", "application/fhir+json"):
        response = client.get("/fhir/package.tgz", headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert response.data == tarball.read_bytes()
        assert response.mimetype == "application/gzip"
        assert f"{PACKAGE_NAME}-0.1.0.tgz" in response.headers["Content-Disposition"]


def test_the_statement_names_the_guide_and_the_download(client: FlaskClient) -> None:
    statement = client.get("/fhir/metadata").get_json()
    assert statement["implementationGuide"] == [IMPLEMENTATION_GUIDE_URL]
    assert "/fhir/package.tgz" in statement["rest"][0]["documentation"]


def test_the_independent_validator_finds_no_error_in_the_package(tarball: Path) -> None:
    report = validate([], package=tarball)
    assert errors(report) == []
    resources = len([n for n in _unpacked(tarball) if n.endswith(".json")]) - 3
    assert report["checked"] >= resources  # each resource, as R4B


def test_the_validator_fails_a_package_with_an_error(tmp_path: Path) -> None:
    """An example that breaks its profile, packaged: the package check fails."""
    directory = tmp_path / "fhir_profiles"
    (directory / "examples").mkdir(parents=True)
    for name in ("StructureDefinition-fc-case.json", "examples/EpisodeOfCare-example-case.json"):
        shutil.copy(PROFILES_DIR / name, directory / name)
    path = directory / "examples/EpisodeOfCare-example-case.json"
    case = json.loads(path.read_text())
    del case["period"]
    path.write_text(json.dumps(case))
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(build_package(directory).tarball)
    found = errors(validate([], package=broken))
    assert any("EpisodeOfCare-example-case.json" in line and "fc-case" in line for line in found)


def test_a_package_tool_can_read_it_from_memory() -> None:
    """The members are plain files under package/, no absolute or parent paths."""
    with tarfile.open(fileobj=io.BytesIO(build_package(PROFILES_DIR).tarball)) as archive:
        names = archive.getnames()
    assert names[0] == "package/package.json"
    assert all(n.startswith("package/") and ".." not in n for n in names)
