"""Imports every model so that Base.metadata knows every table (Alembic, tests)."""

from clinic.accounts.models import ApiToken, LoginThrottle, Organization, User, UserSession
from clinic.admin.models import AccessReview, AccountRenewal
from clinic.audit.models import AuditEntry
from clinic.cases.models import Case, ReportingModeChange
from clinic.drafts.models import SavedDraft
from clinic.emergency.models import BreakGlassGrant, BreakGlassRead
from clinic.evidence.models import (
    CustodyEvent,
    CustodySignature,
    EvidenceItem,
    RetentionRule,
    SiteEvidencePolicy,
    StorageLocation,
)
from clinic.exam.models import Exam, ExamAmendment, ExamEntry
from clinic.fhir.models import ReferenceIndex, ResourceVersion, StoredResource, TokenIndex
from clinic.followup.models import (
    FollowUpAppointment,
    FollowUpContactAttempt,
    FollowUpItem,
    FollowUpPlan,
)
from clinic.followup.referral_models import PartnerService, Referral
from clinic.followup.safety_models import SafetyAssessment, SafetyFlag
from clinic.ledger.models import LogCheckpoint, LogHead, LogNode, SigningKey
from clinic.media.models import Photo, PhotoContent
from clinic.release.models import ReleaseRequest

# The tables whose rows are the leaves of each Merkle log (see ledger.integrate).
LOG_SOURCES: dict[str, tuple[type, ...]] = {
    "audit": (AuditEntry,),
    "custody": (CustodyEvent, Photo),
}

__all__ = [
    "LOG_SOURCES",
    "AccessReview",
    "AccountRenewal",
    "ApiToken",
    "AuditEntry",
    "BreakGlassGrant",
    "BreakGlassRead",
    "Case",
    "CustodyEvent",
    "CustodySignature",
    "EvidenceItem",
    "Exam",
    "ExamAmendment",
    "ExamEntry",
    "FollowUpAppointment",
    "FollowUpContactAttempt",
    "FollowUpItem",
    "FollowUpPlan",
    "LogCheckpoint",
    "LogHead",
    "LogNode",
    "LoginThrottle",
    "Organization",
    "PartnerService",
    "Photo",
    "PhotoContent",
    "ReferenceIndex",
    "Referral",
    "ReleaseRequest",
    "ReportingModeChange",
    "ResourceVersion",
    "RetentionRule",
    "SafetyAssessment",
    "SafetyFlag",
    "SavedDraft",
    "SigningKey",
    "SiteEvidencePolicy",
    "StorageLocation",
    "StoredResource",
    "TokenIndex",
    "User",
    "UserSession",
]
