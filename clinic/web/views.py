"""The start page: what the signed-in person can do."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from clinic.core.web import view_rule

bp = Blueprint("home", __name__)


@bp.get("/")
@view_rule()
def index() -> Any:
    return render_template("home/index.html")


@bp.get("/healthz")
@view_rule(public=True)
def health() -> Any:
    """For load balancers: answers without touching records or sessions."""
    return {"status": "ok"}


@bp.get("/.well-known/transparency-log-keys")
@view_rule(public=True)
def log_keys() -> Any:
    """The verifier keys (c2sp.org/signed-note) of the clinic's logs, current and
    retired, one per line: what anyone needs to check a checkpoint or proof."""
    from flask import Response

    from clinic.ledger.services import trusted_keys

    # From the trusted keys file, not the database: a key inserted there is not served.
    keys = "".join(f"{key}\n" for key in trusted_keys())
    return Response(keys, mimetype="text/plain")
