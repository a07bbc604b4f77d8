"""Imports every model so that Base.metadata knows every table (Alembic, tests)."""

from clinic.accounts.models import ApiToken, Organization, User, UserSession
from clinic.audit.models import AuditEntry
from clinic.fhir.models import ReferenceIndex, ResourceVersion, StoredResource, TokenIndex
from clinic.ledger.models import LogHead

__all__ = [
    "ApiToken",
    "AuditEntry",
    "LogHead",
    "Organization",
    "ReferenceIndex",
    "ResourceVersion",
    "StoredResource",
    "TokenIndex",
    "User",
    "UserSession",
]
