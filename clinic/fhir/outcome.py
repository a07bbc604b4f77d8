"""OperationOutcome: every error the FHIR API returns, and the exception that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue. `code` is from http://hl7.org/fhir/issue-type."""

    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.to_fhir() for issue in issues]}


@dataclass
class FhirError(Exception):
    """An error answered with an OperationOutcome and an HTTP status."""

    status: int
    issues: list[Issue]
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__("; ".join(issue.diagnostics for issue in self.issues))

    @classmethod
    def single(
        cls, status: int, code: str, diagnostics: str, *expression: str, **headers: str
    ) -> FhirError:
        return cls(status, [Issue(code, diagnostics, tuple(expression))], dict(headers))

    def at_entry(self, index: int) -> FhirError:
        """The same error, located inside entry `index` of a transaction Bundle."""
        prefix = f"Bundle.entry[{index}].resource"
        issues = [
            Issue(
                issue.code,
                f"entry {index}: {issue.diagnostics}",
                tuple(_rebase(expr, prefix) for expr in issue.expression)
                or (f"Bundle.entry[{index}]",),
                issue.severity,
            )
            for issue in self.issues
        ]
        return FhirError(self.status, issues, self.headers)


def _rebase(expression: str, prefix: str) -> str:
    _, _, rest = expression.partition(".")
    return f"{prefix}.{rest}" if rest else prefix


def not_found(resource_type: str, logical_id: str) -> FhirError:
    """The one answer for both "no such record" and "not yours to see" (promise 2)."""
    return FhirError.single(404, "not-found", f"{resource_type}/{logical_id} is not known")
