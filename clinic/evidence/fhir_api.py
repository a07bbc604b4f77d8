"""`Specimen/{id}/$custody`, registered with the FHIR API's operations."""

from __future__ import annotations

from typing import Any

from flask import Flask

from clinic.evidence.services import EvidenceNotFound, custody_parameters
from clinic.fhir.canonical import CANONICAL_BASE
from clinic.fhir.handlers import Operation, Resource, register_operation
from clinic.fhir.outcome import not_found


def _custody(caller: Any, logical_id: str) -> Resource:
    """The item's chain of custody with inclusion proofs and the signed checkpoint."""
    try:
        return custody_parameters(caller.uow, actor=caller.actor, item_id=logical_id)
    except EvidenceNotFound as missing:
        raise not_found("Specimen", logical_id) from missing


def register_operations(app: Flask) -> None:
    register_operation(
        app,
        Operation(
            "Specimen",
            "custody",
            f"{CANONICAL_BASE}/OperationDefinition/Specimen-custody",
            "GET Specimen/{id}/$custody: the item's custody events as Task "
            "(fc-custody-task), each with its custody-log leaf and a c2sp.org/tlog-proof, "
            "and the newest signed checkpoint.",
            _custody,
        ),
    )
