"""Write the CodeSystem of each consent form's items into fhir_profiles/ from the
forms (consent_forms/, clinic/consent/code_systems.py). Run after publishing a form
version:

    .venv/bin/python scripts/write_consent_form_code_systems.py

tests/consent/test_code_systems.py fails when the files drift from the forms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.consent.code_systems import form_code_systems  # noqa: E402
from clinic.fhir.profiles import PROFILES_DIR  # noqa: E402


def text(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, document in form_code_systems().items():
        (PROFILES_DIR / name).write_text(text(document))
        print(name)


if __name__ == "__main__":
    main()
