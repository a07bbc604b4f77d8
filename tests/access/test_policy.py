"""The decision point as a table: role x kind x action x whose record -> decision."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from clinic.access import Action, Actor, ResourceFacts, Role, decide, search_scope
from clinic.access.policy import DEFINITION_KINDS, KNOWN_KINDS

NORTH, SOUTH = "site-north", "site-south"
ALL_ACTIONS = tuple(Action)


def actor(role: Role, org: str = NORTH, user: str = "u1") -> Actor:
    return Actor(user, f"{role}-user", role, org)


# role -> kind -> actions allowed at kind level. Everything else is denied.
EXPECTED: dict[Role, dict[str, set[Action]]] = {
    Role.EXAMINER: {
        "Patient": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        "EpisodeOfCare": {
            Action.READ,
            Action.SEARCH,
            Action.CREATE,
            Action.UPDATE,
            Action.EXPORT,
        },
        "Observation": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        # The exam (Encounter), its treatment and its signed report: examiners only.
        "Encounter": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        "MedicationAdministration": {
            Action.READ,
            Action.SEARCH,
            Action.CREATE,
            Action.UPDATE,
            Action.EXPORT,
        },
        "Composition": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        # Her baseline's allergies, medicines and history, written with the exam.
        **{
            kind: {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT}
            for kind in ("AllergyIntolerance", "MedicationStatement", "Condition")
        },
        "Specimen": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        # Photographs: taken as her photo consent permits; intimate images (V) seen
        # only as it permits. No other role has Media at all (tests/media).
        "Media": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT},
        "Consent": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        # Her follow-up plan: proposed and agreed with her at sign-off, then read.
        "CarePlan": {Action.READ, Action.SEARCH, Action.CREATE},
        "Appointment": {Action.READ, Action.SEARCH},
        "Communication": {Action.READ, Action.SEARCH},
        # Referrals: the one she wants may be made at her plan; her site's directory.
        "ServiceRequest": {Action.READ, Action.SEARCH, Action.CREATE},
        "HealthcareService": {Action.READ, Action.SEARCH},
        # Her safety assessment, its answers and the high-risk flag: read only.
        "RiskAssessment": {Action.READ, Action.SEARCH},
        "QuestionnaireResponse": {Action.READ, Action.SEARCH},
        "Flag": {Action.READ, Action.SEARCH},
        "IncomingRequest": {Action.READ, Action.SEARCH, Action.UPDATE},
        "EvidenceItem": {Action.READ, Action.SEARCH, Action.CREATE},
        # Creating a custody event is decided per custody action (below).
        "CustodyEvent": {Action.READ, Action.SEARCH},
        "Organization": {Action.READ, Action.SEARCH},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        # A medical expert's account for her case, where her photo consent names them.
        "ExpertAccount": {Action.CREATE, Action.READ, Action.SEARCH},
        # Breaking the glass on a case in an emergency (tests/access/test_break_glass_policy.py).
        "BreakGlassGrant": {Action.CREATE},
    },
    Role.COUNSELLOR: {
        # Her identity and the exam: asked at kind level, granted per record only
        # where her information-sharing consent permits (tests/consent).
        "Patient": {Action.READ, Action.SEARCH, Action.EXPORT},
        "Encounter": {Action.READ, Action.SEARCH, Action.EXPORT},
        "Observation": {Action.READ, Action.SEARCH, Action.EXPORT},
        "MedicationAdministration": {Action.READ, Action.SEARCH, Action.EXPORT},
        "Composition": {Action.READ, Action.SEARCH, Action.EXPORT},
        **{
            kind: {Action.READ, Action.SEARCH, Action.EXPORT}
            for kind in ("AllergyIntolerance", "MedicationStatement", "Condition")
        },
        "EpisodeOfCare": {Action.READ, Action.SEARCH},
        "Consent": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        # Counsellors carry the follow-up of their site's survivors.
        "CarePlan": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "Appointment": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "Communication": {Action.READ, Action.SEARCH, Action.CREATE},
        "DocumentReference": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "ServiceRequest": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "HealthcareService": {Action.READ, Action.SEARCH},
        # Counsellors assess her safety with her and raise or end the flag.
        "RiskAssessment": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "QuestionnaireResponse": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "Flag": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "IncomingRequest": {Action.READ, Action.SEARCH, Action.UPDATE},
        "Organization": {Action.READ, Action.SEARCH},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
    },
    Role.CUSTODIAN: {
        "EvidenceItem": {Action.READ, Action.SEARCH, Action.UPDATE},
        "CustodyEvent": {Action.READ, Action.SEARCH},
        "StorageLocation": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "RetentionRule": {Action.READ, Action.SEARCH},
        "Organization": {Action.READ, Action.SEARCH},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
    },
    Role.POLICE: {
        "ReleaseRequest": {Action.CREATE, Action.READ, Action.SEARCH},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
    },
    Role.ADMIN: {
        "Organization": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        # The partner directory of every site.
        "HealthcareService": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "User": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        # The periodic access review: read and confirmed.
        "AccessReview": {Action.READ, Action.CREATE},
        "RetentionRule": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
    },
    Role.AUDITOR: {
        "AuditEvent": {Action.READ, Action.SEARCH, Action.EXPORT},
        # The break-glass review queue: each access read and reviewed.
        "BreakGlassGrant": {Action.READ, Action.SEARCH, Action.UPDATE},
        "Organization": {Action.READ, Action.SEARCH},
        "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
    },
    # An expert actor without a period (as `actor()` builds it) is refused
    # everything; within its period, see test_an_expert_within_its_period.
    Role.EXPERT: {},
}
EXPERT_WITHIN_PERIOD = {
    "Media": {Action.READ, Action.SEARCH},
    "ApiToken": {Action.READ, Action.SEARCH, Action.CREATE, Action.UPDATE},
}
# The published definitions (StructureDefinition, CodeSystem, ...): every account
# reads and searches them, an expert within her period only; nobody writes them.
for _role, _kinds in EXPECTED.items():
    if _role is not Role.EXPERT:
        _kinds.update({kind: {Action.READ, Action.SEARCH} for kind in DEFINITION_KINDS})
EXPERT_WITHIN_PERIOD.update({kind: {Action.READ, Action.SEARCH} for kind in DEFINITION_KINDS})


@pytest.mark.parametrize(
    ("role", "kind", "action"), list(itertools.product(Role, sorted(KNOWN_KINDS), ALL_ACTIONS))
)
def test_kind_level_baseline(role: Role, kind: str, action: Action) -> None:
    decision = decide(actor(role), action, kind)
    assert decision.permitted == (action in EXPECTED[role].get(kind, set()))
    assert decision.reasons  # every decision says why
    if not decision.permitted:
        assert decision.concealed == (role is Role.POLICE)


@pytest.mark.parametrize(
    ("kind", "action"), list(itertools.product(sorted(KNOWN_KINDS), ALL_ACTIONS))
)
def test_an_expert_within_its_period(kind: str, action: Action) -> None:
    now = datetime.now(UTC)
    expert = dataclasses.replace(
        actor(Role.EXPERT),
        expert_subject="Patient/p1",
        expert_name="Dr Y",
        access_until=now + timedelta(days=1),
    )
    decision = decide(expert, action, kind, at=now)
    assert decision.permitted == (action in EXPERT_WITHIN_PERIOD.get(kind, set()))
    assert not decide(expert, action, kind, at=now + timedelta(days=2)).permitted


@pytest.mark.parametrize(
    "kind", ["Patient", "Observation", "Encounter", "MedicationAdministration", "Composition"]
)
@pytest.mark.parametrize("action", [Action.READ, Action.SEARCH, Action.UPDATE, Action.EXPORT])
def test_clinical_records_are_visible_only_at_their_site(kind: str, action: Action) -> None:
    own = ResourceFacts(kind, "r1", site_id=NORTH)
    other = ResourceFacts(kind, "r2", site_id=SOUTH)
    unsited = ResourceFacts(kind, "r3", site_id=None)
    examiner = actor(Role.EXAMINER)
    assert decide(examiner, action, kind, own).permitted
    for facts in (other, unsited):
        refused = decide(examiner, action, kind, facts)
        assert not refused.permitted
        assert refused.concealed


def test_police_are_refused_everything_concealed_even_at_their_own_organisation() -> None:
    officer = actor(Role.POLICE, org="force-1")
    for kind in ("Patient", "Observation", "Organization", "AuditEvent", "User"):
        for action in ALL_ACTIONS:
            for facts in (None, ResourceFacts(kind, "x", site_id="force-1")):
                decision = decide(officer, action, kind, facts)
                assert not decision.permitted
                assert decision.concealed


def test_tokens_belong_to_their_owner_only() -> None:
    token = ResourceFacts("ApiToken", "t1", owner_user_id="u1")
    assert decide(actor(Role.ADMIN, user="u1"), Action.UPDATE, "ApiToken", token).permitted
    refused = decide(actor(Role.ADMIN, user="u2"), Action.UPDATE, "ApiToken", token)
    assert not refused.permitted
    assert refused.concealed


def test_unknown_kinds_and_mismatched_facts_are_denied() -> None:
    examiner = actor(Role.EXAMINER)
    assert not decide(examiner, Action.READ, "ImagingStudy").permitted
    assert not decide(
        examiner, Action.READ, "Patient", ResourceFacts("Observation", "x", site_id=NORTH)
    ).permitted


def test_search_scope_never_widens_the_baseline() -> None:
    assert search_scope(actor(Role.EXAMINER), Action.SEARCH, "Patient") == frozenset({NORTH})
    assert search_scope(actor(Role.POLICE, org="f"), Action.SEARCH, "Patient") == frozenset()
    assert search_scope(actor(Role.CUSTODIAN), Action.SEARCH, "Patient") == frozenset()
    assert search_scope(actor(Role.AUDITOR), Action.SEARCH, "AuditEvent") is None


CUSTODY_ACTIONS = (
    "collected",
    "declined",
    "sealed",
    "stored",
    "checked-out",
    "transferred",
    "returned",
    "seal-broken",
    "destroyed",
)
CUSTODY_ALLOWED = {
    Role.EXAMINER: {"collected", "declined", "sealed"},
    Role.CUSTODIAN: {
        "sealed",
        "stored",
        "checked-out",
        "transferred",
        "returned",
        "seal-broken",
        "destroyed",
    },
}


@pytest.mark.parametrize(("role", "operation"), list(itertools.product(Role, CUSTODY_ACTIONS)))
def test_custody_actions_by_role(role: Role, operation: str) -> None:
    own_item = ResourceFacts("CustodyEvent", "i1", site_id=NORTH)
    decision = decide(actor(role), Action.CREATE, "CustodyEvent", own_item, operation=operation)
    assert decision.permitted == (operation in CUSTODY_ALLOWED.get(role, set()))
    other_site = ResourceFacts("CustodyEvent", "i2", site_id=SOUTH)
    assert not decide(
        actor(role), Action.CREATE, "CustodyEvent", other_site, operation=operation
    ).permitted


class _NoConsents:
    """She has recorded no Consent: nothing denies the carry-over."""

    def directives(self, subject: str) -> list[object]:
        return []


def _exam_observation(section: str, code: str) -> ResourceFacts:
    from clinic.access.terms import data_classes_of, exam_answer_of
    from clinic.exam.resources import EXAM_OBSERVATION
    from clinic.fhir.canonical import CODE_SYSTEM

    content = {
        "resourceType": "Observation",
        "encounter": {"reference": "Encounter/e1"},
        "category": [{"coding": [{"system": f"{CODE_SYSTEM}/exam-section", "code": section}]}],
        "code": {"coding": [{"system": EXAM_OBSERVATION, "code": code}]},
    }
    return ResourceFacts(
        "Observation",
        f"{section}-{code}",
        site_id=NORTH,
        subject="Patient/p1",
        data_classes=data_classes_of("Observation", content),
        exam_answer=exam_answer_of("Observation", content),
    )


def test_the_safety_carry_over_grants_only_the_answers_the_carry_over_table_reads() -> None:
    from clinic.access.policy import SAFETY_CARRY_OVER

    counsellor = actor(Role.COUNSELLOR)
    carried = (
        ("incident", "incident-details"),
        ("incident", "assailant"),
        ("history", "acts-described"),
        ("injuries", "injury"),
    )
    others = (
        ("history", "post-assault-activities"),  # her account, not in the table
        ("incident", "narrative"),
        ("strangulation", "strangulation"),
        ("strangulation-signs", "strangulation-signs"),
        ("anogenital", "anogenital-findings"),
        ("laboratory", "lab-result"),
        ("injuries", "injury-narrative"),
    )
    for section, code in carried:
        assert decide(
            counsellor,
            Action.READ,
            "Observation",
            _exam_observation(section, code),
            operation=SAFETY_CARRY_OVER,
            consents=_NoConsents(),
        ).permitted, (section, code)
    # Her mental state is in the table, but read only when her consent permits the
    # counselling team (none here): refused, as the rest of her exam is.
    for section, code in (*others, ("mental-state", "mental-state-safety")):
        decision = decide(
            counsellor,
            Action.READ,
            "Observation",
            _exam_observation(section, code),
            operation=SAFETY_CARRY_OVER,
            consents=_NoConsents(),
        )
        assert not decision.permitted, (section, code)
        assert decision.concealed
    # An Observation that is no exam answer at all (no encounter) is refused too.
    bare = ResourceFacts("Observation", "x", site_id=NORTH, subject="Patient/p1")
    assert not decide(
        counsellor,
        Action.READ,
        "Observation",
        bare,
        operation=SAFETY_CARRY_OVER,
        consents=_NoConsents(),
    ).permitted


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("log_name", ["audit", "custody", "other", None])
def test_who_may_read_a_logs_checkpoints_and_proofs(role: Role, log_name: str | None) -> None:
    readers = {
        "audit": {Role.AUDITOR},
        "custody": {Role.EXAMINER, Role.CUSTODIAN, Role.POLICE, Role.AUDITOR},
    }
    decision = decide(actor(role), Action.READ, "LogCheckpoint", operation=log_name)
    assert decision.permitted == (role in readers.get(log_name or "", set()))
    for action in (Action.SEARCH, Action.CREATE, Action.UPDATE, Action.EXPORT):
        assert not decide(actor(role), action, "LogCheckpoint", operation=log_name).permitted
