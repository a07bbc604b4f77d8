"""The floor the FHIR API is measured against: a bare Flask app serving the same
bytes from the same database with one indexed SQL read per request, and nothing
else (no token, no decision, no consent, no audit).

    DATABASE_URL=... gunicorn -w 2 bench.floor_app:app

Routes mirror the two requests measured: a read by id, and a search of one type
by patient (first page of 20, in the order the API pages them).

With FLOOR_DURABLE=1 it is the durable floor: each request also inserts one row
(what was asked, and when) and commits it before answering, as durably as the
clinic commits its audit record (SQLite in WAL with synchronous=FULL and the write
lock taken at BEGIN, PostgreSQL as configured). The clinic against it shows what
everything but that one durable write costs.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, Response

app = Flask(__name__)
_engine = sa.create_engine(os.environ["DATABASE_URL"], pool_size=2, max_overflow=0)
FHIR_JSON = "application/fhir+json; charset=utf-8"
DURABLE = os.environ.get("FLOOR_DURABLE") == "1"
_SQLITE = _engine.dialect.name == "sqlite"

if _SQLITE:

    @sa.event.listens_for(_engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # BEGIN sent below, as the clinic does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(_engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if DURABLE else "BEGIN")


if DURABLE:
    with _engine.begin() as _connection:
        _connection.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS floor_writes (id INTEGER PRIMARY KEY, path VARCHAR(200),"
            " at VARCHAR(40))"
            if _SQLITE
            else "CREATE TABLE IF NOT EXISTS floor_writes (id BIGSERIAL PRIMARY KEY,"
            " path VARCHAR(200), at VARCHAR(40))"
        )
_WRITE = sa.text("INSERT INTO floor_writes (path, at) VALUES (:path, :at)")


def _answer(statement: sa.TextClause, parameters: dict[str, str], path: str) -> list[str]:
    """The rows of one statement; on the durable floor, with one row written and
    committed in the same transaction before they are served."""
    if not DURABLE:
        with _engine.connect() as connection:
            return list(connection.execute(statement, parameters).scalars())
    with _engine.begin() as connection:
        rows = list(connection.execute(statement, parameters).scalars())
        connection.execute(_WRITE, {"path": path, "at": datetime.now(UTC).isoformat()})
    return rows


_READ = sa.text(
    "SELECT v.content FROM fhir_resources h JOIN fhir_resource_versions v"
    " ON v.resource_type = h.resource_type AND v.logical_id = h.logical_id"
    " AND v.version_id = h.version_id"
    " WHERE h.resource_type = :kind AND h.logical_id = :id"
)
_SEARCH = sa.text(
    "SELECT v.content FROM fhir_resources h JOIN fhir_resource_versions v"
    " ON v.resource_type = h.resource_type AND v.logical_id = h.logical_id"
    " AND v.version_id = h.version_id"
    " WHERE h.resource_type = :kind AND EXISTS (SELECT 1 FROM fhir_index_references r"
    " WHERE r.resource_type = :kind AND r.logical_id = h.logical_id AND r.param = 'patient'"
    " AND r.target_type = 'Patient' AND r.target_id = :patient)"
    " ORDER BY h.last_updated, h.logical_id LIMIT 21"
)


@app.get("/fhir/<kind>/<logical_id>")
def read(kind: str, logical_id: str) -> Response:
    found = _answer(_READ, {"kind": kind, "id": logical_id}, f"{kind}/{logical_id}")
    content = found[0] if found else None
    if content is None:
        return Response("", status=404)
    return Response(content, content_type=FHIR_JSON)


@app.get("/fhir/<kind>")
def search(kind: str) -> Response:
    from flask import request

    patient = request.args.get("patient", "")
    rows = _answer(_SEARCH, {"kind": kind, "patient": patient}, f"{kind}?patient={patient}")
    entries = ",".join(f'{{"resource":{content}}}' for content in rows[:20])
    body = f'{{"resourceType":"Bundle","type":"searchset","entry":[{entries}]}}'
    return Response(body, content_type=FHIR_JSON)
