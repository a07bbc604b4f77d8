"""Roles (docs/design.md section 4) and the purposes of use they act under."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import gettext

from clinic.i18n import N_


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
        """In English, as records keep it (a signed report names the signer's role)."""
        return ROLE_LABELS[self]

    @property
    def display(self) -> str:
        """In the language of the screen."""
        return gettext(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.EXAMINER: N_("Forensic examiner"),
    Role.COUNSELLOR: N_("Counsellor / advocate"),
    Role.CUSTODIAN: N_("Evidence custodian"),
    Role.POLICE: N_("Police officer"),
    Role.ADMIN: N_("Administrator"),
    Role.AUDITOR: N_("Auditor"),
    Role.EXPERT: N_("Medical expert"),
}


class OrganizationKind(StrEnum):
    SITE = "site"  # a clinic of ours
    POLICE = "police"
    LAB = "lab"
    OTHER = "other"  # counselling service, GP practice, ...

    @property
    def display(self) -> str:
        return gettext(self.label)

    @property
    def label(self) -> str:
        return {
            OrganizationKind.SITE: N_("Clinic site"),
            OrganizationKind.POLICE: N_("Police force"),
            OrganizationKind.LAB: N_("Forensic laboratory"),
            OrganizationKind.OTHER: N_("Other organisation"),
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
