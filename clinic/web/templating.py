"""What every template may use: the signed-in user, their role, and the menu."""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask_babel import gettext

from clinic.access import Action, decide
from clinic.access.roles import OrganizationKind, Role
from clinic.i18n import N_

# (endpoint, label, kind, action): shown when the decision point permits it.
MENU = (
    ("cases.cases", N_("Cases"), "EpisodeOfCare", Action.SEARCH),
    # Counsellors carry the follow-up (they may update plans); examiners read plans.
    ("followup.caseload", N_("Caseload"), "CarePlan", Action.UPDATE),
    ("evidence.items", N_("Evidence"), "EvidenceItem", Action.SEARCH),
    ("release.incoming", N_("Police requests"), "IncomingRequest", Action.SEARCH),
    ("release.requests", N_("Release requests"), "ReleaseRequest", Action.SEARCH),
    ("admin.organizations", N_("Organisations"), "Organization", Action.UPDATE),
    ("admin.users", N_("Users"), "User", Action.SEARCH),
    ("admin.unused", N_("Unused accounts"), "User", Action.SEARCH),
    ("admin.access_review_page", N_("Access review"), "AccessReview", Action.READ),
    ("referrals.partner_services", N_("Partner directory"), "HealthcareService", Action.UPDATE),
    ("audit.events", N_("Audit trail"), "AuditEvent", Action.SEARCH),
    ("emergency.reviews", N_("Break-glass reviews"), "BreakGlassGrant", Action.SEARCH),
    ("emergency.start", N_("Break-glass"), "BreakGlassGrant", Action.CREATE),
    ("accounts.tokens", N_("API tokens"), "ApiToken", Action.SEARCH),
)


def init_templates(app: Flask) -> None:
    @app.context_processor
    def _globals() -> dict[str, Any]:
        actor = g.get("actor")
        menu = []
        if actor is not None:
            menu = [
                (endpoint, gettext(label))
                for endpoint, label, kind, action in MENU
                if decide(actor, action, kind).permitted
            ]
            if actor.expert_subject is not None:
                menu.insert(0, ("expert.photos", gettext("Photographs")))
        return {
            "current_user": g.get("user"),
            "actor": actor,
            "menu": menu,
            "Role": Role,
            "OrganizationKind": OrganizationKind,
        }
