"""The public base of the FHIR API, for every absolute URL the clinic hands out
(Location, Bundle links and fullUrl, release bundles)."""

from __future__ import annotations

from flask import current_app, request


def base_url() -> str:
    """FHIR_BASE_URL, else the request's own root (its Host is checked against
    TRUSTED_HOSTS before any view runs) followed by /fhir."""
    configured = current_app.config.get("FHIR_BASE_URL")
    return (configured or request.url_root.rstrip("/") + "/fhir").rstrip("/")
