"""The one policy decision point (docs/design.md section 3).

`decide(actor, action, kind, resource=...)` answers every question of the form
"may this person do this to this thing now?". The UI, the FHIR API and the CLI all
ask it; none of them holds an access rule of its own.

A decision is made in two steps:

* kind level (no `resource`): may this role ever do this action to this kind of
  thing? Asked before anything is looked up, so a "no" never depends on whether a
  particular record exists.
* instance level (with `resource`): may it do so to this record? A "no" here is
  *concealed*: callers answer exactly as if the record did not exist (promise 2).

Each decision on a record about a survivor combines the role's baseline
(docs/design.md section 4) with her active Consents (section 5, `clinic.access.consent`):

* the care team's baseline (examiners of her site, for treatment) stands unless one
  of her Consents explicitly denies it, and intimate images need her permit;
* what the baseline does not give a role, her Consent may: counsellors see her
  identity and the exam only as far as her information-sharing consent permits;
* police get nothing through this path; releases (section 7) ask with their own
  purpose and are decided here too.

Access granted by consent rather than by the baseline carries the obligation to
leave out narrative text, which may say more than the structured data she agreed
to share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from clinic.access.consent import (
    ConsentDecision,
    ConsentRequest,
    Directive,
    Provision,
    Recipient,
    Verdict,
    denies,
    evaluate,
)
from clinic.access.roles import ROLE_PURPOSE, Purpose, Role
from clinic.access.terms import (
    MENTAL_HEALTH,
    NEVER_TO_POLICE,
    RECIPIENTS,
    SAFETY_CARRY_OVER_ANSWERS,
    VERY_RESTRICTED,
)
from clinic.i18n import N_


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
    # Records of the actor's site, or of no site yet (a police request that matches
    # no case: every clinic sees it, to contact the force).
    OWN_SITE_OR_NONE = "own-site-or-none"


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
        # Her clinical baseline's allergies, medicines and history (health-history).
        "AllergyIntolerance",
        "MedicationStatement",
        "Condition",
        "Specimen",
        "Consent",  # her decisions: staff who care for her must see them
        "Media",  # forensic photographs (intimate images labelled V)
        "CarePlan",  # her follow-up plan (clinic/followup)
        "Appointment",  # an appointment for an item of her plan
        "Communication",  # an attempt to contact her for follow-up
        # A counsellor's note: a therapeutic record (data class counselling-notes).
        "DocumentReference",
        # A referral of hers to a partner service, with its status (clinic/followup).
        "ServiceRequest",
        # Safety for intimate-partner cases (clinic/followup/safety.py): the risk
        # assessment, her answers to its checklist, and the high-risk flag.
        "RiskAssessment",
        "QuestionnaireResponse",
        "Flag",
    }
)
# Partner services of a site's referral directory are HealthcareServices.
DIRECTORY_KINDS = frozenset({"Organization", "HealthcareService"})
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
        "ReleaseRequest",  # a police force's request (a Task), for that force
        "IncomingRequest",  # the same requests, as the clinic handles them
        "ExpertAccount",  # a medical expert's account, opened for one case
        # Emergency access to a case the examiner may not otherwise read (section 4a).
        "BreakGlassGrant",
        "AccessReview",  # an administrator's periodic review of who holds which role
        # A transparency log's signed checkpoints and consistency proofs: hashes and
        # tree sizes, no entry content; the operation names the log (LOG_READERS).
        "LogCheckpoint",
    }
)
# The definitions the clinic publishes (fhir_profiles/, and the FHIR package): they
# hold nothing about anyone, and every system that exchanges records with the
# clinic needs them, police forces included.
DEFINITION_KINDS = frozenset(
    {"StructureDefinition", "CodeSystem", "ValueSet", "OperationDefinition", "SearchParameter"}
)
KNOWN_KINDS = CLINICAL_KINDS | DIRECTORY_KINDS | OPERATIONAL_KINDS | DEFINITION_KINDS

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
        # Written with the baseline step of an exam (not writable through the API,
        # clinic.fhir.services.WRITABLE_TYPES), like the treatment given.
        "AllergyIntolerance": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "MedicationStatement": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Condition": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Specimen": (_CLINICAL_WRITE, Scope.OWN_SITE),
        # Photographs: taken only as her photo consent permits (PHOTOGRAPH); intimate
        # images seen only as it permits (the V label, _narrow_by_consent).
        "Media": (_CLINICAL_WRITE, Scope.OWN_SITE),
        "Consent": (_MANAGE, Scope.OWN_SITE),
        # Her follow-up plan: proposed at sign-off and agreed with her by the examiner,
        # then read by the examiners of her site; the counsellors carry it.
        "CarePlan": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "Appointment": (_READ, Scope.OWN_SITE),
        "Communication": (_READ, Scope.OWN_SITE),
        # Referrals: the examiner may make the one she wants at the plan.
        "ServiceRequest": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "HealthcareService": (_READ, Scope.OWN_SITE),
        # Her safety assessment, its answers and the high-risk flag: read, so the
        # examiners of her site know when she is at high risk; counsellors assess.
        "RiskAssessment": (_READ, Scope.OWN_SITE),
        "QuestionnaireResponse": (_READ, Scope.OWN_SITE),
        "Flag": (_READ, Scope.OWN_SITE),
        # Police-supplied text: a request that matches a case only to that case's
        # site (another site's is answered as unknown), an unmatched one to every
        # site; approval needs the case.
        "IncomingRequest": (_READ | {Action.UPDATE}, Scope.OWN_SITE_OR_NONE),
        "EvidenceItem": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "CustodyEvent": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "LogCheckpoint": (frozenset({Action.READ}), Scope.ALL),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
        # Opening a medical expert's account for her case (APPOINT_EXPERT).
        "ExpertAccount": (frozenset({Action.CREATE, Action.READ, Action.SEARCH}), Scope.OWN_SITE),
        # Breaking the glass on a case, stating why (clinic/emergency); the list of a
        # case's break-glass accesses is read through its EpisodeOfCare.
        "BreakGlassGrant": (frozenset({Action.CREATE}), Scope.SELF),
    },
    Role.COUNSELLOR: {
        # The case (its reference, reporting mode and proxy): not forensic detail.
        # Her identity and the exam only by her consent (CONSENT_GRANTS).
        "EpisodeOfCare": (_READ, Scope.OWN_SITE),
        # Counsellors record and withdraw consent with her, so they see her decisions.
        "Consent": (_MANAGE, Scope.OWN_SITE),
        # Counsellors work the follow-up of their site's survivors (docs/design.md
        # section 9): her plan and the progress of each item.
        "CarePlan": (_MANAGE, Scope.OWN_SITE),
        "Appointment": (_MANAGE, Scope.OWN_SITE),
        "Communication": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        # Counselling notes: written and read by the counsellors of her care team only
        # (therapeutic records: examiners, police and every release never).
        "DocumentReference": (_MANAGE, Scope.OWN_SITE),
        # Her referrals to partner services of the site's directory, and their status.
        "ServiceRequest": (_MANAGE, Scope.OWN_SITE),
        "HealthcareService": (_READ, Scope.OWN_SITE),
        # Safety for intimate-partner cases: counsellors assess her risk with her,
        # record the safety plan, and raise or end the high-risk flag.
        "RiskAssessment": (_MANAGE, Scope.OWN_SITE),
        "QuestionnaireResponse": (_MANAGE, Scope.OWN_SITE),
        "Flag": (_MANAGE, Scope.OWN_SITE),
        "IncomingRequest": (_READ | {Action.UPDATE}, Scope.OWN_SITE_OR_NONE),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.CUSTODIAN: {
        # Only to find an item by its printed label (LABEL_LOOKUP), without clinical detail.
        "Specimen": (frozenset({Action.SEARCH}), Scope.OWN_SITE),
        "EvidenceItem": (_READ | {Action.UPDATE}, Scope.OWN_SITE),
        "CustodyEvent": (_READ | {Action.CREATE}, Scope.OWN_SITE),
        "StorageLocation": (_MANAGE, Scope.OWN_SITE),
        "RetentionRule": (_READ, Scope.OWN_SITE),
        "LogCheckpoint": (frozenset({Action.READ}), Scope.ALL),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.POLICE: {
        # Their own force's release requests; nothing about any survivor until her
        # consent releases something (operation "release", below).
        "ReleaseRequest": (frozenset({Action.CREATE, Action.READ, Action.SEARCH}), Scope.OWN_SITE),
        # The custody log's checkpoints and consistency proofs (LOG_READERS): a
        # release carries a custody checkpoint, and the force that holds it must be
        # able to check that later ones extend it. Hashes and sizes only.
        "LogCheckpoint": (frozenset({Action.READ}), Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.ADMIN: {
        "Organization": (_MANAGE, Scope.ALL),
        # Administrators keep the directory of partner services.
        "HealthcareService": (_MANAGE, Scope.ALL),
        "User": (_MANAGE, Scope.ALL),
        # The periodic access review: who holds which role at which site, confirmed.
        "AccessReview": (frozenset({Action.READ, Action.CREATE}), Scope.ALL),
        "RetentionRule": (_MANAGE, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.AUDITOR: {
        "AuditEvent": (frozenset({Action.READ, Action.SEARCH, Action.EXPORT}), Scope.ALL),
        # Each break-glass access is reviewed by an auditor, with an outcome and a note.
        "BreakGlassGrant": (frozenset({Action.READ, Action.SEARCH, Action.UPDATE}), Scope.ALL),
        "LogCheckpoint": (frozenset({Action.READ}), Scope.ALL),
        "Organization": (_READ, Scope.ALL),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
    Role.EXPERT: {
        # Her photographs of the one case, as her photo consent lets the named expert
        # see them (_decide_expert); read and search only: no download of originals
        # (an export), no other kind, no other case.
        "Media": (_READ, Scope.OWN_SITE),
        "ApiToken": (_MANAGE, Scope.SELF),
    },
}


# What a role may read beyond its baseline when, and only when, the survivor's
# active Consent permits it: role -> (kinds, the recipient kind it acts as).
CONSENT_GRANTS: dict[Role, tuple[frozenset[str], str]] = {
    Role.COUNSELLOR: (
        frozenset(
            {
                "Patient",
                "Encounter",
                "Observation",
                "MedicationAdministration",
                "Composition",
                "AllergyIntolerance",
                "MedicationStatement",
                "Condition",
            }
        ),
        "counselling-service",
    ),
}
# The recipient kind each role acts as when her Consents are asked.
RECIPIENT_KIND = {
    Role.EXAMINER: "case-examiner",
    Role.COUNSELLOR: "counselling-service",
    Role.POLICE: "police",
}
OMIT_NARRATIVE = "omit-narrative"
# The operation under which police receive a release (docs/design.md section 7): only
# an export, only of these kinds, only as far as her Consent permits their force.
RELEASE = "release"
# A release refusal's reason when one of her Consents explicitly declines the
# record (not merely silent about it): the clinic's approval page says "she declined".
DECLINED = N_("declined in her consent")
# A release refusal's reason for what the police never receive, whatever she consents
# to: her health history, mental state and test results (clinic.access.terms).
NEVER_RELEASED = N_("never released to police: not about the assault")
# What may travel with a referral (the follow-up issue, point 5): the kind of partner
# service -> the kind of recipient her information-sharing consent speaks of. One
# table, so that a new kind of service is mapped once, here.
REFERRAL_RECIPIENT: dict[str, str] = {
    "refuge": "advocate",
    "independent-advocate": "advocate",
    "legal-aid": "advocate",
    "immigration-advice": "advocate",
    "substance-use": "advocate",
    "housing": "social-services",
    "childrens-services": "social-services",
    "mental-health": "gp",
    "sexual-health": "gp",
}
# What a referral letter can carry, in the order the letter prints it.
REFERRAL_CLASSES = ("identity", "treatment")
# Media: non-intimate photographs only (an intimate image is never released, below).
RELEASABLE_KINDS = frozenset(
    {
        "Patient",
        "Encounter",
        "Observation",
        "MedicationAdministration",
        "Composition",
        "Specimen",
        "Media",
    }
)


# Operations on Specimen. COLLECT: evidence of a kind is collected only where her
# active evidence-collection Consent permits it to the examiners of her case (an
# explicit deny wins). LABEL_LOOKUP: finding an item by the label printed on it.
COLLECT = "collect"
# Operation on Media: a photograph is taken only where her active photo Consent
# permits that class of photograph (intimate images: the item that names them, with
# their label) to the examiners of her case, and none denies it.
PHOTOGRAPH = "photograph"
LABEL_LOOKUP = "label-lookup"
# Obligation: the record is handed out without clinical detail (body site, notes,
# narrative): what custodians need to recognise an item, nothing about her.
CUSTODY_VIEW = "custody-view"
# (role, kind) -> (the only operation under which the baseline applies, its obligation).
OPERATION_ONLY: dict[tuple[Role, str], tuple[str, str]] = {
    (Role.CUSTODIAN, "Specimen"): (LABEL_LOOKUP, CUSTODY_VIEW),
}
# Obligation: a contact attempt is handed out without the counsellor's note (what
# she said on the phone is the counsellor's, like a counselling note): examiners
# see that she was called, by which channel and what came of it, not the note.
OMIT_CONTACT_NOTE = "omit-contact-note"
# A photo released to police goes without its corrections' notes: who reclassified
# or retired it and why are the clinic's working record (the reason may describe
# her body), not evidence.
OMIT_CORRECTION_NOTES = "omit-correction-notes"
# (role, kind) -> an obligation every read of the baseline carries, whatever the path
# (read, vread, history, search): the record is handed out only with it applied.
READ_OBLIGATIONS: dict[tuple[Role, str], str] = {
    (Role.EXAMINER, "Communication"): OMIT_CONTACT_NOTE,
}


# Operation on Observation: her exam's structured immediate-safety answers (the
# carry-over table of clinic/followup/safety_checklist.py) read to pre-fill her
# safety assessment by the counsellors of her site, who otherwise see no forensic
# detail. Only the answers the table names are read this way (the service picks
# them); an explicit deny in her consents still wins.
SAFETY_CARRY_OVER = "safety-carry-over"

# Operation on ExpertAccount: an examiner of her case opens a medical expert's
# account, only where her photo consent names that person and permits the expert
# to view intimate images (`expert_named`).
APPOINT_EXPERT = "appoint-expert"
EXPERT_RECIPIENT = "medical-expert"
EXPERT_ENDED = N_("the medical expert's access period has ended")


# Whose checkpoints and consistency proofs each role may read (the operation of a
# LogCheckpoint read is the log's name): the custody log's, those who handle
# custody and hold its proofs (examiners, custodians, police with a release) and
# auditors; the audit log's, auditors alone.
LOG_READERS: dict[str, frozenset[Role]] = {
    "audit": frozenset({Role.AUDITOR}),
    "custody": frozenset({Role.EXAMINER, Role.CUSTODIAN, Role.POLICE, Role.AUDITOR}),
}

# Which custody actions each role may record (docs/design.md sections 4 and 6):
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


# Obligation: a record opened by break-glass, not by the baseline or her consent:
# the caller lists it on the case and audits the read as break-glass.
BREAK_GLASS = "break-glass"


@dataclass(frozen=True)
class EmergencyAccess:
    """One break-glass grant as the decision point sees it: for one case (its
    Patient and site), until a moment (clinic.emergency)."""

    grant_id: str
    subject: str  # Patient/<id> of the case
    site_id: str
    until: datetime


@dataclass(frozen=True)
class Actor:
    """Who is acting. Built once per request or CLI command from an active account."""

    user_id: str
    username: str
    role: Role
    organization_id: str
    purpose: Purpose | None = None
    # A medical expert only: the Patient of the one case the account serves, the
    # name her photo consent gives the expert, and the end of the account's period.
    expert_subject: str | None = None
    expert_name: str | None = None
    access_until: datetime | None = None
    # An examiner's break-glass grants not yet expired when the actor was built;
    # each is checked again against the moment of every decision.
    emergency: tuple[EmergencyAccess, ...] = ()

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
    subject: str | None = None  # Patient/<id>: whose Consents apply
    data_classes: frozenset[str] = frozenset()  # clinic.access.terms.DATA_CLASSES
    # An exam Observation's "section/code" (clinic.access.terms.exam_answer_of).
    exam_answer: str | None = None


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


class ConsentSource(Protocol):
    """Where the decision point finds a survivor's Consents (clinic.consent.book)."""

    def directives(self, subject: str) -> Sequence[Directive]: ...


class AccessDenied(Exception):
    """Raised by `require`; the web layer answers 403, or 404 when concealed."""

    def __init__(self, actor: Actor, action: Action, target: Target, decision: Decision) -> None:
        super().__init__("; ".join(decision.reasons))
        self.actor = actor
        self.action = action
        self.target = target
        self.decision = decision


# Called with every decision made (tests use it to prove that no path skips the
# decision point). Listeners must not raise.
DECISION_LISTENERS: list[Callable[[Actor, Action, str, ResourceFacts | None, Decision], None]] = []


def decide(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None = None,
    *,
    operation: str | None = None,
    consents: ConsentSource | None = None,
    at: datetime | None = None,
) -> Decision:
    decision = _decide(actor, action, kind, resource, operation, consents, at)
    if not decision.permitted and actor.emergency:
        decision = _break_glass(actor, action, kind, resource, operation, at) or decision
    for listener in DECISION_LISTENERS:
        listener(actor, action, kind, resource, decision)
    return decision


def _decide(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None,
    operation: str | None,
    consents: ConsentSource | None,
    at: datetime | None,
) -> Decision:
    """Decide whether `actor` may perform `action` on `kind` (or on `resource`).

    Rules: unknown kinds are denied; a role may act only on kinds and actions its
    baseline lists, or that her Consent grants (CONSENT_GRANTS); site-scoped
    records are visible only to staff of that site; personal records only to their
    owner. A decision on a record about a survivor needs her Consents (`consents`):
    without them it is a refusal, so a path that forgot to ask cannot see more.
    Police are denied everything here, concealed, so that refusal and absence
    look alike.
    """
    if kind not in KNOWN_KINDS:
        return Decision(False, (f"{kind} is not a kind of record this system holds",))
    if resource is not None and resource.kind != kind:
        return Decision(False, ("the record is not of the kind asked for",), concealed=True)
    if actor.role is Role.EXPERT:
        # Checked on every decision, not only at sign-in: a session or token that
        # outlives the period reads nothing.
        if actor.access_until is None or (at or datetime.now(UTC)) > actor.access_until:
            return Decision(False, (EXPERT_ENDED,), concealed=resource is not None)
        if kind == "Media" and action in _READ and resource is not None:
            return _decide_expert(actor, action, resource, consents, at)
    if kind in DEFINITION_KINDS:
        if action in _READ:
            return Decision(True, (f"{kind} is a published definition: every user may read it",))
        return Decision(
            False,
            (f"{kind} is published with the clinic, never written by users",),
            concealed=actor.role is Role.POLICE,
        )

    if actor.role is Role.POLICE and action is Action.EXPORT and operation == RELEASE:
        if kind not in RELEASABLE_KINDS:
            return Decision(False, (f"{kind} is never released",), concealed=True)
        if resource is None:
            return Decision(True, (f"police may receive {kind} where her consent permits",))
        return _decide_release(actor, resource, consents, at)
    if (
        operation == SAFETY_CARRY_OVER
        and kind == "Observation"
        and action is Action.READ
        and actor.role is Role.COUNSELLOR
        and resource is not None
    ):
        return _decide_carry_over(actor, resource, consents, at)
    grants = BASELINE[actor.role].get(kind)
    if grants is None or action not in grants[0]:
        if _consent_may_grant(actor, action, kind):
            if resource is None:
                return Decision(
                    True, (f"role {actor.role} may {action} {kind} where her consent permits",)
                )
            return _decide_by_consent(actor, action, resource, consents, at)
        reason = f"role {actor.role} may not {action} {kind}"
        # Police must never learn whether clinical records exist, so their
        # refusals look like absence even at kind level.
        return Decision(False, (reason,), concealed=actor.role is Role.POLICE)
    scope = grants[1]
    only = OPERATION_ONLY.get((actor.role, kind))
    if only is not None and operation != only[0]:
        return Decision(False, (f"role {actor.role} may {action} {kind} only by {only[0]}",))
    obligations = (only[1],) if only is not None else ()
    always = READ_OBLIGATIONS.get((actor.role, kind))
    if always is not None and action in _CONSENT_READS:
        obligations = (*obligations, always)
    if kind == "CustodyEvent" and action is Action.CREATE:
        allowed = CUSTODY_OPERATIONS.get(actor.role, frozenset())
        if operation not in allowed:
            return Decision(
                False, (f"role {actor.role} may not record custody action {operation}",)
            )
    if kind == "LogCheckpoint" and actor.role not in LOG_READERS.get(operation or "", ()):
        return Decision(
            False,
            (f"role {actor.role} may not read the {operation} log's proofs",),
            concealed=actor.role is Role.POLICE,
        )
    baseline = f"role {actor.role} may {action} {kind} ({scope})"
    if resource is None:
        return Decision(True, (baseline,), obligations=obligations)

    if scope is Scope.OWN_SITE and resource.site_id != actor.organization_id:
        return Decision(False, (f"{kind} belongs to another site",), concealed=True)
    if (
        scope is Scope.OWN_SITE_OR_NONE
        and resource.site_id is not None
        and resource.site_id != actor.organization_id
    ):
        return Decision(False, (f"{kind} belongs to another site",), concealed=True)
    if scope is Scope.SELF and resource.owner_user_id != actor.user_id:
        return Decision(False, (f"{kind} belongs to another user",), concealed=True)
    if kind == "Specimen" and action is Action.CREATE and operation == COLLECT:
        return _decide_collection(actor, resource, consents, at, baseline)
    if kind == "Media" and action is Action.CREATE and operation == PHOTOGRAPH:
        return _decide_collection(actor, resource, consents, at, baseline, action=PHOTOGRAPH)
    if _consent_may_narrow(action, kind, resource):
        decided = _narrow_by_consent(actor, action, resource, consents, at, baseline)
        if decided.permitted and obligations:
            return dataclasses.replace(decided, obligations=decided.obligations + obligations)
        return decided
    return Decision(True, (baseline,), obligations=obligations)


def _break_glass(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None,
    operation: str | None,
    at: datetime | None,
) -> Decision | None:
    """An examiner's active break-glass grant for the record's case turns a refusal
    for another site, or for her consent, into a read with the obligation
    BREAK_GLASS. Only examiners, only reads of what the examiner's baseline lists
    (never counselling notes), never an intimate image (promise 9), never under a
    named operation (a release to police, a collection): break-glass widens neither
    what police receive nor what she refused them. The grant's end is checked
    against the moment of this decision."""
    if (
        actor.role is not Role.EXAMINER
        or operation is not None
        or action not in _READ
        or resource is None
        or resource.subject is None
        or kind not in CLINICAL_KINDS
        or VERY_RESTRICTED in resource.security_labels
    ):
        return None
    grants = BASELINE[Role.EXAMINER].get(kind)
    if grants is None or action not in grants[0]:
        return None
    moment = at or datetime.now(UTC)
    for grant in actor.emergency:
        if (
            grant.subject == resource.subject
            and grant.site_id == resource.site_id
            and moment <= grant.until
        ):
            always = READ_OBLIGATIONS.get((actor.role, kind))
            return Decision(
                True,
                (f"break-glass access {grant.grant_id} until {grant.until.isoformat()}",),
                obligations=(BREAK_GLASS, *((always,) if always else ())),
            )
    return None


def _decide_carry_over(
    actor: Actor, resource: ResourceFacts, consents: ConsentSource | None, at: datetime | None
) -> Decision:
    """An immediate-safety answer of her exam, for her safety assessment: her site's
    counsellors only, unless one of her Consents explicitly denies them; and only
    the exam answers the carry-over table reads (SAFETY_CARRY_OVER_ANSWERS). Her
    mental state (thoughts of harming herself) is read as the rest of her exam is:
    only when her consent permits the counselling team."""
    if resource.site_id != actor.organization_id:
        return Decision(False, ("Observation belongs to another site",), concealed=True)
    if resource.exam_answer not in SAFETY_CARRY_OVER_ANSWERS:
        return Decision(
            False,
            ("the safety carry-over reads only the exam answers its table names",),
            concealed=True,
        )
    if consents is None or resource.subject is None:
        return Decision(False, (_NOT_CONSULTED,), concealed=True)
    directives = consents.directives(resource.subject)
    request = consent_request(actor, Action.READ, resource, at)
    if MENTAL_HEALTH in resource.data_classes:
        result = evaluate(directives, request)
        if not result.permitted:
            return Decision(False, result.reasons, concealed=True)
        return Decision(True, result.reasons)
    refusal = denies(directives, request)
    if refusal is not None:
        return Decision(False, refusal.reasons, concealed=True)
    return Decision(
        True, ("her exam's immediate-safety answers carry over to her safety assessment",)
    )


def _decide_collection(
    actor: Actor,
    resource: ResourceFacts,
    consents: ConsentSource | None,
    at: datetime | None,
    baseline: str,
    *,
    action: str = COLLECT,
) -> Decision:
    """Evidence is collected, and photographs taken, only with her consent: an
    active Consent of hers must permit that class of evidence or photograph (with
    its security label: intimate images are V) to the examiners of her case, and
    none may deny it. Without a recorded consent, nothing is collected. A refusal
    because she said no carries DECLINED among its reasons."""
    if consents is None or resource.subject is None:
        return Decision(False, (_NOT_CONSULTED,))
    request = ConsentRequest(
        recipients=frozenset({Recipient("case-examiner", f"Organization/{actor.organization_id}")}),
        action=action,
        purpose=Purpose.TREATMENT.value,
        classes=resource.data_classes,
        labels=resource.security_labels if action == PHOTOGRAPH else frozenset(),
        at=at or datetime.now(UTC),
    )
    result = evaluate(consents.directives(resource.subject), request)
    if not result.permitted:
        declined = action == PHOTOGRAPH and any(f.verdict is Verdict.DENY for f in result.findings)
        return Decision(False, (*result.reasons, *((DECLINED,) if declined else ())))
    return Decision(True, (baseline, *result.reasons))


_CONSENT_READS = frozenset({Action.READ, Action.SEARCH, Action.EXPORT})


def _expert_request(
    name: str, resource: ResourceFacts | None, at: datetime | None
) -> ConsentRequest:
    """The named expert as her Consents record them: a name, not an organisation."""
    return ConsentRequest(
        recipients=frozenset({Recipient(EXPERT_RECIPIENT, f"#{name}")}),
        action="access",
        purpose=Purpose.TREATMENT.value,
        classes=resource.data_classes if resource else frozenset({"intimate-images"}),
        labels=resource.security_labels if resource else frozenset({VERY_RESTRICTED}),
        at=at or datetime.now(UTC),
    )


def _decide_expert(
    actor: Actor,
    action: Action,
    resource: ResourceFacts,
    consents: ConsentSource | None,
    at: datetime | None,
) -> Decision:
    """A photograph of the expert's one case, and only what her active Consents
    permit to the person she named: no baseline stands for an expert."""
    if (
        actor.expert_subject is None
        or actor.expert_name is None
        or resource.subject != actor.expert_subject
        or resource.site_id != actor.organization_id
    ):
        return Decision(False, ("not the case this expert serves",), concealed=True)
    if consents is None:
        return Decision(False, (_NOT_CONSULTED,), concealed=True)
    result = evaluate(
        consents.directives(resource.subject), _expert_request(actor.expert_name, resource, at)
    )
    if not result.permitted:
        return Decision(False, result.reasons, concealed=True)
    return Decision(True, (f"medical expert may {action} Media of her case", *result.reasons))


def expert_named(
    subject: str, name: str, consents: ConsentSource, at: datetime | None = None
) -> ConsentDecision:
    """Does her photo consent, now, let the expert recorded under `name` view her
    intimate images? Asked before an expert's account is opened."""
    return evaluate(consents.directives(subject), _expert_request(name, None, at))


def named_experts(subject: str, consents: ConsentSource, at: datetime | None = None) -> list[str]:
    """The names her active Consents give a medical expert (as recorded), for the
    examiner to match against the person whose account she opens."""
    moment = at or datetime.now(UTC)
    names: list[str] = []

    def walk(provisions: Sequence[Provision]) -> None:
        for provision in provisions:
            for recipient in provision.recipients:
                if (
                    recipient.kind == EXPERT_RECIPIENT
                    and recipient.reference
                    and recipient.reference.startswith("#")
                    and provision.verdict is Verdict.PERMIT
                    and recipient.reference[1:] not in names
                ):
                    names.append(recipient.reference[1:])
            walk(provision.children)

    for directive in consents.directives(subject):
        if directive.active and directive.period.covers(moment):
            walk(directive.provisions)
    return names


def _consent_may_grant(actor: Actor, action: Action, kind: str) -> bool:
    granted = CONSENT_GRANTS.get(actor.role)
    return granted is not None and kind in granted[0] and action in _CONSENT_READS


def _consent_may_narrow(action: Action, kind: str, resource: ResourceFacts) -> bool:
    return (
        action in _CONSENT_READS
        and kind in CLINICAL_KINDS
        and kind != "Consent"
        and resource.subject is not None
    )


def consent_request(
    actor: Actor, action: Action, resource: ResourceFacts, at: datetime | None = None
) -> ConsentRequest:
    """The question put to her Consents: the actor as a recipient, the action
    (police receive a disclosure; staff access), purpose, data and moment."""
    recipient_kind = RECIPIENT_KIND.get(actor.role)
    recipients = (
        frozenset({Recipient(recipient_kind, f"Organization/{actor.organization_id}")})
        if recipient_kind
        else frozenset()
    )
    return ConsentRequest(
        recipients=recipients,
        action="disclose" if actor.role is Role.POLICE else "access",
        purpose=actor.purpose_of_use.value,
        classes=resource.data_classes,
        labels=resource.security_labels,
        at=at or datetime.now(UTC),
    )


_NOT_CONSULTED = N_("her consents were not consulted")


def _decide_by_consent(
    actor: Actor,
    action: Action,
    resource: ResourceFacts,
    consents: ConsentSource | None,
    at: datetime | None,
) -> Decision:
    if resource.site_id != actor.organization_id:
        return Decision(False, (f"{resource.kind} belongs to another site",), concealed=True)
    if consents is None or resource.subject is None:
        return Decision(False, (_NOT_CONSULTED,), concealed=True)
    result = evaluate(
        consents.directives(resource.subject), consent_request(actor, action, resource, at)
    )
    if not result.permitted:
        return Decision(False, result.reasons, concealed=True)
    return Decision(True, result.reasons, obligations=(OMIT_NARRATIVE,))


def _decide_release(
    actor: Actor, resource: ResourceFacts, consents: ConsentSource | None, at: datetime | None
) -> Decision:
    """A record released to a police force: only what her active Consents permit to
    that force, for legal purposes, now; intimate images never (promise 9), nor
    her health history, mental state or test results (minimum necessary)."""
    if consents is None or resource.subject is None:
        return Decision(False, (_NOT_CONSULTED,), concealed=True)
    if VERY_RESTRICTED in resource.security_labels:
        return Decision(False, ("intimate images are never released to police",), concealed=True)
    if resource.data_classes & NEVER_TO_POLICE:
        return Decision(False, (NEVER_RELEASED,), concealed=True)
    result = evaluate(
        consents.directives(resource.subject), consent_request(actor, Action.EXPORT, resource, at)
    )
    if not result.permitted:
        declined = any(f.verdict is Verdict.DENY for f in result.findings)
        return Decision(
            False, (*result.reasons, *((DECLINED,) if declined else ())), concealed=True
        )
    if resource.kind == "Media":
        return Decision(True, result.reasons, obligations=(OMIT_NARRATIVE, OMIT_CORRECTION_NOTES))
    return Decision(True, result.reasons, obligations=(OMIT_NARRATIVE,))


def _narrow_by_consent(
    actor: Actor,
    action: Action,
    resource: ResourceFacts,
    consents: ConsentSource | None,
    at: datetime | None,
    baseline: str,
) -> Decision:
    if consents is None or resource.subject is None:
        return Decision(False, (_NOT_CONSULTED,), concealed=True)
    directives = consents.directives(resource.subject)
    request = consent_request(actor, action, resource, at)
    if VERY_RESTRICTED in resource.security_labels:
        # Intimate images: only those her photo consent names (promise 9).
        result = evaluate(directives, request)
        if not result.permitted:
            return Decision(False, result.reasons, concealed=True)
        return Decision(True, (baseline, *result.reasons))
    refusal = denies(directives, request)
    if refusal is not None:
        return Decision(False, refusal.reasons, concealed=True)
    return Decision(True, (baseline,))


@dataclass(frozen=True)
class CareConsent:
    """What her active Consents say about one part of her care done by the actor's
    team (docs/design.md section 5): `in_force` when a Consent of that form covers now,
    `declined` when one says deny to the part, with the item that said it."""

    in_force: bool
    declined: bool
    decision: ConsentDecision


def decide_care(
    actor: Actor,
    subject: str,
    *,
    form: str,
    action: str,
    part: str,
    consents: ConsentSource,
    at: datetime | None = None,
) -> CareConsent:
    """Ask her Consents about a part of her care (action `examine` and part
    `anogenital-exam`, say) that this examiner's team would do for her treatment.
    Care itself is never refused here: what she did not answer stays the
    examiner's clinical decision; only an explicit deny is a refusal."""
    moment = at or datetime.now(UTC)
    directives = consents.directives(subject)
    decision = evaluate(
        directives,
        ConsentRequest(
            recipients=frozenset(
                {Recipient(RECIPIENT_KIND[actor.role], f"Organization/{actor.organization_id}")}
            )
            if actor.role in RECIPIENT_KIND
            else frozenset(),
            action=action,
            purpose=actor.purpose_of_use.value,
            classes=frozenset(),
            labels=frozenset(),
            at=moment,
            codes=frozenset({part}),
        ),
    )
    in_force = any(
        d.active and d.form.split("/")[0] == form and d.period.covers(moment) for d in directives
    )
    declined = any(f.verdict is not None and f.verdict.value == "deny" for f in decision.findings)
    return CareConsent(in_force, declined, decision)


def referral_content(
    actor: Actor,
    subject: str,
    *,
    service_kind: str,
    consents: ConsentSource,
    names: tuple[str, ...] = (),
    at: datetime | None = None,
) -> frozenset[str]:
    """What may travel with a referral of hers to a partner service of this kind:
    each class the letter can carry that an active Consent of hers permits to be
    disclosed to that kind of recipient, for her care, and none denies. Unknown kinds
    carry nothing; the referral service refuses a referral that would carry nothing.
    The partner is that kind of recipient in general (her form's words), or the
    organisation or service she named (`names`) in her consent."""
    recipient = REFERRAL_RECIPIENT.get(service_kind)
    if recipient is None or actor.role not in RECIPIENT_KIND:
        return frozenset()
    partner = frozenset(
        Recipient(recipient, f"#{name}") for name in (RECIPIENTS[recipient], *names) if name
    )
    directives = consents.directives(subject)
    moment = at or datetime.now(UTC)
    shared = set()
    for data_class in REFERRAL_CLASSES:
        result = evaluate(
            directives,
            ConsentRequest(
                recipients=partner,
                action="disclose",
                purpose=Purpose.TREATMENT.value,
                classes=frozenset({data_class}),
                labels=frozenset(),
                at=moment,
            ),
        )
        if result.permitted:
            shared.add(data_class)
    return frozenset(shared)


def require(
    actor: Actor,
    action: Action,
    kind: str,
    resource: ResourceFacts | None = None,
    *,
    operation: str | None = None,
    consents: ConsentSource | None = None,
) -> Decision:
    """`decide`, raising AccessDenied on a refusal."""
    decision = decide(actor, action, kind, resource, operation=operation, consents=consents)
    if not decision.permitted:
        raise AccessDenied(actor, action, Target(kind, resource), decision)
    return decision


def search_scope(actor: Actor, action: Action, kind: str) -> frozenset[str] | None:
    """The sites whose records a search may even consider: a pre-filter that keeps
    searches fast. It never widens anything; every result is still decided one by
    one with `decide`. None means every site."""
    grants = BASELINE[actor.role].get(kind)
    if grants is None or action not in grants[0]:
        if _consent_may_grant(actor, action, kind):
            return frozenset({actor.organization_id})
        return frozenset()
    if grants[1] is Scope.OWN_SITE:
        return frozenset({actor.organization_id})
    if grants[1] is Scope.ALL:
        return None
    return frozenset()
