"""What every template may use: the signed-in user, their role, and the menu."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from clinic.access import Action, decide
from clinic.access.roles import OrganizationKind, Role

# (endpoint, label, kind, action): shown when the decision point permits it.
MENU = (
    ("cases.cases", "Cases", "EpisodeOfCare", Action.SEARCH),
    # Counsellors carry the follow-up (they may update plans); examiners read plans.
    ("followup.caseload", "Caseload", "CarePlan", Action.UPDATE),
    ("evidence.items", "Evidence", "EvidenceItem", Action.SEARCH),
    ("release.incoming", "Police requests", "IncomingRequest", Action.SEARCH),
    ("release.requests", "Release requests", "ReleaseRequest", Action.SEARCH),
    ("admin.organizations", "Organisations", "Organization", Action.UPDATE),
    ("admin.users", "Users", "User", Action.SEARCH),
    ("referrals.partner_services", "Partner directory", "HealthcareService", Action.UPDATE),
    ("audit.events", "Audit trail", "AuditEvent", Action.SEARCH),
    ("accounts.tokens", "API tokens", "ApiToken", Action.SEARCH),
)


def init_templates(app: Flask) -> None:
    @app.context_processor
    def _globals() -> dict[str, Any]:
        actor = g.get("actor")
        menu = []
        if actor is not None:
            menu = [
                (endpoint, label)
                for endpoint, label, kind, action in MENU
                if decide(actor, action, kind).permitted
            ]
            if actor.expert_subject is not None:
                menu.insert(0, ("expert.photos", "Photographs"))
        return {
            "current_user": g.get("user"),
            "actor": actor,
            "menu": menu,
            "Role": Role,
            "OrganizationKind": OrganizationKind,
        }
