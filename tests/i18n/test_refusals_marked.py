"""Every refusal a service raises for a person to read is marked for translation.

A domain service refuses with an error whose message a screen shows (`said()`):
the message must be a marked constant (`N_("...")`), a sentence
(`sentence("...%(name)s...", name=...)`) or a value made of one. A bare string,
an f-string, `.format()` or English joined with `+` or `%` reaches a French or Spanish screen in
English. The check reads the source (ast): every call of a refusal (a
`DomainError`, `ImageRefused`, or a service's local `refuse(field, message)`)
whose message is written out in place.

Errors only an operator reads at the command line or at start-up (the log's and
media key's tools, configuration files) keep their English, by decision.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import clinic
from clinic import PROJECT_ROOT
from clinic.core.errors import DomainError
from clinic.core.images import ImageRefused

# Modules whose errors only an operator reads (command line, start-up checks).
OPERATORS_ONLY = {
    "clinic/ledger",
    "clinic/media/vault.py",
    "clinic/followup/schedule.py",
    "clinic/followup/site_settings.py",
    "clinic/consent/definitions.py",
    "clinic/fhir/snapshots.py",
    "clinic/fhir/profiles.py",
    "clinic/migrations",
    "clinic/i18n/__init__.py",
}


def _refusal_names() -> set[str]:
    for module in pkgutil.walk_packages(clinic.__path__, "clinic."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    names = {"DomainError", "ImageRefused", "refuse"}
    pending = [DomainError, ImageRefused]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return names


def _written_out(node: ast.expr) -> bool:
    """A message written in place: a string, an f-string, or text joined with +."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _written_out(node.left) or _written_out(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return True  # "..." % values: formatted before any translation
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"format", "join"}  # "...".format(...), MESSAGES[k].format(...)
    return False


def unmarked_refusals(source: str, refusals: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = (
            function.id
            if isinstance(function, ast.Name)
            else function.attr
            if isinstance(function, ast.Attribute)
            else ""
        )
        if name not in refusals:
            continue
        # A local refuse(field, message) names the field first.
        message = node.args[1] if name == "refuse" and len(node.args) > 1 else None
        if name != "refuse":
            message = node.args[0] if node.args else None
        keyword = next((k.value for k in node.keywords if k.arg == "message"), None)
        message = message if message is not None else keyword
        if message is not None and _written_out(message):
            found.append(f"line {node.lineno}: {ast.unparse(message)[:80]}")
    return found


def _service_sources() -> list[Path]:
    return [
        path
        for path in sorted((PROJECT_ROOT / "clinic").rglob("*.py"))
        if not any(
            str(path.relative_to(PROJECT_ROOT)).startswith(prefix) for prefix in OPERATORS_ONLY
        )
    ]


REFUSALS = _refusal_names()


@pytest.mark.parametrize(
    "path", _service_sources(), ids=lambda p: str(p.relative_to(PROJECT_ROOT / "clinic"))
)
def test_every_refusal_a_person_reads_is_marked(path: Path) -> None:
    assert unmarked_refusals(path.read_text(encoding="utf-8"), REFUSALS) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('raise ExamRefused("Record the history.", "history")', 1),
        ('raise ExamRefused(f"{site}: seen only with a speculum", "x")', 1),
        ('raise CaseRefused("leave " + ", ".join(held) + " empty.", held[0])', 1),
        ('refuse("until", "Give the date her permission ends.")', 1),
        ('raise ExamRefused(N_("Record the history."), "history")', 0),
        ('raise ExamRefused(sentence("%(x)s", x=site), "x")', 0),
        ("raise ExamRefused(DECLINED_MESSAGES[part], 'region')", 0),
        ('raise MarkRefused(MESSAGES["no-view"].format(diagram=name), "drawing")', 1),
        ('raise CaseRefused("%s is not a case" % reference)', 1),
        ('raise CaseRefused(message="Give her age.", field="age")', 1),
        ('raise ValueError("not a refusal")', 0),
    ],
)
def test_the_check_finds_refusals_written_out(source: str, expected: int) -> None:
    assert len(unmarked_refusals(source, REFUSALS)) == expected
