"""Everything a resource must pass before the store accepts it.

1. structure and datatypes (fhir.resources R4B)          -> 400
2. what the store never accepts (contained resources,    -> 422
   unsafe narrative)
3. the base specification's required code bindings        -> 422
4. the base specification's FHIRPath invariants           -> 422
5. our profile for the type, from fhir_profiles/          -> 422

Every problem found is reported, each with the element it concerns.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from clinic.fhir.invariants import ElementIndex, base_invariants, check_invariants
from clinic.fhir.outcome import FhirError, Issue

if TYPE_CHECKING:
    from clinic.fhir.profiles import ProfileRegistry

_XHTML = "{http://www.w3.org/1999/xhtml}"
# txt-1: the narrative is basic XHTML only; nothing active.
_NARRATIVE_ELEMENTS = {
    "div",
    "p",
    "b",
    "i",
    "em",
    "strong",
    "small",
    "big",
    "tt",
    "sub",
    "sup",
    "br",
    "hr",
    "span",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "caption",
    "colgroup",
    "col",
    "pre",
    "code",
    "blockquote",
    "q",
    "cite",
    "abbr",
    "acronym",
    "address",
    "a",
    "img",
}


# Required bindings whose codes fhir.resources lists only in part ("... | +"), in
# full from the R4B value sets (ObservationStatus, TaskStatus).
COMPLETE_CODES = {
    "Observation.status": (
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    ),
    "Task.status": (
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    ),
}


def parse_structure(data: Any, expected_type: str | None = None) -> BaseModel:
    """Parse with fhir.resources R4B; refuse with 400 naming each bad element."""
    if not isinstance(data, dict):
        raise FhirError.single(400, "structure", "the body is not a JSON object")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise FhirError.single(400, "structure", "resourceType is missing", "resourceType")
    if expected_type is not None and resource_type != expected_type:
        raise FhirError.single(
            400,
            "invalid",
            f"resourceType is {resource_type} but this endpoint takes {expected_type}",
            "resourceType",
        )
    try:
        model_class = get_fhir_model_class(resource_type)
    except (KeyError, ValueError) as error:
        raise FhirError.single(
            400, "not-supported", f"{resource_type} is not a FHIR R4B resource type", "resourceType"
        ) from error
    try:
        model: BaseModel = model_class.model_validate(data)
    except ValidationError as error:
        issues = [
            Issue(
                "structure",
                f"{_location(resource_type, err['loc'])}: {err['msg']}",
                (_location(resource_type, err["loc"]),),
            )
            for err in error.errors()
        ]
        raise FhirError(400, issues) from error
    return model


def check_definition(data: dict[str, Any]) -> list[Issue]:
    """Structure and the base specification's required codes, for conformance
    resources (profiles, value sets) that are not stored as records."""
    try:
        model = parse_structure(data)
    except FhirError as error:
        return error.issues
    return _check_required_codes(model, data["resourceType"])


_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def control_character_issues(value: Any, path: str) -> list[Issue]:
    """FHIR strings hold no character below U+0020 but tab, carriage return and line
    feed (a NUL, for one). Walked without recursion: the body may be deep."""
    issues: list[Issue] = []
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if _CONTROL_CHARACTER.search(item) or _CONTROL_CHARACTER.search(where):
                issues.append(
                    Issue(
                        "value",
                        "a string may not hold control characters (only tab, CR and LF)",
                        (where,),
                    )
                )
        elif isinstance(item, dict):
            pending.extend((child, f"{where}.{key}") for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return issues


def validate_resource(
    data: dict[str, Any], registry: ProfileRegistry, *, released: bool = False
) -> BaseModel:
    """Run every check and raise one FhirError listing all problems found. With
    `released`, the resource is checked as a release bundle holds it: against the
    released profile of its type where one exists (never on a write)."""
    model = parse_structure(data)
    resource_type = data["resourceType"]
    issues: list[Issue] = []
    if data.get("contained"):
        issues.append(
            Issue(
                "business-rule",
                "contained resources are not accepted: submit each resource on its own",
                (f"{resource_type}.contained",),
            )
        )
    issues.extend(_check_narrative(resource_type, data))
    issues.extend(_check_required_codes(model, resource_type))
    index = ElementIndex(data)  # the elements present, for every rule below to skip absent ones
    for violation in check_invariants(data, base_invariants().get(resource_type, ()), index):
        reason = "could not be evaluated" if violation.could_not_evaluate else "is violated"
        issues.append(
            Issue(
                "invariant", f"{violation.key} {reason}: {violation.human}", (violation.location,)
            )
        )
    profile_url = registry.default_profiles.get(resource_type)
    if released:
        profile_url = registry.released_profiles.get(resource_type, profile_url)
    if profile_url is None:
        issues.append(
            Issue("not-supported", f"{resource_type} is not held by this server", ("resourceType",))
        )
    else:
        checked: list[str] = [profile_url]
        for claimed in data.get("meta", {}).get("profile", []):
            known = registry.profiles.get(claimed)
            if known is None or profile_url not in registry.lineage(claimed):
                issues.append(
                    Issue(
                        "not-supported",
                        f"profile {claimed} is not supported here; {resource_type} conforms to "
                        + " or ".join([profile_url, *registry.specialisations(resource_type)]),
                        (f"{resource_type}.meta.profile",),
                    )
                )
                continue
            checked.extend(url for url in registry.lineage(claimed) if url not in checked)
        for url in checked:
            issues.extend(registry.validate(data, url, index))
    if issues:
        raise FhirError(422, issues)
    return model


def _location(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",):
            path += f".{part}"
    return path


def _check_required_codes(model: BaseModel, path: str) -> list[Issue]:
    """Codes bound `required` in the base specification (fhir.resources lists them
    as `enum_values` but does not check them)."""
    issues: list[Issue] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        enum_values = extra.get("enum_values")
        allowed = [str(code) for code in enum_values] if isinstance(enum_values, list) else []
        if "+" in allowed:
            # fhir.resources took the list from an abbreviated definition ("a | b | +"):
            # use the complete required value set from the specification instead.
            allowed = list(COMPLETE_CODES.get(f"{type(model).__name__}.{field.alias or name}", ()))
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            element = f"{path}.{field.alias or name}" + (
                f"[{index}]" if isinstance(value, list) else ""
            )
            if allowed and isinstance(item, str) and item not in allowed:
                issues.append(
                    Issue(
                        "code-invalid",
                        f"{element}: '{item}' is not one of {', '.join(allowed)}",
                        (element,),
                    )
                )
            elif isinstance(item, BaseModel):
                issues.extend(_check_required_codes(item, element))
    return issues


def _check_narrative(resource_type: str, data: dict[str, Any]) -> list[Issue]:
    div = (data.get("text") or {}).get("div")
    if div is None:
        return []
    where = (f"{resource_type}.text.div",)
    try:
        root = ElementTree.fromstring(div)  # noqa: S314 - entities are refused below
    except ElementTree.ParseError as error:
        return [
            Issue("invariant", f"txt-1: the narrative is not well-formed XHTML ({error})", where)
        ]
    if "<!DOCTYPE" in div or "<!ENTITY" in div:
        return [
            Issue("invariant", "txt-1: the narrative may not declare a DOCTYPE or entities", where)
        ]
    if root.tag != f"{_XHTML}div":
        return [Issue("invariant", "txt-1: the narrative must be an XHTML div", where)]
    for element in root.iter():
        local = element.tag.removeprefix(_XHTML)
        if local not in _NARRATIVE_ELEMENTS:
            return [Issue("invariant", f"txt-1: <{local}> is not allowed in a narrative", where)]
        for attribute, value in element.attrib.items():
            if attribute.lower().startswith("on") or value.strip().lower().startswith(
                "javascript:"
            ):
                return [
                    Issue(
                        "invariant", f"txt-1: active content ({attribute}) in the narrative", where
                    )
                ]
    if not "".join(root.itertext()).strip() and not root.findall(f".//{_XHTML}img"):
        return [Issue("invariant", "txt-2: the narrative has no content", where)]
    return []
