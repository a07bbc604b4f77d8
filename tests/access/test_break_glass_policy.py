"""Break-glass at the decision point: an examiner's live grant for one case turns a
refusal for another site, or for her consent, into a read with the obligation to
audit it as break-glass; nothing else (docs/design.md section 4a)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from clinic.access import Action, Actor, ResourceFacts, Role, decide
from clinic.access.consent import Directive, Provision, Recipient, Verdict
from clinic.access.policy import (
    BREAK_GLASS,
    COLLECT,
    RELEASE,
    EmergencyAccess,
)
from clinic.access.terms import VERY_RESTRICTED

NORTH, SOUTH = "site-north", "site-south"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HER = "Patient/p-south"


def _actor(role: Role, *, until: datetime = NOW + timedelta(hours=4), site: str = SOUTH) -> Actor:
    grant = EmergencyAccess("g1", HER, site, until)
    return Actor("u1", "someone", role, NORTH, emergency=(grant,))


class _Consents:
    def __init__(self, *directives: Directive) -> None:
        self._directives = list(directives)

    def directives(self, subject: str) -> list[Directive]:
        return self._directives if subject == HER else []


NONE = _Consents()
# She refused the examiners of her case everything, and the police everything.
REFUSES_ALL = _Consents(
    Directive(
        "c1",
        "information-sharing/v1",
        True,
        (
            Provision(
                Verdict.DENY,
                item="no-one",
                recipients=frozenset(
                    {Recipient("case-examiner"), Recipient("police"), Recipient("*")}
                ),
            ),
        ),
    )
)


def _facts(
    kind: str = "Patient", site: str = SOUTH, subject: str = HER, **extra: object
) -> ResourceFacts:
    return ResourceFacts(kind, "r1", site_id=site, subject=subject, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", [Action.READ, Action.SEARCH])
@pytest.mark.parametrize("kind", ["Patient", "EpisodeOfCare", "Encounter", "Observation", "Media"])
def test_a_live_grant_opens_the_case_of_another_site_to_read(kind: str, action: Action) -> None:
    decision = decide(_actor(Role.EXAMINER), action, kind, _facts(kind), consents=NONE, at=NOW)
    assert decision.permitted
    assert BREAK_GLASS in decision.obligations
    assert decision.reasons[0].startswith("break-glass access g1 until ")


def test_without_a_grant_the_other_site_stays_closed() -> None:
    examiner = dataclasses.replace(_actor(Role.EXAMINER), emergency=())
    refused = decide(examiner, Action.READ, "Patient", _facts(), consents=NONE, at=NOW)
    assert not refused.permitted
    assert refused.concealed


def test_a_grant_opens_what_her_consent_denies_the_care_team() -> None:
    examiner = _actor(Role.EXAMINER, site=NORTH)
    facts = _facts("Observation", site=NORTH)
    plain = dataclasses.replace(examiner, emergency=())
    assert not decide(
        plain, Action.READ, "Observation", facts, consents=REFUSES_ALL, at=NOW
    ).permitted
    decision = decide(examiner, Action.READ, "Observation", facts, consents=REFUSES_ALL, at=NOW)
    assert decision.permitted
    assert BREAK_GLASS in decision.obligations


def test_an_expired_grant_opens_nothing_checked_at_the_decision() -> None:
    examiner = _actor(Role.EXAMINER, until=NOW + timedelta(minutes=1))
    assert decide(examiner, Action.READ, "Patient", _facts(), consents=NONE, at=NOW).permitted
    later = NOW + timedelta(minutes=2)
    refused = decide(examiner, Action.READ, "Patient", _facts(), consents=NONE, at=later)
    assert not refused.permitted
    assert refused.concealed


def test_a_grant_for_one_case_does_not_open_another() -> None:
    examiner = _actor(Role.EXAMINER)
    other = _facts(subject="Patient/someone-else")
    assert not decide(examiner, Action.READ, "Patient", other, consents=NONE, at=NOW).permitted
    # Her subject, but a record claiming another site than the case's: refused.
    moved = _facts(site="site-east")
    assert not decide(examiner, Action.READ, "Patient", moved, consents=NONE, at=NOW).permitted


@pytest.mark.parametrize("action", [Action.CREATE, Action.UPDATE, Action.EXPORT])
def test_a_grant_is_for_reading_only(action: Action) -> None:
    decision = decide(
        _actor(Role.EXAMINER), action, "Observation", _facts("Observation"), consents=NONE, at=NOW
    )
    assert not decision.permitted


def test_a_grant_never_opens_intimate_images_nor_counselling_notes() -> None:
    examiner = _actor(Role.EXAMINER)
    intimate = _facts("Media", security_labels=frozenset({VERY_RESTRICTED}))
    assert not decide(examiner, Action.READ, "Media", intimate, consents=NONE, at=NOW).permitted
    notes = _facts("DocumentReference")
    assert not decide(
        examiner, Action.READ, "DocumentReference", notes, consents=NONE, at=NOW
    ).permitted


def test_a_grant_does_not_apply_under_a_named_operation() -> None:
    examiner = _actor(Role.EXAMINER)
    specimen = _facts("Specimen")
    assert not decide(
        examiner, Action.CREATE, "Specimen", specimen, operation=COLLECT, consents=NONE, at=NOW
    ).permitted


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.EXAMINER])
def test_only_examiners_are_helped_by_a_grant(role: Role) -> None:
    """Even were a grant put on another role's actor, it would open nothing."""
    someone = _actor(role)
    for kind in ("Patient", "EpisodeOfCare", "Observation", "Consent", "CarePlan"):
        assert not decide(someone, Action.READ, kind, _facts(kind), consents=NONE, at=NOW).permitted


def test_break_glass_never_widens_what_police_receive_nor_overrides_her_refusal() -> None:
    officer = dataclasses.replace(_actor(Role.POLICE), organization_id="riverpol")
    facts = _facts("Observation")
    release = decide(
        officer,
        Action.EXPORT,
        "Observation",
        facts,
        operation=RELEASE,
        consents=REFUSES_ALL,
        at=NOW,
    )
    assert not release.permitted
    assert release.concealed
    plain = dataclasses.replace(officer, emergency=())
    assert (
        decide(
            plain,
            Action.EXPORT,
            "Observation",
            facts,
            operation=RELEASE,
            consents=REFUSES_ALL,
            at=NOW,
        )
        == release
    )
    # An examiner with a grant asking under the release operation: refused too.
    examiner = _actor(Role.EXAMINER)
    assert not decide(
        examiner, Action.EXPORT, "Observation", facts, operation=RELEASE, consents=NONE, at=NOW
    ).permitted


def test_only_examiners_may_break_the_glass_and_only_auditors_review() -> None:
    for role in Role:
        plain = Actor("u", "x", role, NORTH)
        assert decide(plain, Action.CREATE, "BreakGlassGrant").permitted == (role is Role.EXAMINER)
        assert decide(plain, Action.UPDATE, "BreakGlassGrant").permitted == (role is Role.AUDITOR)
        assert decide(plain, Action.SEARCH, "BreakGlassGrant").permitted == (role is Role.AUDITOR)
