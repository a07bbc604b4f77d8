"""A seeded, bounded fuzzer of the /fhir API: the shipped examples mutated and
posted, put and bundled; the CapabilityStatement's search parameters given odd
values; odd ids, versions and operations; each by a police officer's or a staff
member's token. The server never answers 500, and every 4xx is a valid
OperationOutcome (checked with fhir.resources, R4B).

Derandomized: the same requests every run, so a failure is reproducible; the
example count keeps it to seconds on SQLite."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote, urlencode

from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic import PROJECT_ROOT
from tests.conftest import World
from tests.helpers import api

EXAMPLES = {
    path.stem: json.loads(path.read_text())
    for path in sorted((PROJECT_ROOT / "fhir_profiles" / "examples").glob("*.json"))
}
ROLES = ("officer", "examiner", "counsellor", "custodian", "auditor")

ODD_STRINGS = (
    "",
    " ",
    "x",
    "0",
    "-1",
    "99999999999999999999",
    "9" * 400,
    "1e999",
    "NaN",
    "../../etc/passwd",
    "Patient/../Patient/x",
    "'; DROP TABLE fhir_resources; --",
    "%00",
    "\u202e\u0301é中文",
    "\ud7ff",
    "a" * 5000,
    "2026-13-45",
    "2026-01-01T10:00:00+99:00",
    "2026-01-01T25:61:61Z",
    "sa2026-01-01T10:00:00+99:00",
    "0000-00-00",
    "http://",
    "urn:uuid:",
    "|",
    "||",
    "a|",
    "|b",
    ",",
    ",,,",
    "Type/",
    "/",
    "Patient/x/_history/1",
)
ODD_VALUES: tuple[Any, ...] = (
    *ODD_STRINGS,
    None,
    True,
    False,
    0,
    -1,
    2**63,
    10**20,
    1.5,
    1e308,
    [],
    {},
    [None],
    [[]],
    {"": ""},
    {"resourceType": "Patient"},
    {"reference": "Patient/does-not-exist"},
    {"coding": "x"},
    {"coding": [{"system": 1, "code": []}]},
)


# Dates at and beyond the edges: offsets beyond ±14:00, the first and last days a
# computer keeps, impossible days and times, precision a prefix cannot take.
ODD_DATES = (
    "sa2026-01-01T10:00:00+99:00",
    "2026-01-01T10:00:00-14:01",
    "le2026-01-01T10:00:00+05:60",
    "9999-12-31",
    "eb9999-12-31T23:59:59+14:00",
    "sa9999-12-31T23:59:59.999999-14:00",
    "gt9999",
    "0001-01-01T00:00:00+14:00",
    "lt0001",
    "0000",
    "ge2026-02-30",
    "2026-01-01T10:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T10:00:60Z",
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return root


def _nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated_resource(draw: st.DrawFn, favourite: str | None = None) -> dict[str, Any]:
    """One of the shipped examples (`favourite` more often), changed one to four
    times: a value replaced by an odd one, a key deleted, an array item repeated
    (beyond the array limit too), or a value nested deeply."""
    names = sorted(EXAMPLES)
    name = draw(
        st.sampled_from([favourite] * len(names) + names if favourite else names),
        label="example",
    )
    resource = copy.deepcopy(EXAMPLES[name])
    for _ in range(draw(st.integers(1, 4), label="mutations")):
        paths = _paths(resource)
        top = [p for p in paths if len(p) == 1] or paths
        path = draw(st.sampled_from(top) | st.sampled_from(paths), label="path")
        kind = draw(st.sampled_from(("set", "set", "set", "delete", "repeat", "nest")))
        if kind == "delete" and path:
            resource = _delete(resource, path)
        elif kind == "repeat" and path and isinstance(path[-1], int):
            parent = resource
            for step in path[:-1]:
                parent = parent[step]
            parent.extend([parent[path[-1]]] * draw(st.sampled_from((2, 25, 1001))))
        elif kind == "nest":
            resource = _set(resource, path, _nest(draw(st.sampled_from((30, 70, 900)))))
        else:
            resource = _set(resource, path, draw(st.sampled_from(ODD_VALUES), label="value"))
    if not isinstance(resource, dict):
        return {"resourceType": "Patient", "extension": resource}
    return resource


def _search_params(client: FlaskClient) -> list[tuple[str, str, str]]:
    statement = client.get("/fhir/metadata").get_json()
    return [
        (resource["type"], param["name"], param["type"])
        for resource in statement["rest"][0]["resource"]
        for param in resource["searchParam"]
    ] + [
        (resource["type"], control, "control")
        for resource in statement["rest"][0]["resource"]
        for control in ("_count", "_cursor", "_format", "_sort", "_include")
    ]


def _value_strategy(param_type: str) -> st.SearchStrategy[str]:
    prefixed = st.tuples(
        st.sampled_from(("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz")),
        st.sampled_from((*ODD_STRINGS, "2026", "2026-11", "2026-11-20T10:00:00Z")),
    ).map("".join)
    many = st.sampled_from((2, 100, 101, 1200)).map(lambda n: ",".join(f"v{i}" for i in range(n)))
    if param_type == "date":
        return st.one_of(st.sampled_from(ODD_DATES), prefixed, many, st.text(max_size=40))
    return st.one_of(st.sampled_from(ODD_STRINGS), many, st.text(max_size=40))


def _check(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        assert isinstance(body, dict), (what, response.status_code)
        assert body.get("resourceType") == "OperationOutcome", (what, body)
        OperationOutcome.model_validate(body)  # a valid OperationOutcome, not just its shape


FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_STATEMENT: list[list[tuple[str, str, str]]] = []


def _role(data: st.DataObject) -> str:
    # Half the requests are a force's: the role that posts Tasks and is refused most.
    return data.draw(st.sampled_from(("officer", "officer", "officer", *ROLES)), label="role")


@FUZZ
@given(data=st.data())
def test_mutated_examples_never_make_the_server_fail(
    client: FlaskClient, world: World, data: st.DataObject
) -> None:
    role = _role(data)
    token = world[role].token
    # A force writes release requests only: its Task, more often than any other.
    favourite = "Task-example-release-request" if role == "officer" else None
    resource = data.draw(mutated_resource(favourite), label="resource")
    resource_type = str(resource.get("resourceType") or "Patient")
    if not resource_type.isidentifier():
        resource_type = "Patient"
    kind = data.draw(st.sampled_from(("create", "create", "update", "transaction")), label="kind")
    if kind == "create":
        path, method, body = f"/fhir/{resource_type}", "POST", resource
    elif kind == "update":
        logical_id = quote(str(resource.get("id") or "x"), safe="")
        path, method, body = f"/fhir/{resource_type}/{logical_id}", "PUT", resource
    else:
        method, path = "POST", "/fhir"
        body = {
            "resourceType": "Bundle",
            "type": data.draw(st.sampled_from(("transaction", "batch", 1)), label="bundle"),
            "entry": [
                {
                    "fullUrl": "urn:uuid:0b0e5d2e-3b9f-4d0e-9a56-6c1b8d9f0a11",
                    "resource": resource,
                    "request": {
                        "method": data.draw(st.sampled_from(("POST", "PUT", "GET", "x"))),
                        "url": data.draw(st.sampled_from((resource_type, "", "Patient/x"))),
                    },
                }
            ],
        }
    _check(api(client, method, path, token, body), f"{method} {path[:200]}")


@FUZZ
@given(data=st.data())
def test_odd_searches_never_make_the_server_fail(
    client: FlaskClient, world: World, data: st.DataObject
) -> None:
    token = world[_role(data)].token
    if not _STATEMENT:
        _STATEMENT.append(_search_params(client))
    params = _STATEMENT[0]
    chosen = data.draw(st.lists(st.sampled_from(params), min_size=1, max_size=4), label="params")
    resource_type = chosen[0][0]
    query = [
        (name + data.draw(st.sampled_from(("", "", "", ":exact", ":missing", ":"))), value)
        for _, name, param_type in chosen
        for value in [data.draw(_value_strategy(param_type), label=name)]
    ]
    if data.draw(st.booleans(), label="post"):
        path = f"/fhir/{resource_type}/_search"
        response = api(
            client,
            "POST",
            path,
            token,
            urlencode(query),
            Content_Type="application/x-www-form-urlencoded",
        )
    else:
        path = f"/fhir/{resource_type}?{urlencode(query)}"
        response = api(client, "GET", path, token)
    _check(response, path[:300])


@FUZZ
@given(data=st.data())
def test_odd_ids_versions_and_operations_never_make_the_server_fail(
    client: FlaskClient, world: World, data: st.DataObject
) -> None:
    token = world[_role(data)].token
    resource_type = data.draw(
        st.sampled_from(
            [*sorted({e["resourceType"] for e in EXAMPLES.values()}), "AuditEvent", "Nope"]
        ),
        label="type",
    )
    logical_id = quote(data.draw(st.sampled_from(ODD_STRINGS), label="id") or "x", safe="")
    suffix = data.draw(
        st.sampled_from(
            (
                "",
                "/_history",
                "/_history/1",
                "/_history/99999999999999999999",
                "/_history/-1",
                "/_history?_since=2026-01-01T10:00:00%2B99:00",
                "/_history?_count=99999999999999999999",
                "/$custody",
                "/$release",
                "/$everything",
            )
        ),
        label="suffix",
    )
    method = data.draw(st.sampled_from(("GET", "GET", "GET", "DELETE", "PATCH", "POST")))
    path = f"/fhir/{resource_type}/{logical_id}{suffix}"
    _check(api(client, method, path, token), f"{method} {path[:200]}")
