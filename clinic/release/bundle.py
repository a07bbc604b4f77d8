"""The release bundle a force downloads (docs/design.md section 7, promise 3).

Exactly the approved records, each still permitted by her Consents at the moment
of download (a withdrawal or an end date stops it): their narrative left out, no
contained resources; a released report's section entries that lead to records not
released dropped, with the sections left empty (withheld means absent: nothing
says her account exists or how long it is); every other reference to a record
that is not released replaced (her Patient by the case reference, anything else
by "withheld"); and the number of items the force asked for of which nothing is
released (items, never records). Each released item's custody events come, through
the same withholding, with their log leaves and inclusion proofs, and the signed
checkpoint; a leaf is the logged event byte for byte (its hash is what the proof
proves), so it still carries the opaque ids of the site and of a receiving lab
that the Task withholds (docs/fhir-api.md says so). A record whose references were
replaced claims the released profile of its type (fc-released-*). The first entry,
a Provenance (fc-released-provenance), says what the bundle releases (its targets),
of which request (its source entity), how many items asked for are not released and
the custody checkpoint: a Bundle carries no extensions. Every entry carries the
SHA-256 of its RFC 8785 canonical form; the whole bundle is signed by the clinic's
release key: a detached JWS (`Ed25519`, RFC 9864) over the canonical form of the
bundle without its signature, in `Bundle.signature` (one Signature).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785
import sqlalchemy as sa

from clinic.access import Action, Actor, decide, require
from clinic.access.policy import NEVER_RELEASED, RELEASE
from clinic.access.terms import WITHHELD_SECTIONS
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.bodymap.figures import MapFigure, map_figures
from clinic.cases.models import Case
from clinic.cases.services import CASE_REFERENCE_SYSTEM
from clinic.consent.book import consent_book
from clinic.core.clock import isoformat, utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import CustodyEvent
from clinic.evidence.services import CUSTODY_LOG, custody_leaf, custody_task
from clinic.exam.resources import Signer, body_map_mark_of, signer_of
from clinic.fhir.canonical import (
    CODE_SYSTEM,
    NAMING_SYSTEM,
    ORGANIZATION_CODE_SYSTEM,
    STRUCTURE_DEFINITION,
)
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.services import EMPTY_REASON_WITHHELD, fulfil
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n.sentences import Day, format_measure, sentence
from clinic.ledger.services import (
    LedgerError,
    active_signer,
    export_proof,
    latest_checkpoint,
    log_origin,
)
from clinic.media.models import Photo
from clinic.release.models import ReleaseRequest, RequestStatus
from clinic.release.services import (
    REQUESTED_CLASSES,
    ReleaseRefused,
    RequestNotFound,
    force_actor,
    request_facts,
)

SHA256_URL = f"{STRUCTURE_DEFINITION}/fc-sha256"
WITHHELD_URL = f"{STRUCTURE_DEFINITION}/fc-release-withheld"
CHECKPOINT_URL = f"{STRUCTURE_DEFINITION}/fc-custody-checkpoint"
LEAF_URL = f"{STRUCTURE_DEFINITION}/fc-custody-leaf"
PROOF_URL = f"{STRUCTURE_DEFINITION}/fc-custody-proof"
RELEASE_PROVENANCE_URL = f"{STRUCTURE_DEFINITION}/fc-released-provenance"
ORIGINAL_URL = f"{STRUCTURE_DEFINITION}/fc-release-original"
BUNDLE_IDENTIFIER = f"{NAMING_SYSTEM}/release-bundle"
EXAM_SECTION = f"{CODE_SYSTEM}/exam-section"
# Said in the released Composition's section and on the printed released report.
WITHHELD_SECTION_TEXT = "Withheld: the police never receive this section."
# ISO 21089 record lifecycle event: the release is a disclosure.
DISCLOSE = {
    "system": "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle",
    "code": "disclose",
    "display": "Disclose",
}
CUSTODIAN = {
    "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
    "code": "custodian",
    "display": "Custodian",
}
# The JWS algorithm of release signatures (RFC 9864); bundles signed before it were
# marked with the deprecated polymorphic "EdDSA", which verification still accepts.
JWS_ALGORITHM = "Ed25519"
# ASTM E1762 signature type: source signature.
SIGNATURE_TYPE = {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.14"}


class ReleaseUnavailable(ReleaseRefused):
    """The request is the officer's own, but nothing can be downloaded (now)."""


def _day(moment: datetime) -> Day:
    """The day of a withdrawal: ISO 8601 in English (what the FHIR API's outcome
    says), as the reader's language writes a date on a screen."""
    return Day(moment.date(), moment.date().isoformat())


def release_key_name(config: Any) -> str:
    """The release key's name: `clinic keys generate --log release` creates it."""
    return log_origin(config, "release")


def canonical(resource: Any) -> bytes:
    return bytes(rfc8785.dumps(resource))


def sha256_hex(resource: Any) -> str:
    return hashlib.sha256(canonical(resource)).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _withhold(content: dict[str, Any], released: set[str], case: Case) -> int:
    """Replace every reference to a record that is not released; how many."""
    count = 0

    def walk(node: Any) -> Any:
        nonlocal count
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str) and "/" in reference and not reference.startswith("#"):
                target = "/".join(reference.split("/")[:2])
                if target not in released:
                    count += 1
                    if target.startswith("Patient/"):
                        return {
                            "identifier": {
                                "system": CASE_REFERENCE_SYSTEM,
                                "value": case.reference,
                            },
                            "display": "her case reference: her identity is not released",
                        }
                    return {"display": "withheld: not released"}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    rewritten = walk(content)
    content.clear()
    content.update(rewritten)
    return count


def _target(reference: str) -> str:
    return "/".join(reference.split("/")[:2])


def _section_code(section: dict[str, Any]) -> str:
    return next(
        (
            str(coding.get("code"))
            for coding in (section.get("code") or {}).get("coding", [])
            if coding.get("system") == EXAM_SECTION
        ),
        "",
    )


def withheld_section(section: dict[str, Any]) -> dict[str, Any]:
    """A section the police never receive (her health: WITHHELD_SECTIONS), as the
    released report shows it: its title and step, said to be withheld, and nothing
    of it; every report has the section, so saying so tells nothing about her."""
    return {
        "title": section.get("title", ""),
        "code": section["code"],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{WITHHELD_SECTION_TEXT}</div>',
        },
        "emptyReason": {"coding": [EMPTY_REASON_WITHHELD]},
    }


def _drop_withheld_sections(content: dict[str, Any], released: set[str]) -> None:
    """A Composition's section entries that lead to records not released are
    dropped, and then every section left with no entry, text or sub-section (cmp-1):
    the force learns neither that those records exist nor how many there are. A
    section the police never receive (her health, by its step's code) is always
    shown as withheld, whether or not anything was recorded in it."""

    def keep(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for section in sections:
            if _section_code(section) in WITHHELD_SECTIONS:
                kept.append(withheld_section(section))
                continue
            entries = [
                entry
                for entry in section.get("entry", [])
                if _target(str(entry.get("reference", ""))) in released
            ]
            if entries:
                section["entry"] = entries
            else:
                section.pop("entry", None)
                section.pop("orderedBy", None)
            children = keep(section.get("section", []))
            if children:
                section["section"] = children
            else:
                section.pop("section", None)
            # A section with nothing but its narrative, which the police never
            # receive (fulfil says it withheld), is dropped like an emptied one.
            narrative = "text" in section and "emptyReason" not in section
            if "entry" in section or narrative or "section" in section:
                kept.append(section)
        return kept

    if "section" in content:
        sections = keep(content["section"])
        if sections:
            content["section"] = sections
        else:  # the profile wants a section: one that says so, leading nowhere
            content["section"] = [
                {
                    "title": "Released records",
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                        "No section of this report holds a released record.</div>",
                    },
                }
            ]


def withheld_items(request: ReleaseRequest, versions: list[StoredVersion]) -> list[str]:
    """The items the force asked for of which the release holds nothing: all that is
    said about what was not released (not why, not whether it exists, not how many
    records of her account there are)."""
    held: set[str] = set()
    for version in versions:
        classes = version.facts().data_classes
        held.update(code for code, wanted in REQUESTED_CLASSES.items() if classes & wanted)
    return [code for code in request.requested if code not in held]


def release_bundle(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    request_id: str,
    instance_path: Path,
    key_name: str,
    base: str,
    channel: str = "fhir",
    printed: bool = False,
) -> dict[str, Any]:
    """The signed bundle of an approved request, for an officer of its force;
    `printed` when it is assembled for the printable exam report (recorded so).
    Each entry's fullUrl is absolute, under `base` (the FHIR API's public base),
    so the relative references inside resolve to the entries beside them."""
    require(actor, Action.READ, "ReleaseRequest")
    request = uow.session.scalar(
        sa.select(ReleaseRequest).where(ReleaseRequest.id == request_id).with_for_update()
    )
    if (
        request is None
        or not decide(actor, Action.READ, "ReleaseRequest", request_facts(request)).permitted
    ):
        raise RequestNotFound(sentence("There is no such request."))
    if request.status != RequestStatus.APPROVED or request.case_id is None:
        raise ReleaseUnavailable(
            sentence(
                "No release can be downloaded for this request: consent withdrawn on %(day)s.",
                day=_day(request.withdrawn_at),
            )
            if request.withdrawn_at
            else sentence(
                "No release can be downloaded for this request: awaiting survivor decision."
            )
        )
    case = uow.session.get(Case, request.case_id)
    force = uow.session.get(Organization, request.force_id)
    assert case is not None
    assert force is not None
    recipient = force_actor(force)
    consents = consent_book(uow)
    store = ResourceStore(uow.session, registry)
    now = utcnow()
    versions: list[tuple[StoredVersion, Any]] = []
    for reference in request.approved or []:
        kind, logical_id, _, version_id = reference.split("/")
        version = store.version(kind, logical_id, int(version_id))
        current = store.current(kind, logical_id)
        assert version is not None
        assert current is not None
        if current.version_id != version.version_id:
            # Never an earlier version: a record amended since approval is approved again.
            raise ReleaseUnavailable(
                sentence(
                    "No release can be downloaded for this request yet: a record was amended "
                    "after the release was approved, and the clinic must approve it again."
                )
            )
        decision = decide(
            recipient,
            Action.EXPORT,
            kind,
            version.facts(),
            operation=RELEASE,
            consents=consents,
            at=now,
        )
        if NEVER_RELEASED in decision.reasons:
            # Never the police's (her health): approved before the rule held, it is
            # left out, never delivered, and the rest still goes.
            continue
        if not decision.permitted:
            # Her permission ended (a date) or changed: nothing more is delivered.
            raise ReleaseUnavailable(
                sentence(
                    "No release can be downloaded for this request: the survivor's permission "
                    "no longer covers it."
                )
            )
        versions.append((version, decision))
    released = {v.reference for v, _ in versions}
    entries: list[dict[str, Any]] = []
    for version, decision in versions:
        content = copy.deepcopy(fulfil(decision, version).content)
        content.pop("contained", None)
        if version.resource_type == "Composition":
            _drop_withheld_sections(content, released)
        if _withhold(content, released, case):
            _claim_released_profile(content, registry)
        extensions = (
            _photo_extensions(uow, request, version.logical_id)
            if version.resource_type == "Media"
            else {}
        )
        entries.append(
            _entry(content, f"{base}/{version.resource_type}/{version.logical_id}", **extensions)
        )
    entries.extend(
        _custody_entries(
            uow, [v for v, _ in versions if v.resource_type == "Specimen"], released, case, base
        )
    )
    withheld = len(withheld_items(request, [v for v, _ in versions]))
    checkpoint = latest_checkpoint(uow.session, CUSTODY_LOG)
    provenance = _release_provenance(
        uow,
        request,
        case,
        [v.versioned_reference for v, _ in versions]
        + [
            f"Task/{e['resource']['id']}"
            for e in entries
            if e["resource"]["resourceType"] == "Task"
        ],
        withheld,
        checkpoint.note if checkpoint is not None else None,
        now,
    )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {
            "security": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SDV"},
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
            ]
        },
        "identifier": {"system": BUNDLE_IDENTIFIER, "value": request.id},
        "type": "collection",
        "timestamp": isoformat(now),
        "entry": [_entry(provenance, f"{base}/Provenance/{provenance['id']}"), *entries],
    }
    bundle["signature"] = _sign(uow, instance_path, key_name, bundle, case, now)
    delivered = list(request.delivered or [])
    delivery = {"bundle": bundle["id"], "at": isoformat(now), "by": actor.username}
    if printed:
        delivery["printed"] = "exam-report"
    delivered.append(delivery)
    request.delivered = delivered
    uow.audit(
        AuditRecord(
            kind=EventKind.EXPORT,
            channel=channel,
            actor=actor,
            entities=(f"Task/{request.id}", *(v.versioned_reference for v, _ in versions)),
            reasons=(
                "released exam report printed" if printed else "release downloaded",
                *(request.consents or []),
            ),
        )
    )
    return bundle


def _claim_released_profile(content: dict[str, Any], registry: ProfileRegistry) -> None:
    """A record whose references were replaced is no longer the held record: it
    claims the released profile of its type, or (none needed) keeps its own."""
    url = registry.released_profiles.get(str(content["resourceType"]))
    if url is not None:
        content["meta"]["profile"] = [url]


def release_provenance(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Provenance that says what a release bundle releases (its first entry)."""
    return next(
        entry["resource"]
        for entry in bundle["entry"]
        if RELEASE_PROVENANCE_URL in entry["resource"].get("meta", {}).get("profile", [])
    )


def withheld_count(bundle: dict[str, Any]) -> int:
    """How many items the force asked for of which the bundle holds nothing."""
    return int(
        next(
            extension["valueInteger"]
            for extension in release_provenance(bundle).get("extension", [])
            if extension["url"] == WITHHELD_URL
        )
    )


def _release_provenance(
    uow: UnitOfWork,
    request: ReleaseRequest,
    case: Case,
    targets: list[str],
    withheld: int,
    checkpoint: str | None,
    now: Any,
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [{"url": WITHHELD_URL, "valueInteger": withheld}]
    if checkpoint is not None:
        extensions.append({"url": CHECKPOINT_URL, "valueString": checkpoint})
    return {
        "resourceType": "Provenance",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [RELEASE_PROVENANCE_URL]},
        "extension": extensions,
        # Nothing released: the disclosure is then of the request's answer alone.
        "target": [{"reference": t} for t in targets] or [{"reference": f"Task/{request.id}"}],
        "recorded": isoformat(now),
        "activity": {"coding": [DISCLOSE]},
        "agent": [{"type": {"coding": [CUSTODIAN]}, "who": _clinic(uow, case)}],
        "entity": [
            {
                "role": "source",
                "what": {"reference": f"Task/{request.id}", "display": "the release request"},
            }
        ],
    }


def _entry(resource: dict[str, Any], full_url: str, **extensions: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fullUrl": full_url,
        "extension": [{"url": SHA256_URL, "valueString": sha256_hex(resource)}],
        "resource": resource,
    }
    for url, value in extensions.items():
        entry["extension"].append({"url": url, "valueString": value})
    return entry


def _photo_extensions(uow: UnitOfWork, request: ReleaseRequest, photo_id: str) -> dict[str, str]:
    """A released photograph's intake leaf and its proof in the custody log (the
    SHA-256 taken when it was photographed), and where the officer downloads the
    original while the release stands."""
    photo = uow.session.get(Photo, photo_id)
    assert photo is not None
    extensions = {
        LEAF_URL: base64.b64encode(photo.leaf()).decode(),
        ORIGINAL_URL: f"releases/{request.id}/photos/{photo.id}",
    }
    with contextlib.suppress(LedgerError):  # newer than the latest checkpoint
        extensions[PROOF_URL] = export_proof(uow.session, CUSTODY_LOG, photo.log_index).text()
    return extensions


def _custody_entries(
    uow: UnitOfWork, specimens: list[StoredVersion], released: set[str], case: Case, base: str
) -> list[dict[str, Any]]:
    """Each released item's custody events as Tasks, through the same withholding as
    the records (a lab's or a force's Organization is not released); the log leaf
    and its proof are carried unchanged, so that the event verifies offline."""
    entries = []
    for specimen in specimens:
        events = uow.session.scalars(
            sa.select(CustodyEvent)
            .where(CustodyEvent.item_id == specimen.logical_id)
            .order_by(CustodyEvent.log_index)
        )
        for event in events:
            extensions = {LEAF_URL: base64.b64encode(custody_leaf(event)).decode()}
            with contextlib.suppress(LedgerError):  # newer than the latest checkpoint
                extensions[PROOF_URL] = export_proof(
                    uow.session, CUSTODY_LOG, event.log_index
                ).text()
            task = custody_task(event)
            _withhold(task, released, case)  # its profiles want no literal reference
            entries.append(_entry(task, f"{base}/Task/{task['id']}", **extensions))
    return entries


def _clinic(uow: UnitOfWork, case: Case) -> dict[str, Any]:
    site = uow.session.get(Organization, case.site_id)
    assert site is not None
    return {
        "identifier": {"system": ORGANIZATION_CODE_SYSTEM, "value": site.code},
        "display": site.name,
    }


def _sign(
    uow: UnitOfWork,
    instance_path: Path,
    key_name: str,
    bundle: dict[str, Any],
    case: Case,
    now: Any,
) -> dict[str, Any]:
    try:
        signer = active_signer(uow.session, instance_path, key_name)
    except LedgerError as error:
        raise ReleaseUnavailable(
            sentence(
                "The clinic has no release signing key yet; ask its administrator to run "
                "`clinic keys generate --log release`."
            )
        ) from error
    header = {"alg": JWS_ALGORITHM, "kid": str(signer.verifier)}
    protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{protected}.{_b64url(canonical(bundle))}".encode()
    jws = f"{protected}..{_b64url(signer.private_key.sign(signing_input))}"
    return {
        "type": [SIGNATURE_TYPE],
        "when": isoformat(now),
        # The clinic by its code, not a reference: its Organization is not released.
        "who": _clinic(uow, case),
        "sigFormat": "application/jose",
        "data": base64.b64encode(jws.encode()).decode(),
    }


# -- the released exam report, to print -------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One released record in a section of the printable report: its name and values."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ReportSectionInWords:
    title: str
    lines: tuple[Line, ...]
    withheld: bool = False  # a section the police never receive


@dataclass(frozen=True)
class ReleasedReport:
    """The released exam report as people read it: only what the bundle holds."""

    request: ReleaseRequest
    bundle_id: str
    assembled_at: str
    title: str
    status: str
    case_reference: str
    signed_at: str
    signer: Signer | None
    sections: tuple[ReportSectionInWords, ...]
    evidence: tuple[Line, ...]
    maps: tuple[MapFigure, ...] = ()  # body maps of the released injuries only


def _value(node: dict[str, Any]) -> str:
    """A FHIR value in words: displays for codes, numbers with units, times as given."""
    for key, value in node.items():
        if not key.startswith("value") or key == "value":
            continue
        if key == "valueQuantity":
            return f"{format_measure(value.get('value'))} {value.get('unit', '')}".strip()
        if key == "valueCodeableConcept":
            return _concept(value)
        if key == "valuePeriod":
            return f"{_instant(value.get('start', ''))} to {_instant(value.get('end', ''))}"
        if key == "valueDateTime":
            return _instant(str(value))
        if key == "valueBoolean":
            return "yes" if value else "no"
        return str(value)
    if "dataAbsentReason" in node:
        return _concept(node["dataAbsentReason"])
    return ""


def _concept(concept: dict[str, Any]) -> str:
    coding = (concept.get("coding") or [{}])[0]
    return str(concept.get("text") or coding.get("display") or coding.get("code") or "")


def _instant(value: str) -> str:
    return value[:16].replace("T", " ") + (" UTC" if len(value) > 10 else "")


def _line(resource: dict[str, Any]) -> Line:
    kind = resource.get("resourceType", "")
    values: list[str] = []
    if kind == "MedicationAdministration":
        name = _concept(resource.get("category") or {}) or "Treatment"
        values.append(_concept(resource.get("medicationCodeableConcept") or {}))
        values.extend(n.get("text", "") for n in resource.get("note", []))
        values.append(_instant(str(resource.get("effectiveDateTime", ""))))
        if resource.get("status") == "not-done":
            values.extend(r.get("text", "") for r in resource.get("statusReason", []))
    elif kind == "Encounter":
        name = "Exam"
        period = resource.get("period") or {}
        values.append(f"{_instant(period.get('start', ''))} to {_instant(period.get('end', ''))}")
    else:
        name = _concept(resource.get("code") or {}) or kind
        values.append(_value(resource))
        if "bodySite" in resource:
            values.append(_concept(resource["bodySite"]))
        for component in resource.get("component", []):
            values.append(f"{_concept(component.get('code') or {})}: {_value(component)}")
        values.extend(n.get("text", "") for n in resource.get("note", []))
    return Line(name, tuple(v for v in values if v))


def _listed(report: dict[str, Any]) -> list[str]:
    """The records a Composition's sections (and sub-sections) list, in order."""
    listed: list[str] = []
    sections = list(report.get("section", []))
    while sections:
        section = sections.pop(0)
        listed.extend(
            target
            for entry in section.get("entry", [])
            if (target := _target(str(entry.get("reference", "")))) not in listed
        )
        sections[:0] = section.get("section", [])
    return listed


def released_report(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    request_id: str,
    instance_path: Path,
    key_name: str,
    base: str,
) -> ReleasedReport:
    """The released exam report in words, for the force to print and keep with the
    bundle. Built from the bundle's content only (so nothing withheld can appear),
    and the bundle is assembled, audited and recorded as for a download. The
    examiner who signed is named with role (and professional registration, where
    their account has one): they will be called as a witness."""
    bundle = release_bundle(
        uow,
        registry,
        actor=actor,
        request_id=request_id,
        instance_path=instance_path,
        key_name=key_name,
        base=base,
        channel="web",
        printed=True,
    )
    request = uow.session.get(ReleaseRequest, request_id)
    assert request is not None
    held = {
        f"{entry['resource']['resourceType']}/{entry['resource']['id']}": entry["resource"]
        for entry in bundle["entry"]
    }
    report = next((r for r in held.values() if r["resourceType"] == "Composition"), None)
    sections: list[ReportSectionInWords] = []
    signer = None
    signed_at = ""
    if report is not None:
        attester = (report.get("attester") or [{}])[0]
        signed_at = _instant(str(attester.get("time", "")))
        signer = signer_of(report)
        for section in report.get("section", []):
            if "emptyReason" in section:
                sections.append(ReportSectionInWords(section.get("title", ""), (), withheld=True))
                continue
            lines = tuple(
                _line(held[target])
                for entry in section.get("entry", [])
                if (target := _target(str(entry.get("reference", "")))) in held
            )
            if lines:
                sections.append(ReportSectionInWords(section.get("title", ""), lines))
    evidence = tuple(
        Line(
            _concept(r.get("type") or {}),
            tuple(
                v
                for v in (
                    *(i.get("value", "") for i in r.get("identifier", [])),
                    _instant(str((r.get("collection") or {}).get("collectedDateTime", ""))),
                )
                if v
            ),
        )
        for r in held.values()
        if r["resourceType"] == "Specimen"
    )
    # Drawn from the injuries the released report lists, and only those still
    # standing: a map shows no more than the report's words, and no more than her
    # release consent lets the bundle hold.
    maps = map_figures(
        (mark, "; ".join(_line(resource).values))
        for resource in (held[target] for target in _listed(report or {}) if target in held)
        if resource["resourceType"] == "Observation"
        and resource.get("status") != "entered-in-error"
        and (mark := body_map_mark_of(resource)) is not None
    )
    subject = (report or {}).get("subject") or {}
    return ReleasedReport(
        request=request,
        bundle_id=bundle["id"],
        assembled_at=_instant(bundle["timestamp"]),
        title=str((report or {}).get("title", "")),
        status=str((report or {}).get("status", "")),
        case_reference=str((subject.get("identifier") or {}).get("value", "")),
        signed_at=signed_at,
        signer=signer,
        sections=tuple(sections),
        evidence=evidence,
        maps=tuple(maps),
    )
