"""The FHIR API's explicit limits on what one request may ask of the server.

Each is far above what a real resource or search needs and far below what would
make a request slow or expensive: a body or a search beyond one is refused before
anything is looked up or written, with an OperationOutcome that names the limit.
The body size itself is `MAX_CONTENT_LENGTH` (413, in the web base).
"""

from __future__ import annotations

from typing import Any

from clinic.fhir.outcome import FhirError, Issue

# Objects and arrays nested in one body (a FHIR resource needs about a dozen; a
# QuestionnaireResponse with nested items a few dozen).
MAX_JSON_DEPTH = 64
# Items in any one JSON array (a transaction Bundle's entries included).
MAX_ARRAY_LENGTH = 1000
# Identifiers on one resource: each is a search index row.
MAX_IDENTIFIERS = 20
# Comma-separated values in one search parameter, and parameters in one search.
MAX_VALUES_PER_PARAMETER = 100
MAX_SEARCH_PARAMETERS = 30


def check_body_limits(body: Any) -> None:
    """Refuse a parsed body that is nested too deep (400), has an array too long
    (422) or a resource with too many identifiers (422). Walked without recursion."""
    pending: list[tuple[Any, str, int]] = [(body, _root_name(body), 1)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            identifiers = item.get("identifier")
            if (
                "resourceType" in item
                and isinstance(identifiers, list)
                and len(identifiers) > MAX_IDENTIFIERS
            ):
                raise FhirError.single(
                    422,
                    "too-costly",
                    f"a resource may have at most {MAX_IDENTIFIERS} identifiers; "
                    f"this one has {len(identifiers)}",
                    f"{where}.identifier",
                )
            pending.extend((child, f"{where}.{key}", depth + 1) for key, child in item.items())
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            if len(item) > MAX_ARRAY_LENGTH:
                raise FhirError.single(
                    422,
                    "too-costly",
                    f"an array may hold at most {MAX_ARRAY_LENGTH} items; "
                    f"this one holds {len(item)}",
                    where,
                )
            # An array is no level of its own in FHIRPath: its items keep its path.
            pending.extend((child, where, depth + 1) for child in item)


def _root_name(body: Any) -> str:
    name = body.get("resourceType") if isinstance(body, dict) else None
    return name if isinstance(name, str) and name.isidentifier() else "$this"


def _too_deep() -> FhirError:
    return FhirError(
        400,
        [
            Issue(
                "structure",
                f"the body is nested deeper than {MAX_JSON_DEPTH} levels, "
                "deeper than any FHIR resource",
            )
        ],
    )


def check_search_size(args: list[tuple[str, str]]) -> None:
    """Refuse a search with too many parameters or too many values in one (400)."""
    if len(args) > MAX_SEARCH_PARAMETERS:
        raise FhirError.single(
            400,
            "too-costly",
            f"a search may have at most {MAX_SEARCH_PARAMETERS} parameters; "
            f"this one has {len(args)}",
        )
    for name, value in args:
        count = value.count(",") + 1
        if count > MAX_VALUES_PER_PARAMETER:
            raise FhirError.single(
                400,
                "too-costly",
                f"{name} may have at most {MAX_VALUES_PER_PARAMETER} values "
                f"separated by commas; it has {count}",
                name,
            )
