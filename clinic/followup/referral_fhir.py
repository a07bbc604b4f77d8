"""Referrals and the partner directory as FHIR, served by the API from their tables
(docs/fhir-api.md): a referral is a `ServiceRequest` (profile fc-referral), a
partner service a `HealthcareService` (profile fc-partner-service), the organisation
that runs it an `Organization` (profile fc-partner-organization, an id beginning
`partner-`; every other Organization is the versioned store's).

Every read goes through the referral and directory services, which ask the decision
point (referrals: counsellors and examiners of her site; the directory: staff of
that site; police and custodians nothing) and are audited here, one record per read
or search naming what was handed out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.access import Action, decide, require
from clinic.audit.services import EventKind
from clinic.consent.book import consent_book
from clinic.core.clock import isoformat
from clinic.fhir.canonical import (
    CODE_SYSTEM,
    CONFIDENTIALITY,
    ORGANIZATION_CODE_SYSTEM,
    SEXUAL_VIOLENCE_LABEL,
    STRUCTURE_DEFINITION,
)
from clinic.fhir.handlers import Resource, TableHandler, register
from clinic.fhir.outcome import FhirError, not_found
from clinic.fhir.search_params import HL7_SP, SearchParam
from clinic.followup import directory, referrals
from clinic.followup.models import FollowUpPlan
from clinic.followup.referral_models import PartnerService, Referral
from clinic.followup.terms import ITEM_SYSTEM, REFERRAL_STATUS, SERVICE_KIND_SYSTEM, SERVICE_KINDS

REFERRAL_PROFILE = f"{STRUCTURE_DEFINITION}/fc-referral"
PARTNER_SERVICE_PROFILE = f"{STRUCTURE_DEFINITION}/fc-partner-service"
PARTNER_ORGANIZATION_PROFILE = f"{STRUCTURE_DEFINITION}/fc-partner-organization"
# Her referral's own status (sent, accepted, declined, attended, closed) as the
# request's status: what the partner did is in the words of `note`.
REQUEST_STATUS = {
    "sent": "active",
    "accepted": "active",
    "attended": "completed",
    "closed": "completed",
    "declined": "revoked",
}


def _kind(kind: str) -> dict[str, Any]:
    return {
        "coding": [{"system": SERVICE_KIND_SYSTEM, "code": kind, "display": SERVICE_KINDS[kind]}]
    }


def referral_resource(referral: Referral, plan: FollowUpPlan, service: PartnerService) -> Resource:
    """A referral as fc-referral: to whom, for whom, from which plan, where it stands."""
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": referral.id,
        "meta": {
            "profile": [REFERRAL_PROFILE],
            "lastUpdated": isoformat(referral.changed_at or referral.made_at),
            "security": [
                {"system": SEXUAL_VIOLENCE_LABEL[0], "code": SEXUAL_VIOLENCE_LABEL[1]},
                {"system": CONFIDENTIALITY, "code": "R"},
            ],
        },
        "status": REQUEST_STATUS[referral.status],
        "intent": "order",
        "category": [_kind(service.kind)],
        "code": {"text": f"Referral: {SERVICE_KINDS[service.kind]}"},
        "subject": {"reference": f"Patient/{plan.patient_id}"},
        "basedOn": [{"reference": f"CarePlan/{plan.id}"}],
        "authoredOn": isoformat(referral.made_at),
        "requester": {"display": referral.made_by},
        "performer": [{"reference": f"HealthcareService/{service.id}", "display": service.name}],
        "note": [{"text": f"Referral {REFERRAL_STATUS[referral.status].lower()}."}],
    }
    if referral.outcome:
        resource["note"].append({"text": referral.outcome})
    return resource


def partner_service_resource(service: PartnerService) -> Resource:
    """A partner service as fc-partner-service: kind, name, organisation, how to
    reach them, the languages they work in and whom they accept."""
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", service.phone), ("email", service.email))
        if value
    ]
    resource: Resource = {
        "resourceType": "HealthcareService",
        "id": service.id,
        "meta": {"profile": [PARTNER_SERVICE_PROFILE]},
        "active": service.active,
        "providedBy": {
            "reference": f"Organization/{directory.organisation_id(service)}",
            "display": service.organisation,
        },
        "type": [_kind(service.kind)],
        "name": service.name,
        "communication": [
            {"coding": [{"system": "urn:ietf:bcp:47", "code": code}]}
            for code in service.languages.split()
        ],
    }
    if telecom:
        resource["telecom"] = telecom
    if service.address:
        resource["extraDetails"] = f"Address: {service.address}"
    if service.accepts:
        resource["eligibility"] = [{"comment": service.accepts}]
    return resource


def partner_organization_resource(services: Sequence[PartnerService]) -> Resource:
    """The organisation that runs `services` (one organisation of one site) as
    fc-partner-organization: its name and every way to reach its services."""
    first = services[0]
    telecom: list[dict[str, str]] = []
    addresses: list[dict[str, str]] = []
    for service in services:
        for system, value in (("phone", service.phone), ("email", service.email)):
            if value and {"system": system, "value": value} not in telecom:
                telecom.append({"system": system, "value": value})
        if service.address and {"text": service.address} not in addresses:
            addresses.append({"text": service.address})
    organisation_id = directory.organisation_id(first)
    resource: Resource = {
        "resourceType": "Organization",
        "id": organisation_id,
        "meta": {"profile": [PARTNER_ORGANIZATION_PROFILE]},
        "identifier": [{"system": ORGANIZATION_CODE_SYSTEM, "value": organisation_id}],
        "active": any(service.active for service in services),
        "type": [
            {
                "coding": [
                    {
                        "system": f"{CODE_SYSTEM}/organization-kind",
                        "code": "other",
                        "display": "Other organisation",
                    }
                ]
            }
        ],
        "name": first.organisation,
    }
    if telecom:
        resource["telecom"] = telecom
    if addresses:
        resource["address"] = addresses
    return resource


# Her referral's status as the Task's: sent is requested, declined rejected, attended
# in progress (she is with the partner), closed completed.
TASK_STATUS = {
    "sent": "requested",
    "accepted": "accepted",
    "declined": "rejected",
    "attended": "in-progress",
    "closed": "completed",
}
REFERRAL_TASK_PROFILE = f"{STRUCTURE_DEFINITION}/fc-referral-task"
REFERRAL_IDENTIFIER = "https://forensic-care.org/fhir/referral"


def referral_task_resource(
    referral: Referral, plan: FollowUpPlan, service: PartnerService
) -> Resource:
    """Where her referral stands (fc-referral-task): the same id as the referral."""
    resource: Resource = {
        "resourceType": "Task",
        "id": referral.id,
        "meta": {
            "profile": [REFERRAL_TASK_PROFILE],
            "security": [
                {"system": SEXUAL_VIOLENCE_LABEL[0], "code": SEXUAL_VIOLENCE_LABEL[1]},
                {"system": CONFIDENTIALITY, "code": "R"},
            ],
        },
        "identifier": [{"system": REFERRAL_IDENTIFIER, "value": referral.id}],
        "status": TASK_STATUS[referral.status],
        "businessStatus": {"text": REFERRAL_STATUS[referral.status]},
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": ITEM_SYSTEM,
                    "code": "referral",
                    "display": "Referral to a partner service",
                }
            ]
        },
        "focus": {"reference": f"ServiceRequest/{referral.id}"},
        "for": {"reference": f"Patient/{plan.patient_id}"},
        "authoredOn": isoformat(referral.made_at),
        "lastModified": isoformat(referral.changed_at or referral.made_at),
        "owner": {"reference": f"HealthcareService/{service.id}", "display": service.name},
    }
    if referral.outcome:
        resource["output"] = [{"type": {"text": "Outcome"}, "valueString": referral.outcome}]
    return resource


# -- handlers --------------------------------------------------------------------------


def _read_referral(caller: Any, logical_id: str) -> Resource:
    return _read_mapped(caller, logical_id, referral_resource)


def _read_referral_task(caller: Any, logical_id: str) -> Resource:
    return _read_mapped(caller, logical_id, referral_task_resource)


def _read_mapped(caller: Any, logical_id: str, mapping: Any) -> Resource:
    kind = "ServiceRequest" if mapping is referral_resource else "Task"
    try:
        referral, plan, decision = referrals.referral_with_plan(
            caller.uow, actor=caller.actor, referral_id=logical_id, action=Action.READ
        )
    except referrals.ReferralNotFound as missing:
        caller.audit_miss(EventKind.READ, f"{kind}/{logical_id}", missing.decision)
        raise not_found(kind, logical_id) from None
    service = caller.uow.session.get(PartnerService, referral.service_id)
    caller.audit(EventKind.READ, entities=[f"{kind}/{referral.id}"], decision=decision)
    resource: Resource = mapping(referral, plan, service)
    return resource


def _one(args: Sequence[tuple[str, str]], allowed: tuple[str, ...]) -> dict[str, str]:
    given: dict[str, str] = {}
    for name, value in args:
        if name not in allowed:
            raise FhirError.single(
                400, "not-supported", f"search parameter {name} is not supported here", name
            )
        if name in given:
            raise FhirError.single(400, "invalid", f"{name} is given more than once", name)
        given[name] = value
    return given


def _search_referrals(caller: Any, args: Sequence[tuple[str, str]]) -> list[Resource]:
    given = _one(args, ("patient", "subject", "status"))
    return _search_mapped(
        caller, given, given.get("patient") or given.get("subject"), None, referral_resource
    )


def _search_referral_tasks(caller: Any, args: Sequence[tuple[str, str]]) -> list[Resource]:
    given = _one(args, ("focus", "patient", "status"))
    focus = given.get("focus", "").removeprefix("ServiceRequest/") or None
    return _search_mapped(caller, given, given.get("patient"), focus, referral_task_resource)


def _search_mapped(
    caller: Any,
    given: dict[str, str],
    patient: str | None,
    referral_id: str | None,
    mapping: Any,
) -> list[Resource]:
    kind = "ServiceRequest" if mapping is referral_resource else "Task"
    require(caller.actor, Action.SEARCH, "ServiceRequest")
    # Only the actor's site's referrals are even considered; each is then decided.
    query = (
        sa.select(Referral, FollowUpPlan)
        .join(FollowUpPlan, FollowUpPlan.id == Referral.plan_id)
        .where(Referral.site_id == caller.actor.organization_id)
        .order_by(Referral.made_at, Referral.id)
    )
    if patient:
        query = query.where(FollowUpPlan.patient_id == patient.removeprefix("Patient/"))
    if referral_id:
        query = query.where(Referral.id == referral_id)
    found: list[Resource] = []
    shown: list[str] = []
    consents = consent_book(caller.uow)
    for referral, plan in caller.uow.session.execute(query).all():
        if not decide(
            caller.actor,
            Action.READ,
            "ServiceRequest",
            referrals.referral_facts(referral, plan),
            consents=consents,
        ).permitted:
            continue
        service = caller.uow.session.get(PartnerService, referral.service_id)
        resource = mapping(referral, plan, service)
        if "status" in given and resource["status"] not in given["status"].split(","):
            continue
        found.append(resource)
        shown.append(f"{kind}/{referral.id}")
    caller.audit(
        EventKind.SEARCH,
        entities=shown,
        description="referrals",
        query=f"{kind}?" + "&".join(f"{k}={v}" for k, v in given.items()),
    )
    return found


def _read_service(caller: Any, logical_id: str) -> Resource:
    require(caller.actor, Action.READ, "HealthcareService")
    try:
        service = directory.read_service(caller.uow, actor=caller.actor, service_id=logical_id)
    except directory.ServiceNotFound as missing:
        caller.audit_miss(EventKind.READ, f"HealthcareService/{logical_id}", missing.decision)
        raise not_found("HealthcareService", logical_id) from None
    caller.audit(EventKind.READ, entities=[f"HealthcareService/{service.id}"])
    return partner_service_resource(service)


def _read_organisation(caller: Any, logical_id: str) -> Resource:
    # No refusal of the kind first: whoever may not read it (police, custodians,
    # other sites) gets what an unknown id gets, as the store's ids stay readable.
    try:
        services = directory.read_organisation(
            caller.uow, actor=caller.actor, organisation=logical_id
        )
    except directory.ServiceNotFound as missing:
        caller.audit_miss(EventKind.READ, f"Organization/{logical_id}", missing.decision)
        raise not_found("Organization", logical_id) from None
    caller.audit(
        EventKind.READ,
        entities=[f"Organization/{logical_id}"]
        + [f"HealthcareService/{service.id}" for service in services],
    )
    return partner_organization_resource(services)


def _search_services(caller: Any, args: Sequence[tuple[str, str]]) -> list[Resource]:
    given = _one(args, ("type", "active"))
    kinds = [value.rpartition("|")[2] for value in given.get("type", "").split(",") if value]
    # directory() asks the decision point for each entry and audits the search.
    entries = directory.directory(caller.uow, actor=caller.actor, channel=caller.channel)
    return [
        partner_service_resource(service)
        for service in entries
        if (not kinds or service.kind in kinds)
        and ("active" not in given or str(service.active).lower() == given["active"])
    ]


REFERRAL_PARAMS = (
    SearchParam(
        "patient",
        "reference",
        f"{HL7_SP}/clinical-patient",
        "Whose referrals: Patient/id or id.",
        target_types=("Patient",),
    ),
    SearchParam(
        "subject",
        "reference",
        f"{HL7_SP}/ServiceRequest-subject",
        "The same as patient.",
        target_types=("Patient",),
    ),
    SearchParam(
        "status",
        "token",
        f"{HL7_SP}/ServiceRequest-status",
        "active (sent or accepted), completed (attended or closed) or revoked (declined).",
    ),
)
TASK_PARAMS = (
    SearchParam(
        "focus",
        "reference",
        f"{HL7_SP}/Task-focus",
        "Referral status: the referral it is about, ServiceRequest/id or id.",
        target_types=("ServiceRequest",),
    ),
    SearchParam(
        "patient",
        "reference",
        f"{HL7_SP}/Task-patient",
        "Referral status: whose referrals, Patient/id or id.",
        target_types=("Patient",),
    ),
    SearchParam(
        "status",
        "token",
        f"{HL7_SP}/Task-status",
        "Referral status: requested (sent), accepted, rejected (declined), in-progress "
        "(attended) or completed (closed).",
    ),
)
SERVICE_PARAMS = (
    SearchParam(
        "type",
        "token",
        f"{HL7_SP}/HealthcareService-service-type",
        "The kind of partner service: partner-service-kind code, e.g. refuge.",
    ),
    SearchParam(
        "active",
        "token",
        f"{HL7_SP}/HealthcareService-active",
        "true: listed in the directory; false: taken off it.",
    ),
)


def register_handlers(app: Flask) -> None:
    register(
        app,
        TableHandler(
            "ServiceRequest",
            REFERRAL_PROFILE,
            "Her referrals to partner services (fc-referral), made in the follow-up screens: "
            "read by counsellors and examiners of her site; police, custodians and other "
            "sites find nothing; never released. Read and search only "
            "(no history: the referral's changes are in the audit trail).",
            REFERRAL_PARAMS,
            _read_referral,
            _search_referrals,
        ),
    )
    register(
        app,
        TableHandler(
            "Task",
            REFERRAL_TASK_PROFILE,
            "Where her referrals stand (fc-referral-task, one per referral, the referral's "
            "id): for counsellors and examiners of her site, who read and search them "
            "(focus, patient, status). Police, whose Tasks are release requests, never "
            "receive one.",
            TASK_PARAMS,
            _read_referral_task,
            _search_referral_tasks,
        ),
    )
    register(
        app,
        TableHandler(
            "HealthcareService",
            PARTNER_SERVICE_PROFILE,
            "The partner directory (fc-partner-service): each site's partner services, "
            "readable by the examiners and counsellors of that site and by administrators. "
            "Read and search only; kept by administrators in the admin screens.",
            SERVICE_PARAMS,
            _read_service,
            _search_services,
        ),
    )
    register(
        app,
        TableHandler(
            "Organization",
            PARTNER_ORGANIZATION_PROFILE,
            "Partner organisations (fc-partner-organization), the organisations that run "
            "the partner services: ids beginning partner-, reached from "
            "HealthcareService.providedBy. Read only, by the same readers as their "
            "services (staff of that site); they are not in Organization searches.",
            (),
            _read_organisation,
            None,
            owns=directory.is_organisation_id,
        ),
    )
