"""Filing release requests as a force does, through the FHIR API."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from clinic.release.fhir import RELEASE_INPUT, RELEASE_ITEM, TASK_CODE
from tests.helpers import api


def release_task(
    cited: str, crime: str = "RP/2026/1", requested: tuple[str, ...] = ("report",)
) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "release-request"}]},
        "input": [
            {
                "type": {"coding": [{"system": RELEASE_INPUT, "code": "cited-reference"}]},
                "valueString": cited,
            },
            {
                "type": {"coding": [{"system": RELEASE_INPUT, "code": "crime-reference"}]},
                "valueString": crime,
            },
            *(
                {
                    "type": {"coding": [{"system": RELEASE_INPUT, "code": "requested"}]},
                    "valueCodeableConcept": {"coding": [{"system": RELEASE_ITEM, "code": code}]},
                }
                for code in requested
            ),
        ],
    }


def file(client: FlaskClient, token: str, cited: str, **kwargs: Any) -> Any:
    return api(client, "POST", "/fhir/Task", token, release_task(cited, **kwargs))
