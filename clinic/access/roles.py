"""Roles (docs/design.md section 4) and the purposes of use they act under."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    EXAMINER = "examiner"
    COUNSELLOR = "counsellor"
    CUSTODIAN = "custodian"
    POLICE = "police"
    ADMIN = "admin"
    AUDITOR = "auditor"
    # A medical expert she names: one case, a period, her photographs only.
    EXPERT = "expert"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.EXAMINER: "Forensic examiner",
    Role.COUNSELLOR: "Counsellor / advocate",
    Role.CUSTODIAN: "Evidence custodian",
    Role.POLICE: "Police officer",
    Role.ADMIN: "Administrator",
    Role.AUDITOR: "Auditor",
    Role.EXPERT: "Medical expert",
}


class OrganizationKind(StrEnum):
    SITE = "site"  # a clinic of ours
    POLICE = "police"
    LAB = "lab"
    OTHER = "other"  # counselling service, GP practice, ...

    @property
    def label(self) -> str:
        return {
            OrganizationKind.SITE: "Clinic site",
            OrganizationKind.POLICE: "Police force",
            OrganizationKind.LAB: "Forensic laboratory",
            OrganizationKind.OTHER: "Other organisation",
        }[self]


# Which kind of organisation each role's users belong to.
ROLE_ORGANIZATION_KIND = {
    Role.EXAMINER: OrganizationKind.SITE,
    Role.COUNSELLOR: OrganizationKind.SITE,
    Role.CUSTODIAN: OrganizationKind.SITE,
    Role.ADMIN: OrganizationKind.SITE,
    Role.AUDITOR: OrganizationKind.SITE,
    Role.POLICE: OrganizationKind.POLICE,
    # The site of the one case the account serves.
    Role.EXPERT: OrganizationKind.SITE,
}


class Purpose(StrEnum):
    """HL7 v3 PurposeOfUse codes (http://terminology.hl7.org/CodeSystem/v3-ActReason)."""

    TREATMENT = "TREAT"
    OPERATIONS = "HOPERAT"
    SYSTEM_ADMINISTRATION = "HSYSADMIN"
    COMPLIANCE = "HCOMPL"  # auditors reviewing who accessed what
    LEGAL = "HLEGAL"  # police, under the survivor's consent

    @property
    def display(self) -> str:
        return PURPOSE_DISPLAY[self]


PURPOSE_DISPLAY = {
    Purpose.TREATMENT: "treatment",
    Purpose.OPERATIONS: "healthcare operations",
    Purpose.SYSTEM_ADMINISTRATION: "system administration",
    Purpose.COMPLIANCE: "health compliance",
    Purpose.LEGAL: "legal",
}


ROLE_PURPOSE = {
    Role.EXAMINER: Purpose.TREATMENT,
    Role.COUNSELLOR: Purpose.TREATMENT,
    Role.CUSTODIAN: Purpose.OPERATIONS,
    Role.POLICE: Purpose.LEGAL,
    Role.ADMIN: Purpose.SYSTEM_ADMINISTRATION,
    Role.AUDITOR: Purpose.COMPLIANCE,
    # Her photo consent permits the expert to view for treatment (the purpose the
    # form's item names); the expert's opinion serves her care and her case.
    Role.EXPERT: Purpose.TREATMENT,
}
