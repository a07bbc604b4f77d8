"""The CapabilityStatement, generated from what is actually registered: the
supported types, their interactions, search parameters and profiles."""

from __future__ import annotations

from typing import Any

from flask import Flask

from clinic.fhir.canonical import CANONICAL_BASE
from clinic.fhir.handlers import TableHandler, handlers_of, operations_of
from clinic.fhir.package import IMPLEMENTATION_GUIDE_URL
from clinic.fhir.search_params import SearchParam, params_for
from clinic.fhir.services import STORED_TYPES, WRITABLE_TYPES

SOFTWARE_VERSION = "0.1.0"
_READ_INTERACTIONS = ["read", "vread", "history-instance", "history-type", "search-type"]


# What a resource's interactions cannot say: who may use which, and how.
_DOCUMENTATION = {
    "CarePlan": (
        "Her follow-up plan (fc-care-plan), written only by the follow-up screens: "
        "proposed at the exam's sign-off and agreed with her, then carried by the "
        "counsellors of her site. Examiners and counsellors of her site only; never "
        "released."
    ),
    "Appointment": (
        "Appointments for items of her follow-up plan (fc-appointment): booked, "
        "fulfilled (attended), noshow (missed) or cancelled. Written only by the "
        "follow-up screens; the same readers as the plan."
    ),
    "Communication": (
        "Attempts to contact her for follow-up (fc-contact-attempt), only by a channel "
        "she allowed; no payload: the system sends nothing. The same readers as the plan."
    ),
    "DocumentReference": (
        "Counselling notes (fc-counselling-note): therapeutic records, for the "
        "counsellors of her site only; examiners are refused the kind (403), police "
        "and other sites find nothing; never released."
    ),
    "RiskAssessment": (
        "Safety assessments for intimate-partner cases (fc-safety-assessment): the "
        "risk (high or not high) from her checklist answers, whose QuestionnaireResponse "
        "is the basis. Written only by the safety screen; counsellors and examiners of "
        "her site read; police and other sites find nothing; never released."
    ),
    "QuestionnaireResponse": (
        "Her answers to the safety checklist (fc-safety-answers): yes, no or not asked "
        "for every question; answers carried over from her exam say so. The same "
        "readers as the assessment."
    ),
    "Flag": (
        "A high-risk case flagged to the care team (fc-safety-flag): active while her "
        "latest safety assessment is high. The same readers as the assessment."
    ),
    "Specimen": (
        "Evidence kits and items (fc-evidence-specimen), written only by evidence "
        "collection. Evidence custodians may search by identifier only (the printed "
        "label: Specimen?identifier=value, system|value or several separated by "
        "commas), for the items of their own site, and receive each Specimen without "
        "clinical detail (no body site, collector, note or narrative); any other "
        "Specimen search or read by a custodian is refused (403). A label of another "
        "site is answered exactly like one that does not exist."
    ),
    "Media": (
        "Forensic photographs (fc-photo), written only by the exam's photographs step; "
        "read-only here. Each Media describes the original exactly as taken (type, size, "
        "SHA-1 in content.hash, SHA-256 in fc-sha256) and never carries its bytes. "
        "Examiners of her site read them as her photo consent allows; intimate images "
        "(label V) only when her photo consent permits the examiners of her case to view "
        "them. Counsellors, custodians and police never receive a Media, whatever a "
        "Consent says; a photo they may not see is answered as one that does not exist."
    ),
}


def _search_param(param: SearchParam) -> dict[str, Any]:
    declared = {"name": param.name, "type": param.type, "documentation": param.documentation}
    if param.definition:  # _since has no SearchParameter of its own
        declared["definition"] = param.definition
    return declared


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    return [_search_param(p) for p in params_for(resource_type).values()]


def _add_handler(resources: list[dict[str, Any]], handler: TableHandler) -> None:
    params = [_search_param(p) for p in handler.params]
    served = next((r for r in resources if r["type"] == handler.resource_type), None)
    if served is None:
        resources.append(
            {
                "type": handler.resource_type,
                "profile": handler.profile,
                **(
                    {"supportedProfile": list(handler.supported_profiles)}
                    if handler.supported_profiles
                    else {}
                ),
                "documentation": handler.documentation,
                "interaction": [{"code": code} for code in handler.interactions],
                "versioning": handler.versioning,
                "readHistory": False,
                "updateCreate": False,
                "searchParam": params,
            }
        )
        return
    # A type served two ways (Task: release requests and referral status;
    # Organization: the store's and the partner organisations).
    served["documentation"] = " ".join(
        filter(None, (served.get("documentation"), handler.documentation))
    )
    served["searchParam"] = served["searchParam"] + params
    codes = [i["code"] for i in served["interaction"]]
    served["interaction"] += [{"code": c} for c in handler.interactions if c not in codes]
    for profile in (*handler.supported_profiles, handler.profile):
        if profile != served["profile"] and profile not in served.get("supportedProfile", []):
            served["supportedProfile"] = [*served.get("supportedProfile", []), profile]


def capability_statement(app: Flask, base_url: str) -> dict[str, Any]:
    registry = app.extensions["clinic.profiles"]
    resources: list[dict[str, Any]] = []
    for resource_type in STORED_TYPES:
        interactions = list(_READ_INTERACTIONS)
        if resource_type in WRITABLE_TYPES:
            interactions += ["create", "update"]
        resources.append(
            {
                "type": resource_type,
                "profile": registry.default_profiles[resource_type],
                **(
                    {"supportedProfile": registry.specialisations(resource_type)}
                    if registry.specialisations(resource_type)
                    else {}
                ),
                "interaction": [{"code": code} for code in interactions],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": False,
                "conditionalCreate": False,
                "conditionalRead": "not-supported",
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "searchParam": _search_params(resource_type),
                **(
                    {"documentation": _DOCUMENTATION[resource_type]}
                    if resource_type in _DOCUMENTATION
                    else {}
                ),
            }
        )
    for handlers in handlers_of(app).values():
        for handler in handlers:
            _add_handler(resources, handler)
    for (resource_type, name), operation in operations_of(app).items():
        served = next(r for r in resources if r["type"] == resource_type)
        served.setdefault("operation", []).append(
            {
                "name": name,
                "definition": operation.definition,
                "documentation": operation.documentation,
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-24",
        "publisher": "Forensic care clinic project",
        "kind": "instance",
        "software": {"name": "clinic", "version": SOFTWARE_VERSION},
        "implementation": {
            "description": "Sexual assault medical-forensic examination records",
            "url": base_url,
        },
        "fhirVersion": "4.3.0",
        "format": ["application/fhir+json", "json"],
        # Every definition it enforces and serves, as a FHIR package (docs/fhir-api.md).
        "implementationGuide": [IMPLEMENTATION_GUIDE_URL],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Bearer tokens only. Every read and search is filtered by the clinic's access "
                    "policy: a record you may not see is answered exactly like one that does not "
                    "exist, and searches carry no total. Paging uses opaque _cursor links. "
                    f"Profiles: {CANONICAL_BASE}/StructureDefinition/; every definition, "
                    "with snapshots and examples, as a FHIR package (no token needed): "
                    f"{base_url}/package.tgz."
                ),
                "security": {
                    "cors": False,
                    "description": "Authorization: Bearer <token>; tokens are created in the UI or with `clinic tokens create`, expire, and can be revoked.",
                },
                "resource": resources,
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "POST and PUT entries; all or nothing.",
                    }
                ],
                "operation": [
                    {
                        "name": "log-consistency",
                        "definition": f"{CANONICAL_BASE}/OperationDefinition/log-consistency",
                        "documentation": (
                            "GET $log-consistency?log=custody|audit&old=M[&new=N]: the RFC 9162 "
                            "consistency proof between two sizes of a log, with the signed "
                            "checkpoints at those sizes (clinic-verify consistency)."
                        ),
                    }
                ],
            }
        ],
    }
