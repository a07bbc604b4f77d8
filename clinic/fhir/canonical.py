"""The canonical base of our profiles, code systems and value sets, chosen once.

It is an identifier, not an address that must resolve.
"""

CANONICAL_BASE = "https://forensic-care.org/fhir"
STRUCTURE_DEFINITION = f"{CANONICAL_BASE}/StructureDefinition"
CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem"
VALUE_SET = f"{CANONICAL_BASE}/ValueSet"
NAMING_SYSTEM = f"{CANONICAL_BASE}/sid"

# Identifier systems.
ORGANIZATION_CODE_SYSTEM = f"{NAMING_SYSTEM}/organization-code"
USER_IDENTIFIER_SYSTEM = f"{NAMING_SYSTEM}/user"

# HL7 security labels (docs/design.md section 5).
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
SEXUAL_VIOLENCE_LABEL = (ACT_CODE, "SDV")
RESTRICTED_LABEL = (CONFIDENTIALITY, "R")
VERY_RESTRICTED_LABEL = (CONFIDENTIALITY, "V")


def coding_display(words: str) -> str:
    """A Coding's display for a phrase the code keeps in lower case for sentences
    ("her GP"): as our CodeSystems display it, with a capital ("Her GP")."""
    return words[:1].upper() + words[1:]
