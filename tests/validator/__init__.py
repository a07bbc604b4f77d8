"""The independent validator (validate.mjs: @medplum/core with the official R4 and
R4B definitions from npm), run in one node process over many resources, and the
sample of resources the suite's requests are served, which it checks at the end
of the run (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "validator" / "validate.mjs"

# Known faults of the validator itself, each narrowly: (FHIR version, message start,
# where: a regular expression the issue's expression must match).
FALSE_POSITIVES = (
    # R4's ras-2 (`probability is decimal implies ...`) on a prediction without a
    # probability: empty implies empty, which FHIRPath's three-valued logic does not
    # make false; @medplum/core reports it failed. R4B's wording of ras-2 passes.
    (
        "R4",
        "Constraint ras-2 not met",
        r"(RiskAssessment|Bundle\.entry\[\d+\]\.resource)\.prediction\[\d+\]",
    ),
    # A pattern on a repeating element (fc-exam-encounter's Encounter.type, the only
    # one in our profiles): @medplum/core compares the pattern with the whole array,
    # never with its items, so even a matching type is reported (through the
    # snapshots; our own validator checks the pattern).
    *(
        (version, "Value did not match expected pattern", r"Encounter\.type")
        for version in ("R4", "R4B")
    ),
    # An ElementDefinition's id is a path ("Observation.value[x]", eld-20), while
    # @medplum/core checks R4B's Element.id against the `id` type's pattern.
    (
        "R4B",
        "Invalid id format",
        # (a StructureDefinition read, or one in a searchset of them)
        r"(StructureDefinition|Bundle\.entry\[\d+\]\.resource)"
        r"\.(differential|snapshot)\.element\[\d+\]\.id",
    ),
)


def _known_fault(fhir: str, issue: dict[str, Any]) -> bool:
    text = str((issue.get("details") or {}).get("text", ""))
    where = " ".join(issue.get("expression") or [])
    return any(
        fhir == version and text.startswith(message) and re.fullmatch(pattern, where)
        for version, message, pattern in FALSE_POSITIVES
    )


class ValidatorMissing(RuntimeError):
    pass


def validate(
    paths: list[Path], profiles: Path | None = None, package: Path | None = None
) -> dict[str, Any]:
    """Every resource in `paths` (files or directories) checked in one node process,
    against the profiles it claims when `profiles` (a directory of StructureDefinitions
    with snapshots) is given; with `package` (a FHIR package tarball), every resource
    in it too, as R4B, against the package's own profiles. The errors and warnings,
    known validator faults left out."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@medplum" / "core").exists():
        raise ValidatorMissing("the independent validator needs node and `npm ci`")
    command = [node, str(SCRIPT)]
    if profiles is not None:
        command += ["--profiles", str(profiles)]
    if package is not None:
        command += ["--package", str(package)]
    done = subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        # The error's own line (node prints a minified source line before it).
        reason = [line for line in done.stderr.splitlines() if re.match(r"\w*Error\b", line)]
        raise ValidatorMissing(
            f"the validator failed: {'; '.join(reason)} {done.stderr[-1000:]}"
        ) from error
    for result in report["results"]:
        result["outcome"]["issue"] = [
            issue for issue in result["outcome"]["issue"] if not _known_fault(result["fhir"], issue)
        ]
    report["results"] = [r for r in report["results"] if r["outcome"]["issue"]]
    return report


def errors(report: dict[str, Any]) -> list[str]:
    """Each error as a line: where, in which version and profile, and what."""
    return [
        f"{r['fhir']} {r['source']}{' as ' + r['profile'] if r.get('profile') else ''}: "
        f"{(issue.get('details') or {}).get('text')} at {issue.get('expression')}"
        for r in report["results"]
        for issue in r["outcome"]["issue"]
        if issue.get("severity") in ("error", "fatal")
    ]


class Emitted:
    """Every distinct FHIR resource the suite's requests are served (the same bytes
    served again are kept once), written to a directory for the validator."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: Counter[str] = Counter()  # distinct resources, by type
        self._digests: set[bytes] = set()

    def record(self, body: bytes, content_type: str) -> None:
        if "json" not in content_type:
            return
        digest = hashlib.sha256(body).digest()
        if digest in self._digests:
            return
        try:
            resource = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if not isinstance(resource, dict) or "resourceType" not in resource:
            return
        self._digests.add(digest)
        kind = str(resource["resourceType"])
        self.seen[kind] += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{len(self._digests):06d}-{kind}.json").write_bytes(body)
