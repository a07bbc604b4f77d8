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
