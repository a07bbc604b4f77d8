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
from clinic.fhir.canonical import CODE_SYSTEM, NAMING_SYSTEM, STRUCTURE_DEFINITION, coding_display
from clinic.fhir.outcome import FhirError
from clinic.release.models import ReleaseRequest, RequestStatus
from clinic.release.services import AWAITING_TEXT, RELEASE_ITEM, REQUESTABLE

PROFILE = f"{STRUCTURE_DEFINITION}/fc-release-request"
REQUEST_IDENTIFIER = f"{NAMING_SYSTEM}/release-request"
TASK_CODE = f"{CODE_SYSTEM}/release-task"
RELEASE_STATUS = f"{CODE_SYSTEM}/release-status"
RELEASE_INPUT = f"{CODE_SYSTEM}/release-input"

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
                            {
                                "system": RELEASE_ITEM,
                                "code": code,
                                "display": coding_display(REQUESTABLE[code]),
                            }
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
    a clear OperationOutcome for anything else, whatever shape it has."""
    if not isinstance(data, dict) or data.get("resourceType") != "Task":
        raise FhirError.single(400, "structure", "the body is not a Task")
    code = {
        (_text(c.get("system")), _text(c.get("code")))
        for c in _codings(data.get("code"), "Task.code")
    }
    if (TASK_CODE, "release-request") not in code:
        raise FhirError.single(
            422, "value", f"Task.code must be {TASK_CODE}|release-request", "Task.code"
        )
    inputs = data.get("input") or []
    if not isinstance(inputs, list):
        raise _not_shaped("Task.input", "an array")
    cited, crime, requested = "", "", []
    for index, entry in enumerate(inputs):
        where = f"Task.input[{index}]"
        if not isinstance(entry, dict):
            raise _not_shaped(where, "an object")
        kinds = {_text(c.get("code")) for c in _codings(entry.get("type"), f"{where}.type")}
        if "cited-reference" in kinds:
            cited = _string(entry.get("valueString"), f"{where}.valueString")
        elif "crime-reference" in kinds:
            crime = _string(entry.get("valueString"), f"{where}.valueString")
        elif "requested" in kinds:
            concept = f"{where}.valueCodeableConcept"
            for coding in _codings(entry.get("valueCodeableConcept"), concept):
                requested.append(str(coding.get("code")))
    return cited, crime, requested


def _codings(concept: Any, where: str) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept as sent, or a 400 naming where it is malformed."""
    if concept is None:
        return []
    if not isinstance(concept, dict):
        raise _not_shaped(where, "a CodeableConcept (an object)")
    codings = concept.get("coding") or []
    if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
        raise _not_shaped(f"{where}.coding", "an array of Coding objects")
    return codings


def _text(value: Any) -> str | None:
    """A system or code as sent: a string, or nothing that could match one."""
    return value if isinstance(value, str) else None


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _not_shaped(where, "a string")
    return value


def _not_shaped(where: str, shape: str) -> FhirError:
    return FhirError.single(400, "structure", f"{where} must be {shape}", where)
