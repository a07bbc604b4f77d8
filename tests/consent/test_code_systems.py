"""The CodeSystem of each consent form's items (clinic/consent/code_systems.py) is the
one published in fhir_profiles/ (scripts/write_consent_form_code_systems.py)."""

from __future__ import annotations

import json

from clinic.consent.code_systems import form_code_systems, is_never_share
from clinic.fhir.profiles import PROFILES_DIR


def test_the_published_code_systems_are_the_forms() -> None:
    written = form_code_systems()
    forms = {path.parent.name for path in (PROFILES_DIR.parent / "consent_forms").glob("*/v*.toml")}
    assert len(written) == len(forms)
    for name, document in written.items():
        assert json.loads((PROFILES_DIR / name).read_text()) == document, (
            f"{name}: run scripts/write_consent_form_code_systems.py"
        )


def test_every_item_has_its_english_text_and_translations() -> None:
    (sharing,) = [
        d for d in form_code_systems().values() if d["id"] == "consent-form-information-sharing"
    ]
    codes = {c["code"]: c for c in sharing["concept"]}
    assert codes["never-share"]["display"] == "Never share with"
    assert {
        d["language"] for c in sharing["concept"] if "designation" in c for d in c["designation"]
    } == {"fr", "es"}


def test_never_share_entries_written_before_and_after_are_recognised() -> None:
    assert is_never_share("never-share")
    assert is_never_share("never-share-2")  # Consents written before the code was one
    assert not is_never_share("gp")
