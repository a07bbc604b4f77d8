"""A completed consent form as a FHIR R4B Consent, and back (docs/design.md section 5).

The Consent is opt-in (`policyRule` v3-ActCode OPTIN): nothing is permitted unless
a provision says so. The root provision carries no type. Each answered item is a
first-level provision, `permit` when she agreed and `deny` when she declined (so
a refusal is recorded as clearly as a grant); an item that narrows another (for
example "that includes my own account") is nested inside it, so a decline there
is an exception carved out of the permit. Her "never share with" list is a set of
first-level denies naming the organisation or person. Every provision carries
the form item it records (extension fc-consent-item).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clinic.access.consent import ANYONE, Directive, Period, Provision, Recipient, Verdict
from clinic.access.terms import (
    ACTIONS,
    DATA_CLASS_SYSTEM,
    DATA_CLASSES,
    EXAM_PART_SYSTEM,
    EXAM_PARTS,
    LABELS,
    PURPOSE_SYSTEM,
    PURPOSES,
    RECIPIENT_SYSTEM,
    RECIPIENTS,
)
from clinic.consent.code_systems import (
    CONSENT_FORM_SYSTEM,
    NEVER_SHARE,
    NEVER_SHARE_DISPLAY,
    is_never_share,
    item_system,
)
from clinic.consent.definitions import FormVersion, Item
from clinic.core.clock import isoformat
from clinic.fhir.canonical import (
    ACT_CODE,
    CODE_SYSTEM,
    RESTRICTED_LABEL,
    SEXUAL_VIOLENCE_LABEL,
    STRUCTURE_DEFINITION,
    coding_display,
)
from clinic.i18n import N_

PROFILE = f"{STRUCTURE_DEFINITION}/fc-consent"
ITEM_URL = f"{STRUCTURE_DEFINITION}/fc-consent-item"
GIVEN_BY_URL = f"{STRUCTURE_DEFINITION}/fc-consent-given-by"
INTERPRETER_URL = f"{STRUCTURE_DEFINITION}/fc-consent-interpreter"
WITNESS_URL = f"{STRUCTURE_DEFINITION}/fc-consent-witness"
FREE_CHOICE_URL = f"{STRUCTURE_DEFINITION}/fc-consent-free-choice"
SIGNATURE_URL = f"{STRUCTURE_DEFINITION}/fc-consent-signature"
SIGNATURE_METHOD_URL = f"{STRUCTURE_DEFINITION}/fc-consent-signature-method"
TAKEN_BY_URL = f"{STRUCTURE_DEFINITION}/fc-consent-taken-by"
REPLACES_URL = f"{STRUCTURE_DEFINITION}/fc-consent-replaces"
WITHDRAWAL_URL = f"{STRUCTURE_DEFINITION}/fc-consent-withdrawal"
SHA256_URL = f"{STRUCTURE_DEFINITION}/fc-sha256"
PROXY_RELATIONSHIP_SYSTEM = f"{CODE_SYSTEM}/proxy-relationship"
WITHDRAWAL_METHOD_SYSTEM = f"{CODE_SYSTEM}/consent-withdrawal-method"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
CATEGORY_DISPLAY = {"59284-0": "Patient Consent", "64292-6": "Release of information consent"}

# How the person consenting signed: drawing on the screen (the default), or typing
# her full name in front of a named witness who confirms it (fc-consent-signature-method).
DRAWN = "drawn"
TYPED_WITNESSED = "typed-witnessed"
SIGNATURE_METHODS = {
    DRAWN: "signature drawn on the screen",
    TYPED_WITNESSED: "full name typed by the person consenting, confirmed by a named witness",
}

WITHDRAWAL_METHODS = {
    "in-person": N_("in person"),
    "phone-verified": N_("by phone, identity verified"),
    "written": N_("in writing"),
}


@dataclass(frozen=True)
class GivenBy:
    """Who consents: the survivor, or a proxy (relationship, name, why)."""

    proxy_relationship: str | None = None
    proxy_name: str | None = None
    proxy_reason: str | None = None

    @property
    def is_proxy(self) -> bool:
        return self.proxy_relationship is not None


@dataclass(frozen=True)
class Answers:
    """A completed form: one explicit answer per asked item, and its circumstances."""

    agreed: dict[str, bool]  # item id -> agreed (True) or declined (False)
    person_names: dict[str, str]  # item id -> the person she names (asks person-name)
    language: str
    given_by: GivenBy
    interpreter: str | None
    witness: str | None
    free_choice: bool
    signature_png: bytes
    police_force: tuple[str, str] | None = None  # (Organization id, name)
    until: datetime | None = None  # end of the permission, UTC
    never_share_organizations: tuple[tuple[str, str], ...] = ()  # (id, name)
    never_share_people: tuple[str, ...] = ()
    # The language she asked for, when the form lacks it and was read in `language`.
    requested_language: str | None = None
    # How she signed: DRAWN (signature_png) or TYPED_WITNESSED (typed_name, confirmed
    # by signature_witness, a named person present).
    signature_method: str = DRAWN
    typed_name: str | None = None
    signature_witness: str | None = None
    # The staff member who took the consent: (display name, role code).
    taken_by: tuple[str, str] | None = None


@dataclass(frozen=True)
class Withdrawal:
    """Who withdrew what, how, and when."""

    method: str  # WITHDRAWAL_METHODS
    by: str  # the survivor or her proxy, in words
    items: tuple[str, ...]  # the items withdrawn; empty only with `everything`
    at: datetime
    note: str | None = None
    verified: bool = False  # by phone: her identity was checked
    everything: bool = False  # the whole consent, chosen explicitly


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _attachment_hashes(data: bytes) -> dict[str, Any]:
    """Attachment.hash is SHA-1 (base64) in R4; the SHA-256 rides in fc-sha256."""
    return {
        "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode(),
        "extension": [{"url": SHA256_URL, "valueString": hashlib.sha256(data).hexdigest()}],
    }


def _actor(item: Item, agreed: bool, form_answers: Answers, site_id: str) -> dict[str, Any]:
    kind = item.mapping.recipient
    role = {"coding": [_coding(RECIPIENT_SYSTEM, kind, coding_display(RECIPIENTS[kind]))]}
    if kind in ("case-examiner", "counselling-service"):
        reference: dict[str, Any] = {"reference": f"Organization/{site_id}"}
    elif kind == "police" and form_answers.police_force is not None:
        force_id, force_name = form_answers.police_force
        reference = {"reference": f"Organization/{force_id}", "display": force_name}
    elif agreed and (form_answers.person_names.get(item.id) or "").strip():
        # The person she names is recorded only when she agrees; a decline names no one.
        reference = {"display": form_answers.person_names[item.id].strip()}
    else:
        reference = {"display": RECIPIENTS[kind]}
    return {"role": role, "reference": reference}


def _provision(
    item: Item,
    agreed: bool,
    form: FormVersion,
    answers: Answers,
    site_id: str,
    period: dict[str, str] | None,
) -> dict[str, Any]:
    mapping = item.mapping
    provision: dict[str, Any] = {
        "extension": [
            {
                "url": ITEM_URL,
                "valueCoding": _coding(item_system(form.form), item.id, item.text["en"]),
            }
        ],
        "type": "permit" if agreed else "deny",
        "actor": [_actor(item, agreed, answers, site_id)],
        "action": [
            {
                "coding": [
                    _coding(ACTIONS[mapping.action][0], mapping.action, ACTIONS[mapping.action][1])
                ]
            }
        ],
        "purpose": [_coding(PURPOSE_SYSTEM, mapping.purpose, PURPOSES[mapping.purpose])],
    }
    if period:
        provision["period"] = period
    if mapping.labels:
        provision["securityLabel"] = [
            _coding(label.split("|", 1)[0], label.split("|", 1)[1], LABELS[label])
            for label in mapping.labels
        ]
    if mapping.classes:
        provision["class"] = [
            _coding(DATA_CLASS_SYSTEM, code, coding_display(DATA_CLASSES[code]))
            for code in mapping.classes
        ]
    if mapping.codes:
        provision["code"] = [
            {"coding": [_coding(EXAM_PART_SYSTEM, code, coding_display(EXAM_PARTS[code]))]}
            for code in mapping.codes
        ]
    return provision


def _never_share(form: FormVersion, reference: dict[str, Any]) -> dict[str, Any]:
    return {
        "extension": [
            {
                "url": ITEM_URL,
                "valueCoding": _coding(item_system(form.form), NEVER_SHARE, NEVER_SHARE_DISPLAY),
            }
        ],
        "type": "deny",
        "actor": [
            {
                "role": {
                    "coding": [
                        _coding(RECIPIENT_SYSTEM, ANYONE, coding_display(RECIPIENTS[ANYONE]))
                    ]
                },
                "reference": reference,
            }
        ],
    }


def build_consent(
    form: FormVersion,
    answers: Answers,
    *,
    patient_id: str,
    site_id: str,
    now: datetime,
    replaces: str | None = None,
    withdrawal: Withdrawal | None = None,
    signature: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Consent for a completed form (answers already checked by the service).
    A partial withdrawal passes the replaced Consent's signature through."""
    period = None
    if "until" in form.asks and answers.until is not None:
        period = {"start": isoformat(now), "end": isoformat(answers.until)}
    provisions: list[dict[str, Any]] = []
    for item in form.items:
        if item.within is not None or item.id not in answers.agreed:
            continue
        agreed = answers.agreed[item.id]
        provision = _provision(item, agreed, form, answers, site_id, period)
        if agreed:
            nested = [
                _provision(child, answers.agreed[child.id], form, answers, site_id, None)
                for child in form.children(item.id)
                if child.id in answers.agreed
            ]
            if nested:
                provision["provision"] = nested
        provisions.append(provision)
    for organization_id, name in answers.never_share_organizations:
        provisions.append(
            _never_share(form, {"reference": f"Organization/{organization_id}", "display": name})
        )
    for person in answers.never_share_people:
        provisions.append(_never_share(form, {"display": person}))

    extensions: list[dict[str, Any]] = []
    given_by: list[dict[str, Any]] = [
        {"url": "by", "valueCode": "proxy" if answers.given_by.is_proxy else "survivor"}
    ]
    if answers.given_by.is_proxy:
        relationship = answers.given_by.proxy_relationship or "other"
        given_by.append(
            {"url": "relationship", "valueCoding": _coding(PROXY_RELATIONSHIP_SYSTEM, relationship)}
        )
        if answers.given_by.proxy_name:
            given_by.append({"url": "name", "valueString": answers.given_by.proxy_name})
        given_by.append({"url": "reason", "valueString": answers.given_by.proxy_reason or ""})
    extensions.append({"url": GIVEN_BY_URL, "extension": given_by})
    if answers.interpreter:
        extensions.append({"url": INTERPRETER_URL, "valueString": answers.interpreter})
    if answers.witness:
        extensions.append({"url": WITNESS_URL, "valueString": answers.witness})
    extensions.append({"url": FREE_CHOICE_URL, "valueBoolean": answers.free_choice})
    if signature is None and answers.signature_png and answers.signature_method == DRAWN:
        signature = {
            "url": SIGNATURE_URL,
            "valueAttachment": {
                "contentType": "image/png",
                "data": base64.b64encode(answers.signature_png).decode(),
                "size": len(answers.signature_png),
                **_attachment_hashes(answers.signature_png),
                "title": "Signature",
            },
        }
    if signature is not None:
        extensions.append(signature)
    extensions.append(signature_method_extension(answers))
    if answers.taken_by is not None:
        name, role = answers.taken_by
        extensions.append(
            {
                "url": TAKEN_BY_URL,
                "extension": [
                    {"url": "name", "valueString": name},
                    {"url": "role", "valueCode": role},
                ],
            }
        )
    if replaces:
        extensions.append(
            {"url": REPLACES_URL, "valueReference": {"reference": f"Consent/{replaces}"}}
        )
    if withdrawal is not None:
        extensions.append(withdrawal_extension(withdrawal))

    performer = (
        {
            "display": f"{answers.given_by.proxy_name or 'Proxy'} ({answers.given_by.proxy_relationship})"
        }
        if answers.given_by.is_proxy
        else {"reference": f"Patient/{patient_id}"}
    )
    source = form.path.read_bytes()
    return {
        "resourceType": "Consent",
        "meta": {
            "profile": [PROFILE],
            "security": [
                {"system": system, "code": code}
                for system, code in (SEXUAL_VIOLENCE_LABEL, RESTRICTED_LABEL)
            ],
        },
        "language": answers.language,
        "extension": extensions,
        "status": "active",
        "scope": {"coding": [_coding(CONSENT_SCOPE_SYSTEM, form.scope)]},
        "category": [
            {"coding": [_coding(LOINC, form.category, CATEGORY_DISPLAY.get(form.category))]},
            {"coding": [_coding(CONSENT_FORM_SYSTEM, form.form, form.title["en"])]},
        ],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": isoformat(now),
        "performer": [performer],
        "organization": [{"reference": f"Organization/{site_id}"}],
        "sourceAttachment": {
            "contentType": "application/toml",
            "url": form.url,
            "title": f"{form.title['en']}, version {form.version} ({answers.language})",
            "size": len(source),
            **_attachment_hashes(source),
        },
        "policyRule": {"coding": [_coding(ACT_CODE, "OPTIN", "opt-in")]},
        "provision": {"provision": provisions},
    }


def signature_method_extension(answers: Answers) -> dict[str, Any]:
    """How she signed: drawn, or her typed name confirmed by a named witness."""
    parts: list[dict[str, Any]] = [
        {
            "url": "method",
            "valueCode": TYPED_WITNESSED if answers.signature_method == TYPED_WITNESSED else DRAWN,
        }
    ]
    if answers.signature_method == TYPED_WITNESSED:
        parts.append({"url": "name", "valueString": (answers.typed_name or "").strip()})
        parts.append({"url": "witness", "valueString": (answers.signature_witness or "").strip()})
    return {"url": SIGNATURE_METHOD_URL, "extension": parts}


def withdrawal_extension(withdrawal: Withdrawal) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "date", "valueDateTime": isoformat(withdrawal.at)},
        {
            "url": "method",
            "valueCoding": _coding(
                WITHDRAWAL_METHOD_SYSTEM, withdrawal.method, WITHDRAWAL_METHODS[withdrawal.method]
            ),
        },
        {"url": "by", "valueString": withdrawal.by},
    ]
    if withdrawal.method == "phone-verified":
        parts.append({"url": "verified", "valueBoolean": withdrawal.verified})
    parts.extend({"url": "item", "valueCode": item} for item in withdrawal.items)
    if withdrawal.note:
        parts.append({"url": "note", "valueString": withdrawal.note})
    return {"url": WITHDRAWAL_URL, "extension": parts}


# -- reading a Consent back -------------------------------------------------------


def form_key_of(consent: dict[str, Any]) -> str:
    """`form/vN` from the Consent's sourceAttachment.url."""
    url = consent["sourceAttachment"]["url"]
    form, version = url.rstrip("/").split("/")[-2:]
    return f"{form}/{version}"


def item_of(provision: dict[str, Any]) -> str:
    for extension in provision.get("extension", []):
        if extension.get("url") == ITEM_URL:
            return str(extension["valueCoding"]["code"])
    return ""


def extension_value(resource: dict[str, Any], url: str) -> Any:
    for extension in resource.get("extension", []):
        if extension.get("url") == url:
            if "extension" in extension:
                return extension
            return next(v for k, v in extension.items() if k.startswith("value"))
    return None


def parts_of(extension: dict[str, Any] | None) -> dict[str, list[Any]]:
    parts: dict[str, list[Any]] = {}
    for part in (extension or {}).get("extension", []):
        value = next(v for k, v in part.items() if k.startswith("value"))
        parts.setdefault(part["url"], []).append(value)
    return parts


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _read_provision(node: dict[str, Any]) -> Provision:
    recipients = set()
    for actor in node.get("actor", []):
        kind = actor["role"]["coding"][0]["code"]
        reference = actor.get("reference", {})
        literal = reference.get("reference")
        # A name alone identifies no account, so it matches no one who asks.
        recipients.add(Recipient(kind, literal or f"#{reference.get('display', '')}"))
    period = node.get("period", {})
    return Provision(
        verdict=Verdict(node.get("type", "deny")),
        item=item_of(node),
        recipients=frozenset(recipients),
        actions=frozenset(c["code"] for a in node.get("action", []) for c in a.get("coding", [])),
        purposes=frozenset(c["code"] for c in node.get("purpose", [])),
        classes=frozenset(c["code"] for c in node.get("class", [])),
        codes=frozenset(c["code"] for cc in node.get("code", []) for c in cc.get("coding", [])),
        labels=frozenset(f"{c['system']}|{c['code']}" for c in node.get("securityLabel", [])),
        period=Period(_moment(period.get("start")), _moment(period.get("end"))),
        children=tuple(_read_provision(child) for child in node.get("provision", [])),
    )


def directive_of(consent_id: str, consent: dict[str, Any]) -> Directive:
    root = consent.get("provision", {})
    period = root.get("period", {})
    return Directive(
        consent_id=consent_id,
        form=form_key_of(consent),
        active=consent.get("status") == "active",
        provisions=tuple(_read_provision(node) for node in root.get("provision", [])),
        period=Period(_moment(period.get("start")), _moment(period.get("end"))),
    )


def answers_of(consent: dict[str, Any]) -> dict[str, str]:
    """item id -> "permit" or "deny", for every item the Consent records."""
    found: dict[str, str] = {}

    def walk(nodes: Sequence[dict[str, Any]]) -> None:
        for node in nodes:
            item = item_of(node)
            if item and not is_never_share(item):
                found[item] = node.get("type", "deny")
            walk(node.get("provision", []))

    walk(consent.get("provision", {}).get("provision", []))
    return found
