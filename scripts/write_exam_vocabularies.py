"""Write the CodeSystem and ValueSet of every list in clinic/exam/lists.py into
fhir_profiles/. Run after extending a list:

    .venv/bin/python scripts/write_exam_vocabularies.py

tests/exam/test_vocabularies.py checks that the committed files are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.exam.code_systems import code_system, value_set  # noqa: E402
from clinic.exam.lists import VOCABULARIES  # noqa: E402

PROFILES = ROOT / "fhir_profiles"


def main() -> None:
    for vocabulary in VOCABULARIES:
        for kind, content in (("CodeSystem", code_system), ("ValueSet", value_set)):
            path = PROFILES / f"{kind}-{vocabulary.id}.json"
            text = json.dumps(content(vocabulary), indent=2, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
