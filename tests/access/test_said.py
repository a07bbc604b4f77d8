"""Every reason the decision point can write has a shape it is read back by
(clinic.access.said), so that a screen can say a recorded reason in its reader's
language. The reasons are read from the source of the policy and of her Consents'
evaluation: a new reason written there without a shape fails here."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic.access import Action, Actor, ResourceFacts, Role, decide
from clinic.access import consent as consent_module
from clinic.access import policy as policy_module
from clinic.access.policy import KNOWN_KINDS, EmergencyAccess
from clinic.access.said import REASON_SHAPES, read_back

# A value for each expression the reasons' f-strings are made of. An f-string
# with an expression not listed here fails the test: give it a value a record
# could hold.
SAMPLES = {
    "actor.role": "examiner",
    "action": "read",
    "kind": "Patient",
    "resource.kind": "Observation",
    "scope": "own-site",
    "only[0]": "label-lookup",
    "operation": "audit",
    "grant.grant_id": "5f0c2f4e-7d1e-4c49-9a55-0b6f3c1d2e3a",
    "grant.until.isoformat()": "2026-12-07T22:00:00+00:00",
    "f.consent_id": "0a83685f-4cba-4978-9345-b9f821cf3d19",
    "f.form": "information-sharing/v1",
    "f.item or '?'": "gp",
    "f.verdict": "deny",
}


def _text(node: ast.expr) -> str:
    """The reason a constant or f-string writes, with SAMPLES for its values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "N_":
        return _text(node.args[0])
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                expression = ast.unparse(value.value)
                assert expression in SAMPLES, f"no sample value for {{{expression}}}"
                parts.append(SAMPLES[expression])
            else:
                parts.append(_text(value))
        return "".join(parts)
    raise AssertionError(f"a reason written as {ast.unparse(node)}: give it a shape here")


def _assigned(tree: ast.AST, name: str) -> list[ast.expr]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]


def _reasons(node: ast.expr, function: ast.AST, module: ast.Module) -> Iterator[str]:
    """The reasons a Decision's `reasons` expression can hold. Reasons carried from
    her Consents' evaluation (`result.reasons`) are read in consent.py."""
    if isinstance(node, ast.Tuple):
        for element in node.elts:
            yield from _reasons(element, function, module)
    elif isinstance(node, ast.Starred):
        yield from _reasons(node.value, function, module)
    elif isinstance(node, ast.IfExp):
        yield from _reasons(node.body, function, module)
        yield from _reasons(node.orelse, function, module)
    elif isinstance(node, ast.Attribute) and node.attr == "reasons":
        return
    elif isinstance(node, ast.Name):
        values = _assigned(function, node.id) or _assigned(module, node.id)
        assert values, f"reason {node.id} is assigned nowhere"
        for value in values:
            yield from _reasons(value, function, module)
    else:
        yield _text(node)


def policy_reasons() -> set[str]:
    module = ast.parse(Path(policy_module.__file__).read_text())
    found: set[str] = set()
    for function in ast.walk(module):
        if not isinstance(function, ast.FunctionDef):
            continue
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and ast.unparse(call.func) == "Decision"):
                continue
            given = dict(zip(("permitted", "reasons"), call.args, strict=False))
            given.update({k.arg: k.value for k in call.keywords if k.arg})
            found.update(_reasons(given["reasons"], function, module))
    return found


def consent_reasons() -> set[str]:
    """What `ConsentDecision.reasons` returns: every string it is written with."""
    module = ast.parse(Path(consent_module.__file__).read_text())
    (prop,) = (
        node
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef) and node.name == "reasons"
    )
    within = {
        id(part)
        for node in ast.walk(prop)
        if isinstance(node, ast.JoinedStr)
        for part in ast.walk(node)
        if part is not node
    }
    return {
        _text(node)
        for node in ast.walk(prop)
        if id(node) not in within
        and (
            isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value)
        )
    } - {ast.get_docstring(prop) or ""}


def test_the_source_is_read() -> None:
    reasons = policy_reasons()
    assert len(reasons) >= 20
    assert "role examiner may read Patient (own-site)" in reasons
    assert "declined in her consent" in reasons
    assert consent_reasons() == {
        "no active consent permits this",
        "consent Consent/0a83685f-4cba-4978-9345-b9f821cf3d19 "
        "(information-sharing/v1, item gp) says deny",
    }


@pytest.mark.parametrize("reason", sorted(policy_reasons() | consent_reasons()))
def test_every_reason_the_policy_writes_has_a_shape(reason: str) -> None:
    assert read_back(reason) is not None, f"no shape reads back {reason!r}"


def test_a_reason_of_another_shape_is_not_read() -> None:
    assert read_back("role examiner may read Patient") is None
    assert read_back("role wizard may read Patient (own-site)") is None  # not a role
    assert read_back("role examiner may juggle Patient (own-site)") is None
    assert read_back("break-glass access 1 until tomorrow") is None
    assert read_back("") is None


def test_each_shape_reads_what_it_says() -> None:
    sentence = read_back("role counsellor may search CarePlan (own-site)")
    assert sentence is not None
    assert sentence.message == REASON_SHAPES[0].message
    # The values as recorded, each said in the reader's language where it is a word.
    assert str(sentence) == "role counsellor may search CarePlan (own-site)"
    assert sentence.values["kind"] == "CarePlan"


def _every_decision() -> Iterator[str]:
    """The reasons `decide` gives every role, for every action on every kind, at
    kind level and on a record of her site and of another."""
    now = datetime.now(UTC)
    for role, action, kind in itertools.product(Role, Action, sorted(KNOWN_KINDS)):
        who = Actor(
            "u1",
            "someone",
            role,
            "north",
            expert_subject="Patient/p1",
            expert_name="Dr Expert",
            access_until=now + timedelta(days=1),
            emergency=(EmergencyAccess("g1", "Patient/p1", "south", now + timedelta(hours=1)),),
        )
        yield from decide(who, action, kind).reasons
        for site in ("north", "south"):
            record = ResourceFacts(kind, "r1", site_id=site, subject="Patient/p1")
            yield from decide(who, action, kind, record).reasons


def test_every_decision_reads_back() -> None:
    unread = {reason for reason in _every_decision() if read_back(reason) is None}
    assert not unread
