"""The decision rule over Consents (docs/design.md section 5), without a database:
table-driven cases over actor x action x purpose x class x label x period x
consent status, and properties that must hold for any Consents at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic.access import Action, Actor, ResourceFacts, Role, decide
from clinic.access.consent import (
    ANYONE,
    ConsentRequest,
    Directive,
    Directives,
    Period,
    Provision,
    Recipient,
    Verdict,
    evaluate,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SITE = "Organization/north"
RIVER = "Organization/river"
HILL = "Organization/hill"
V = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V"
R = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"
PERMIT, DENY = Verdict.PERMIT, Verdict.DENY


def provision(verdict: Verdict, *children: Provision, **criteria: object) -> Provision:
    fields: dict[str, object] = {"verdict": verdict, "children": children, "item": "x"}
    for key in ("actions", "purposes", "classes", "labels", "codes"):
        if key in criteria:
            fields[key] = frozenset(criteria.pop(key))  # type: ignore[arg-type]
    if "recipients" in criteria:
        fields["recipients"] = frozenset(criteria.pop("recipients"))  # type: ignore[arg-type]
    if "period" in criteria:
        fields["period"] = criteria.pop("period")
    assert not criteria, criteria
    return Provision(**fields)  # type: ignore[arg-type]


def consent(*provisions: Provision, active: bool = True, cid: str = "c1") -> Directive:
    return Directive(cid, "form/v1", active, provisions)


RIVER_POLICE = Recipient("police", RIVER)


def request(
    who: Recipient = RIVER_POLICE,
    action: str = "disclose",
    purpose: str = "HLEGAL",
    classes: tuple[str, ...] = ("exam-report",),
    labels: tuple[str, ...] = (R,),
    at: datetime = NOW,
) -> ConsentRequest:
    return ConsentRequest(
        frozenset({who}), action, purpose, frozenset(classes), frozenset(labels), at
    )


REPORT_TO_RIVER = provision(
    PERMIT,
    provision(DENY, classes={"assault-account"}),
    recipients={Recipient("police", RIVER)},
    actions={"disclose"},
    purposes={"HLEGAL"},
    classes={"exam-report"},
    period=Period(NOW - timedelta(days=1), NOW + timedelta(days=30)),
)
INTIMATE_TO_EXAMINERS = provision(
    PERMIT,
    recipients={Recipient("case-examiner", SITE)},
    actions={"access"},
    classes={"intimate-images"},
    labels={V},
)

# (what, consents, request, permitted)
CASES = [
    ("no consent at all", [], request(), False),
    ("the right force, purpose, class and time", [consent(REPORT_TO_RIVER)], request(), True),
    ("another force", [consent(REPORT_TO_RIVER)], request(who=Recipient("police", HILL)), False),
    (
        "a counsellor is not a police force",
        [consent(REPORT_TO_RIVER)],
        request(who=Recipient("counselling-service", RIVER)),
        False,
    ),
    ("another action", [consent(REPORT_TO_RIVER)], request(action="access"), False),
    ("another purpose", [consent(REPORT_TO_RIVER)], request(purpose="TREAT"), False),
    ("another class", [consent(REPORT_TO_RIVER)], request(classes=("evidence-swab",)), False),
    (
        "the nested exception: her account inside the report",
        [consent(REPORT_TO_RIVER)],
        request(classes=("exam-report", "assault-account")),
        False,
    ),
    (
        "after the end date",
        [consent(REPORT_TO_RIVER)],
        request(at=NOW + timedelta(days=31)),
        False,
    ),
    ("before the start", [consent(REPORT_TO_RIVER)], request(at=NOW - timedelta(days=2)), False),
    (
        "on the last moment of the period",
        [consent(REPORT_TO_RIVER)],
        request(at=NOW + timedelta(days=30)),
        True,
    ),
    ("a withdrawn (inactive) consent", [consent(REPORT_TO_RIVER, active=False)], request(), False),
    (
        "a superseded consent alongside the one that replaced it, narrower",
        [
            consent(REPORT_TO_RIVER, active=False, cid="old"),
            consent(
                provision(DENY, recipients={Recipient("police", RIVER)}, classes={"exam-report"}),
                cid="new",
            ),
        ],
        request(),
        False,
    ),
    (
        "two active consents that disagree: deny overrides",
        [
            consent(REPORT_TO_RIVER, cid="release"),
            consent(provision(DENY, recipients={Recipient(ANYONE, RIVER)}), cid="never-share"),
        ],
        request(),
        False,
    ),
    (
        "two active consents, one silent: the permit stands",
        [
            consent(REPORT_TO_RIVER, cid="release"),
            consent(provision(DENY, recipients={Recipient(ANYONE, HILL)}), cid="never-share"),
        ],
        request(),
        True,
    ),
    (
        "a tie at the same depth is deny",
        [
            consent(
                provision(PERMIT, classes={"exam-report"}),
                provision(DENY, actions={"disclose"}),
            )
        ],
        request(),
        False,
    ),
    (
        "the deepest matching provision decides: a nested permit inside a permit",
        [
            consent(
                provision(
                    PERMIT,
                    provision(PERMIT, classes={"assault-account"}),
                    classes={"exam-report"},
                ),
            )
        ],
        request(classes=("exam-report", "assault-account")),
        True,
    ),
    (
        "a label the provision names must be on the record",
        [consent(INTIMATE_TO_EXAMINERS)],
        request(
            who=Recipient("case-examiner", SITE),
            action="access",
            purpose="TREAT",
            classes=("intimate-images",),
            labels=(R,),
        ),
        False,
    ),
    (
        "intimate images to the examiners she named",
        [consent(INTIMATE_TO_EXAMINERS)],
        request(
            who=Recipient("case-examiner", SITE),
            action="access",
            purpose="TREAT",
            classes=("intimate-images",),
            labels=(V,),
        ),
        True,
    ),
    (
        "intimate images: examiners of another site",
        [consent(INTIMATE_TO_EXAMINERS)],
        request(
            who=Recipient("case-examiner", "Organization/south"),
            action="access",
            purpose="TREAT",
            classes=("intimate-images",),
            labels=(V,),
        ),
        False,
    ),
    (
        "a person named only in words matches no one who asks",
        [consent(provision(PERMIT, recipients={Recipient("medical-expert", "#Dr Y")}))],
        request(who=Recipient("medical-expert", None)),
        False,
    ),
]


@pytest.mark.parametrize(
    ("consents", "asked", "permitted"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_rule(consents: list[Directive], asked: ConsentRequest, permitted: bool) -> None:
    decision = evaluate(consents, asked)
    assert decision.permitted is permitted
    assert decision.reasons  # every decision says why


# -- properties -----------------------------------------------------------------------

recipients = st.sampled_from(
    [
        Recipient("police", RIVER),
        Recipient("police", HILL),
        Recipient("counselling-service", SITE),
        Recipient(ANYONE, HILL),
    ]
)
classes = st.sampled_from(
    ["exam-report", "assault-account", "identity", "evidence-swab", "intimate-images"]
)
periods = st.sampled_from(
    [
        Period(),
        Period(NOW - timedelta(days=1), NOW + timedelta(days=1)),
        Period(None, NOW - timedelta(days=1)),
    ]
)


def _criteria() -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "recipients": st.frozensets(recipients, max_size=2),
            "actions": st.frozensets(st.sampled_from(["access", "disclose"]), max_size=2),
            "purposes": st.frozensets(st.sampled_from(["TREAT", "HLEGAL"]), max_size=2),
            "classes": st.frozensets(classes, max_size=2),
            "labels": st.frozensets(st.sampled_from([R, V]), max_size=1),
            "period": periods,
        },
    )


provisions = st.recursive(
    st.builds(
        lambda verdict, c: Provision(verdict, **c), st.sampled_from(list(Verdict)), _criteria()
    ),
    lambda children: st.builds(
        lambda verdict, c, kids: Provision(verdict, children=tuple(kids), **c),
        st.sampled_from(list(Verdict)),
        _criteria(),
        st.lists(children, max_size=3),
    ),
    max_leaves=8,
)
directives = st.builds(
    lambda ps, active, n: Directive(f"c{n}", "form/v1", active, tuple(ps)),
    st.lists(provisions, min_size=1, max_size=3),
    st.booleans(),
    st.integers(0, 1000),
)
requests = st.builds(
    lambda who, action, purpose, cls, labels: ConsentRequest(
        frozenset({who}), action, purpose, frozenset(cls), frozenset(labels), NOW
    ),
    recipients.filter(lambda r: r.kind != ANYONE),
    st.sampled_from(["access", "disclose"]),
    st.sampled_from(["TREAT", "HLEGAL"]),
    st.frozensets(classes, min_size=1, max_size=2),
    st.frozensets(st.sampled_from([R, V]), min_size=1, max_size=2),
)
denies = st.builds(lambda c: Provision(Verdict.DENY, **c), _criteria())


def _add_deny(directive: Directive, deny: Provision, path: list[int]) -> Directive:
    """The directive with `deny` added at a place chosen by `path` (top level or
    nested anywhere below)."""

    def place(nodes: tuple[Provision, ...], steps: list[int]) -> tuple[Provision, ...]:
        if not steps or not nodes:
            return (*nodes, deny)
        index = steps[0] % (len(nodes) + 1)
        if index == len(nodes):
            return (*nodes, deny)
        node = nodes[index]
        changed = Provision(
            node.verdict,
            node.item,
            node.recipients,
            node.actions,
            node.purposes,
            node.classes,
            node.codes,
            node.labels,
            node.period,
            place(node.children, steps[1:]),
        )
        return (*nodes[:index], changed, *nodes[index + 1 :])

    return Directive(
        directive.consent_id, directive.form, directive.active, place(directive.provisions, path)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(directives, max_size=3),
    requests,
    denies,
    st.lists(st.integers(0, 5), max_size=4),
    st.integers(0, 3),
)
def test_adding_a_deny_never_grants_anything(
    consents: list[Directive], asked: ConsentRequest, deny: Provision, path: list[int], which: int
) -> None:
    before = evaluate(consents, asked).permitted
    if consents:
        index = which % len(consents)
        changed = [
            *consents[:index],
            _add_deny(consents[index], deny, path),
            *consents[index + 1 :],
        ]
    else:
        changed = [Directive("new", "form/v1", True, (deny,))]
    after = evaluate(changed, asked).permitted
    assert not (after and not before)


@settings(max_examples=200, deadline=None)
@given(st.lists(directives, max_size=3), requests, denies)
def test_adding_a_deny_consent_never_grants_anything(
    consents: list[Directive], asked: ConsentRequest, deny: Provision
) -> None:
    before = evaluate(consents, asked).permitted
    after = evaluate([*consents, Directive("extra", "form/v1", True, (deny,))], asked).permitted
    assert not (after and not before)


@settings(max_examples=200, deadline=None)
@given(requests)
def test_no_consent_is_always_deny(asked: ConsentRequest) -> None:
    assert evaluate([], asked).permitted is False


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        directives.map(lambda d: Directive(d.consent_id, d.form, False, d.provisions)), max_size=3
    ),
    requests,
)
def test_inactive_consents_never_grant(consents: list[Directive], asked: ConsentRequest) -> None:
    assert evaluate(consents, asked).permitted is False


# -- the decision point with consents ---------------------------------------------------


class Book:
    def __init__(self, *directives: Directive) -> None:
        self._directives = directives

    def directives(self, subject: str) -> tuple[Directive, ...]:
        return self._directives if subject == "Patient/p1" else ()


COUNSELLOR = Actor("u1", "counsellor", Role.COUNSELLOR, "north")
EXAMINER = Actor("u2", "examiner", Role.EXAMINER, "north")
POLICE = Actor("u3", "officer", Role.POLICE, "river")
SHARE_IDENTITY = consent(
    provision(
        PERMIT,
        recipients={Recipient("counselling-service", SITE)},
        actions={"access"},
        purposes={"TREAT"},
        classes={"identity"},
    )
)


def facts(
    kind: str = "Patient",
    classes: tuple[str, ...] = ("identity",),
    labels: tuple[str, ...] = (R,),
    site: str = "north",
) -> ResourceFacts:
    return ResourceFacts(
        kind,
        "p1",
        site_id=site,
        subject="Patient/p1",
        data_classes=frozenset(classes),
        security_labels=frozenset(labels),
    )


@pytest.mark.parametrize(
    ("actor", "action", "resource", "book", "permitted"),
    [
        (COUNSELLOR, Action.READ, facts(), Book(), False),
        (COUNSELLOR, Action.READ, facts(), Book(SHARE_IDENTITY), True),
        (COUNSELLOR, Action.EXPORT, facts(), Book(SHARE_IDENTITY), True),
        (COUNSELLOR, Action.UPDATE, facts(), Book(SHARE_IDENTITY), False),
        (COUNSELLOR, Action.READ, facts(site="south"), Book(SHARE_IDENTITY), False),
        (
            COUNSELLOR,
            Action.READ,
            facts("Composition", ("exam-report",)),
            Book(SHARE_IDENTITY),
            False,
        ),
        (COUNSELLOR, Action.READ, facts(), None, False),
        (EXAMINER, Action.READ, facts(), Book(), True),
        (EXAMINER, Action.READ, facts(), None, False),
        (EXAMINER, Action.READ, facts("Observation", ("intimate-images",), (V,)), Book(), False),
        (
            EXAMINER,
            Action.READ,
            facts("Observation", ("intimate-images",), (V,)),
            Book(consent(INTIMATE_TO_EXAMINERS)),
            True,
        ),
        (
            EXAMINER,
            Action.READ,
            facts(),
            Book(consent(provision(DENY, recipients={Recipient(ANYONE, SITE)}))),
            False,
        ),
        (POLICE, Action.READ, facts(), Book(consent(REPORT_TO_RIVER)), False),
    ],
    ids=[
        "counsellor, no consent",
        "counsellor, identity shared",
        "counsellor export, identity shared",
        "counsellor may not write by consent",
        "counsellor of another site",
        "counsellor, report not shared",
        "counsellor, consents not consulted",
        "examiner, care team baseline",
        "examiner, consents not consulted",
        "examiner, intimate image without her permit",
        "examiner, intimate image she permits",
        "examiner, an explicit deny narrows the baseline",
        "police never read directly (releases only)",
    ],
)
def test_decision_point_combines_baseline_and_consent(
    actor: Actor, action: Action, resource: ResourceFacts, book: Book | None, permitted: bool
) -> None:
    decision = decide(actor, action, resource.kind, resource, consents=book, at=NOW)
    assert decision.permitted is permitted
    assert decision.reasons
    if not permitted and decide(actor, action, resource.kind).permitted:
        assert decision.concealed  # a refused record looks like a missing one


def test_access_by_consent_carries_the_narrative_obligation() -> None:
    by_consent = decide(
        COUNSELLOR, Action.READ, "Patient", facts(), consents=Book(SHARE_IDENTITY), at=NOW
    )
    by_baseline = decide(EXAMINER, Action.READ, "Patient", facts(), consents=Book(), at=NOW)
    assert by_consent.obligations == ("omit-narrative",)
    assert by_baseline.obligations == ()
    assert any("Consent/c1" in reason for reason in by_consent.reasons)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(Role)),
    st.sampled_from(
        [
            "Patient",
            "Encounter",
            "Observation",
            "MedicationAdministration",
            "Composition",
            "Specimen",
        ]
    ),
    st.sampled_from([Action.READ, Action.SEARCH, Action.EXPORT]),
    st.frozensets(classes, max_size=3),
    st.frozensets(st.sampled_from([R, V]), max_size=2),
    st.sampled_from(["north", "south"]),
)
def test_without_her_consent_nothing_beyond_the_care_teams_baseline_is_ever_permitted(
    role: Role, kind: str, action: Action, data: frozenset[str], labels: frozenset[str], site: str
) -> None:
    who = Actor("u", "someone", role, "north")
    record = ResourceFacts(
        kind, "r", site_id=site, subject="Patient/p1", data_classes=data, security_labels=labels
    )
    decision = decide(who, action, kind, record, consents=Book(), at=NOW)
    if decision.permitted:
        # Only the examiners of her site, by their baseline, never intimate images.
        assert role is Role.EXAMINER
        assert site == "north"
        assert V not in labels
        assert decision.obligations == ()


@settings(max_examples=200, deadline=None)
@given(st.lists(directives, max_size=3), st.lists(requests, min_size=1, max_size=6))
def test_her_consents_read_once_answer_every_question_as_a_fresh_evaluation(
    consents: list[Directive], asked: list[ConsentRequest]
) -> None:
    """The answers kept with a unit of work's Directives are exactly those of a
    fresh evaluation, whatever the order of the questions and however often one
    is asked again: a kept answer never stands for another request."""
    kept = Directives(consents)
    for question in [*asked, *reversed(asked)]:
        assert evaluate(kept, question) == evaluate(list(consents), question)
    assert len(kept.decisions) == len(set(asked))


def test_a_kept_answer_is_for_its_own_moment() -> None:
    """The same question a moment after her permit ended is refused, although the
    same Directives answered it with a permit a moment before."""
    kept = Directives([consent(REPORT_TO_RIVER)])
    ends = NOW + timedelta(days=30)
    assert evaluate(kept, request(at=ends)).permitted
    assert not evaluate(kept, request(at=ends + timedelta(seconds=1))).permitted
    assert evaluate(kept, request(at=ends)).permitted


def test_a_reading_keeps_a_bounded_number_of_answers() -> None:
    """An export asks at a new moment for each record: the answers kept stop at
    KEPT_ANSWERS, and every answer beyond is still a fresh evaluation."""
    from clinic.access.consent import KEPT_ANSWERS

    kept = Directives([consent(REPORT_TO_RIVER)])
    moments = [NOW + timedelta(seconds=n) for n in range(KEPT_ANSWERS + 10)]
    moments.append(NOW + timedelta(days=31))  # after her permit ended
    answers = [evaluate(kept, request(at=moment)).permitted for moment in moments]
    assert len(kept.decisions) == KEPT_ANSWERS
    assert answers == [True] * (KEPT_ANSWERS + 10) + [False]
