"""The floor the FHIR API is measured against: a bare Flask app serving the same
bytes from the same database with one indexed SQL read per request, and nothing
else (no token, no decision, no consent, no audit).

    DATABASE_URL=... gunicorn -w 2 bench.floor_app:app

Routes mirror the two requests measured: a read by id, and a search of one type
by patient (first page of 20, in the order the API pages them).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, Response

app = Flask(__name__)
_engine = sa.create_engine(os.environ["DATABASE_URL"], pool_size=2, max_overflow=0)
FHIR_JSON = "application/fhir+json; charset=utf-8"

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
    with _engine.connect() as connection:
        content = connection.execute(_READ, {"kind": kind, "id": logical_id}).scalar()
    if content is None:
        return Response("", status=404)
    return Response(content, content_type=FHIR_JSON)


@app.get("/fhir/<kind>")
def search(kind: str) -> Response:
    from flask import request

    patient = request.args.get("patient", "")
    with _engine.connect() as connection:
        rows = connection.execute(_SEARCH, {"kind": kind, "patient": patient}).scalars().all()
    entries = ",".join(f'{{"resource":{content}}}' for content in rows[:20])
    body = f'{{"resourceType":"Bundle","type":"searchset","entry":[{entries}]}}'
    return Response(body, content_type=FHIR_JSON)
