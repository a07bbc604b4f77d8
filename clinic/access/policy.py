"""The one policy decision point (DESIGN.md section 3).

`decide(actor, action, kind, resource=...)` answers every question of the form
"may this person do this to this thing now?". The UI, the FHIR API and the CLI all
ask it; none of them holds an access rule of its own.

A decision is made in two steps:

* kind level (no `resource`): may this role ever do this action to this kind of
  thing? Asked before anything is looked up, so a "no" never depends on whether a
  particular record exists.
* instance level (with `resource`): may it do so to this record? A "no" here is
  *concealed*: callers answer exactly as if the record did not exist (promise 2).

The role baseline of DESIGN.md section 4 is applied now; the survivor's consent
narrows and widens it in the consent issue, in this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from clinic.access.roles import ROLE_PURPOSE, Purpose, Role


class Action(StrEnum):
    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    EXPORT = "export"


class Scope(StrEnum):
    OWN_SITE = "own-site"  # records whose site is the actor's organisation
    ALL = "all"  # any record of this kind in the deployment
    SELF = "self"  # records that belong to the acting user


# Kinds of thing the decision point knows. FHIR resource types are stored clinical
# or directory content; the others are operational records.
CLINICAL_KINDS = frozenset(
    {
        "Patient",
        "EpisodeOfCare",
        "Encounter",  # an exam
        "Observation",
        "MedicationAdministration",  # treatment at an exam
        "Composition",  # a signed exam report
        "Specimen",
    }
)
DIRECTORY_KINDS = frozenset({"Organization"})
# EvidenceItem is what custodians handle (label, kind, container, seal, location),
# without the Specimen's clinical detail (patient, body site).
OPERATIONAL_KINDS = frozenset(
    {
        "User",
        "ApiToken",
        "AuditEvent",
        "EvidenceItem",
        "CustodyEvent",
        "StorageLocation",  # places in a site's evidence store
        "RetentionRule",  # a site's retention rules and evidence deadlines
    }
)
KNOWN_KINDS = CLINICAL_KINDS | DIRECTORY_KINDS | OPERATIONAL_KINDS

_READ = frozenset({Action.READ, Action.SEARCH})
_CLINICAL_WRITE = frozenset(
    {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT}
)
_MANAGE = frozenset({Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE})

# role -> kind -> (actions allowed, scope). Anything absent is denied.
BASELINE: dict[Role, dict[str, tuple[frozenset[Action], Scope]]] = {
    Role.EXAMINER: {
        "Patient": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "EpisodeOfCare": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Encounter": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Observation": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "MedicationAdministration": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Composition": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Specimen": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "EvidenceItem": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "CustodyEvent": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.COUNSELLOR: {
        # Identity and contact details of survivors at their site, never forensic
        # findings. The consent issue narrows this to survivors in their care.
        "Patient": (_READ, Scope.OWN_SITE),
        # The case (its reference, reporting mode and proxy): not forensic detail.
        "EpisodeOfCare": (_READ, Scope.OWN_SITE),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.CUSTODIAN: {
        "EvidenceItem": (_READ | {Action.UPDATE}, Scope.OWN_SITE),
        "CustodyEvent": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "StorageLocation": (_MANAGE, Scope.OWN_SITE),
        "RetentionRule": (_READ, Scope.OWN_SITE),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.POLICE: {
        # Nothing until a survivor's consent releases something (release issue).
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.ADMIN: {
        "Organization": (_MANAGE, Scope.ALL),
        "User": (_MANAGE, Scope.ALL),
        "RetentionRule": (_MANAGE, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.AUDITOR: {
        "AuditEvent": (frozenset({Action.READ, Action.SEARCH, Action.EXPORT}), Scope.ALL),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
}


# Which custody actions each role may record (DESIGN.md sections 4 and 6):
# examiners collect and seal at the exam; custodians do everything after.
CUSTODY_OPERATIONS: dict[Role, frozenset[str]] = {
    Role.EXAMINER: frozenset({"collected", "declined", "sealed", "retention-extended"}),
    Role.CUSTODIAN: frozenset(
        {
            "sealed",
            "stored",
            "checked-out",
            "transferred",
            "returned",
            "seal-broken",
            "destroyed",
            "retention-extended",
        }
    ),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting. Built once per request or CLI command from an active account."""

    user_id: str
    username: str
    role: Role
    organization_id: str
    purpose: Purpose | None = None

    @property
    def purpose_of_use(self) -> Purpose:
        return self.purpose or ROLE_PURPOSE[self.role]


@dataclass(frozen=True)
class ResourceFacts:
    """What the decision point needs to know about one record, and nothing more."""

    kind: str
    logical_id: str
    site_id: str | None = None
    owner_user_id: str | None = None
    security_labels: frozenset[str] = frozenset()
    subject: str | None = None


@dataclass(frozen=True)
class Target:
    kind: str
    resource: ResourceFacts | None = None


@dataclass(frozen=True)
class Decision:
    permitted: bool
    reasons: tuple[str, ...]
    # Denied at instance level: the caller must answer as for an unknown record.
    concealed: bool = False
    obligations: tuple[str, ...] = field(default=())


class AccessDenied(Exception):
    """Raised by `require`; the web layer answers 403, or 404 when concealed."""

    def __init__(self, actor: Actor, action: Action, target: Target, decision: Decision) -> None:
        super().__init__("; ".join(decision.reasons))
        self.actor = actor
        self.action = action
        self.target = target
        self.decision = decision


def decide(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None = None,
    *,
    operation: str | None = None,
) -> Decision:
    """Decide whether `actor` may perform `action` on `kind` (or on `resource`).

    Rules: unknown kinds are denied; a role may act only on kinds and actions its
    baseline lists; site-scoped records are visible only to staff of that site;
    personal records only to their owner. Police are denied everything at this
    stage, concealed, so that refusal and absence look alike.
    """
    if kind not in KNOWN_KINDS:
        return Decision(False, (f"{kind} is not a kind of record this system holds",))
    if resource is not None and resource.kind != kind:
        return Decision(False, ("the record is not of the kind asked for",), concealed=True)

    grants = BASELINE[actor.role].get(kind)
    if grants is None or action not in grants[0]:
        reason = f"role {actor.role} may not {action} {kind}"
        # Police must never learn whether clinical records exist, so their
        # refusals look like absence even at kind level.
        return Decision(False, (reason,), concealed=actor.role is Role.POLICE)
    scope = grants[1]
    if kind == "CustodyEvent" and action is Action.CREATE:
        allowed = CUSTODY_OPERATIONS.get(actor.role, frozenset())
        if operation not in allowed:
            return Decision(
                False, (f"role {actor.role} may not record custody action {operation}",)
            )
    if resource is None:
        return Decision(True, (f"role {actor.role} may {action} {kind} ({scope})",))

    if scope is Scope.OWN_SITE and resource.site_id != actor.organization_id:
        return Decision(False, (f"{kind} belongs to another site",), concealed=True)
    if scope is Scope.SELF and resource.owner_user_id != actor.user_id:
        return Decision(False, (f"{kind} belongs to another user",), concealed=True)
    return Decision(True, (f"role {actor.role} may {action} {kind} ({scope})",))


def require(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None = None,
    *,
    operation: str | None = None,
) -> Decision:
    """`decide`, raising AccessDenied on a refusal."""
    decision = decide(actor, action, kind, resource, operation=operation)
    if not decision.permitted:
        raise AccessDenied(actor, action, Target(kind, resource), decision)
    return decision


def search_scope(actor: Actor, action: Action, kind: str) -> frozenset[str] | None:
    """The sites whose records a search may even consider: a pre-filter that keeps
    searches fast. It never widens anything; every result is still decided one by
    one with `decide`. None means every site."""
    grants = BASELINE[actor.role].get(kind)
    if grants is None or action not in grants[0]:
        return frozenset()
    if grants[1] is Scope.OWN_SITE:
        return frozenset({actor.organization_id})
    if grants[1] is Scope.ALL:
        return None
    return frozenset()
