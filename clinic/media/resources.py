"""A forensic photograph as FHIR R4B Media (profile fc-photo).

The Media describes the original exactly as taken: its type, size, SHA-1 (the
`Attachment.hash` FHIR defines) and SHA-256 (`fc-sha256`, the hash the custody log
holds), pixel size, the exam and survivor, body site and view, whether a scale was
in frame and the injury it shows. It never carries the image bytes: who may see
the original receives them through the clinic, audited. Intimate images are
labelled very restricted (`V`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clinic.core.clock import isoformat
from clinic.fhir.canonical import (
    CODE_SYSTEM,
    RESTRICTED_LABEL,
    SEXUAL_VIOLENCE_LABEL,
    STRUCTURE_DEFINITION,
    VERY_RESTRICTED_LABEL,
)

PHOTO_PROFILE = f"{STRUCTURE_DEFINITION}/fc-photo"
PHOTO_CAPTURE = f"{STRUCTURE_DEFINITION}/fc-photo-capture"
SHA256_EXTENSION = f"{STRUCTURE_DEFINITION}/fc-sha256"
PHOTO_VIEW = f"{CODE_SYSTEM}/photo-view"
BODY_REGION = f"{CODE_SYSTEM}/body-region"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"

# The views of forensic photography (CodeSystem photo-view).
VIEWS = {
    "overview": "Overview (orientation: where on the body)",
    "mid-range": "Mid-range (the injury and its surroundings)",
    "close-up": "Close-up (the injury, with a scale)",
}


def photo_media(
    *,
    patient_id: str,
    exam_id: str,
    taken_at: datetime,
    content_type: str,
    data: bytes,
    sha256: str,
    width: int,
    height: int,
    view: str,
    region: str,
    region_display: str,
    site_text: str,
    scale_in_frame: bool,
    intimate: bool,
    injury_id: str | None,
    number: int,
) -> dict[str, Any]:
    capture: list[dict[str, Any]] = [{"url": "scale-in-frame", "valueBoolean": scale_in_frame}]
    if injury_id is not None:
        capture.append(
            {"url": "injury", "valueReference": {"reference": f"Observation/{injury_id}"}}
        )
    return {
        "resourceType": "Media",
        "meta": {
            "profile": [PHOTO_PROFILE],
            "security": security_labels(intimate),
        },
        "extension": [{"url": PHOTO_CAPTURE, "extension": capture}],
        "status": "completed",
        "type": {"coding": [{"system": MEDIA_TYPE, "code": "image", "display": "Image"}]},
        "view": {"coding": [{"system": PHOTO_VIEW, "code": view, "display": VIEWS[view]}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{exam_id}"},
        "createdDateTime": isoformat(taken_at),
        "bodySite": {
            "coding": [{"system": BODY_REGION, "code": region, "display": region_display}],
            "text": site_text,
        },
        "height": height,
        "width": width,
        "content": {
            "extension": [{"url": SHA256_EXTENSION, "valueString": sha256}],
            "contentType": content_type,
            "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode(),
            "title": "Forensic photograph",
            "creation": isoformat(taken_at),
        },
    }


def security_labels(intimate: bool) -> list[dict[str, str]]:
    """Every photo is about the assault (SDV); intimate images are very restricted
    (V), the others restricted (R)."""
    confidentiality = VERY_RESTRICTED_LABEL if intimate else RESTRICTED_LABEL
    return [
        {"system": system, "code": code}
        for system, code in (SEXUAL_VIOLENCE_LABEL, confidentiality)
    ]


def corrected_media(
    content: dict[str, Any],
    *,
    intimate: bool | None,
    retired: bool,
    by: str,
    at: datetime,
    reason: str,
) -> dict[str, Any]:
    """The next version of a photo's Media after a correction: classified again
    (`intimate`), or retired (`status` entered-in-error); who, when and why are
    kept as a note (Media.note, one per correction, earlier ones kept)."""
    corrected = copy.deepcopy(content)
    if intimate is not None:
        meta = corrected.setdefault("meta", {})
        meta["security"] = security_labels(intimate)
    if retired:
        corrected["status"] = "entered-in-error"
    corrected.setdefault("note", []).append(
        {"authorString": by, "time": isoformat(at), "text": reason}
    )
    return corrected


@dataclass(frozen=True)
class Correction:
    """One correction of a photo as its Media's history records it."""

    change: str  # "intimate", "not-intimate" or "retired"
    by: str
    at: str
    reason: str


def corrections(versions: list[dict[str, Any]]) -> list[Correction]:
    """The corrections recorded across a photo's Media versions (oldest first):
    each version that added a note says what it changed against the one before."""
    found = []
    for before, after in itertools.pairwise(versions):
        notes = after.get("note", [])
        if len(notes) <= len(before.get("note", [])):
            continue
        note = notes[-1]
        if after.get("status") == "entered-in-error" != before.get("status"):
            change = "retired"
        else:
            change = "intimate" if is_intimate(after) else "not-intimate"
        found.append(
            Correction(
                change,
                str(note.get("authorString", "")),
                str(note.get("time", "")),
                str(note.get("text", "")),
            )
        )
    return found


def is_intimate(content: dict[str, Any]) -> bool:
    return any(
        (label.get("system"), label.get("code")) == VERY_RESTRICTED_LABEL
        for label in content.get("meta", {}).get("security", [])
    )


def sha256_of(content: dict[str, Any]) -> str | None:
    for extension in content.get("content", {}).get("extension", []):
        if extension.get("url") == SHA256_EXTENSION:
            return str(extension.get("valueString"))
    return None
