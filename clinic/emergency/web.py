"""Wiring break-glass into requests: the signed-in examiner's live grants join the
actor (clinic.core.web), each record the decision point opens under a grant is
noted as it is decided, and before the request's transaction commits the records
are listed on their grant and audited (clinic.emergency.services.record_reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, has_request_context
from flask_babel import gettext as _

from clinic.access.policy import (
    BREAK_GLASS,
    DECISION_LISTENERS,
    Action,
    Actor,
    Decision,
    EmergencyAccess,
)
from clinic.access.policy import ResourceFacts as Facts

_READS_KEY = "break_glass_reads"


def _note_read(
    actor: Actor, action: Action, kind: str, resource: Facts | None, decision: Decision
) -> None:
    if not decision.permitted or BREAK_GLASS not in decision.obligations or resource is None:
        return
    if not has_request_context():
        return
    grant = decision.reasons[0].split(" ")[2] if decision.reasons else ""
    reads: list[tuple[str, str]] = g.setdefault(_READS_KEY, [])
    reads.append((grant, f"{kind}/{resource.logical_id}"))


def _record(response: Response) -> Response:
    reads = g.pop(_READS_KEY, None)
    uow = g.get("uow")
    actor = g.get("actor")
    if reads and uow is not None and actor is not None and response.status_code < 400:
        from clinic.emergency.services import record_reads

        record_reads(uow, actor, reads)
    return response


@dataclass(frozen=True)
class CaseFlag:
    """What the case page shows: the reader's live grant on it, and how many
    break-glass accesses the case has had."""

    active: EmergencyAccess | None
    count: int


def _case_flag(case_id: str, subject: str) -> CaseFlag:
    from clinic.emergency.services import active_grant, case_break_glass_count

    actor = g.get("actor")
    active = active_grant(actor, subject) if actor is not None else None
    return CaseFlag(active, case_break_glass_count(g.uow, case_id))


def _outcome_labels() -> dict[str, str]:
    return {
        "justified": _("Justified"),
        "not-justified": _("Not justified"),
        "referred": _("Referred for further action"),
    }


def init_emergency(app: Flask) -> None:
    """After init_web: Flask runs after-request functions last-registered first, so
    the reads are recorded before the request's transaction commits."""
    if _note_read not in DECISION_LISTENERS:
        DECISION_LISTENERS.append(_note_read)
    app.after_request(_record)

    @app.context_processor
    def break_glass_context() -> dict[str, Any]:
        return {"break_glass_flag": _case_flag, "break_glass_outcomes": _outcome_labels}
