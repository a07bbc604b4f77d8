"""A release request as the FHIR Task the force filed and reads back.

What the force sees depends only on what it sent and on decisions it is entitled
to know: "awaiting survivor decision" until a release is approved, whatever the
reference it cited; then approved; then, if she narrows her consent, "narrowed on" its date (what is
still released, never what was removed); if she withdraws, the date of the
withdrawal without any content (promise 4).
"""

from __future__ import annotations

from typing import Any

from clinic.accounts.models import Organization
from clinic.core.clock import isoformat
from clinic.fhir.canonical import CODE_SYSTEM, NAMING_SYSTEM, STRUCTURE_DEFINITION
from clinic.fhir.outcome import FhirError
from clinic.release.models import ReleaseRequest, RequestStatus
from clinic.release.services import AWAITING_TEXT, REQUESTABLE

PROFILE = f"{STRUCTURE_DEFINITION}/fc-release-request"
REQUEST_IDENTIFIER = f"{NAMING_SYSTEM}/release-request"
TASK_CODE = f"{CODE_SYSTEM}/release-task"
RELEASE_STATUS = f"{CODE_SYSTEM}/release-status"
RELEASE_INPUT = f"{CODE_SYSTEM}/release-input"
RELEASE_ITEM = f"{CODE_SYSTEM}/release-item"

NARROWED = "narrowed"  # an approved release she narrowed since (shown with its date)
_STATUS = {
    RequestStatus.AWAITING: ("requested", AWAITING_TEXT),
    RequestStatus.APPROVED: ("ready", "approved: the release can be downloaded"),
    RequestStatus.WITHDRAWN: ("cancelled", "consent withdrawn"),
}


def request_task(request: ReleaseRequest, force: Organization) -> dict[str, Any]:
    status, text = _STATUS[RequestStatus(request.status)]
    code = request.status
    if request.status == RequestStatus.WITHDRAWN and request.withdrawn_at is not None:
        text = f"consent withdrawn on {request.withdrawn_at.date().isoformat()}"
    elif request.status == RequestStatus.APPROVED and request.narrowed_at is not None:
        # The date only: never what the narrowing removed.
        code = NARROWED
        text = (
            f"narrowed on {request.narrowed_at.date().isoformat()}: the release can be downloaded"
        )
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": request.id,
        "meta": {"profile": [PROFILE]},
        "identifier": [{"system": REQUEST_IDENTIFIER, "value": request.id}],
        "status": status,
        "businessStatus": {
            "coding": [{"system": RELEASE_STATUS, "code": code}],
            "text": text,
        },
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "release-request"}]},
        "authoredOn": isoformat(request.filed_at),
        "requester": {"reference": f"Organization/{force.id}", "display": force.name},
        "input": [
            {
                "type": {"coding": [{"system": RELEASE_INPUT, "code": "cited-reference"}]},
                "valueString": request.cited_reference,
            },
            {
                "type": {"coding": [{"system": RELEASE_INPUT, "code": "crime-reference"}]},
                "valueString": request.crime_reference,
            },
            *(
                {
                    "type": {"coding": [{"system": RELEASE_INPUT, "code": "requested"}]},
                    "valueCodeableConcept": {
                        "coding": [
                            {"system": RELEASE_ITEM, "code": code, "display": REQUESTABLE[code]}
                        ]
                    },
                }
                for code in request.requested
            ),
        ],
    }
    if request.decided_at is not None and request.status != RequestStatus.AWAITING:
        task["lastModified"] = isoformat(
            request.withdrawn_at
            or max(request.decided_at, request.narrowed_at or request.decided_at)
        )
    return task


def read_filed_task(data: Any) -> tuple[str, str, list[str]]:
    """(cited reference, crime reference, requested items) from a Task a force POSTs;
    a clear OperationOutcome for anything else."""
    if not isinstance(data, dict) or data.get("resourceType") != "Task":
        raise FhirError.single(400, "structure", "the body is not a Task")
    code = {(c.get("system"), c.get("code")) for c in (data.get("code") or {}).get("coding", [])}
    if (TASK_CODE, "release-request") not in code:
        raise FhirError.single(
            422, "value", f"Task.code must be {TASK_CODE}|release-request", "Task.code"
        )
    cited, crime, requested = "", "", []
    for entry in data.get("input") or []:
        kinds = {c.get("code") for c in (entry.get("type") or {}).get("coding", [])}
        if "cited-reference" in kinds:
            cited = str(entry.get("valueString") or "")
        elif "crime-reference" in kinds:
            crime = str(entry.get("valueString") or "")
        elif "requested" in kinds:
            for coding in (entry.get("valueCodeableConcept") or {}).get("coding", []):
                requested.append(str(coding.get("code")))
    return cited, crime, requested
