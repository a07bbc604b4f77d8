"""Write the safety assessment's CodeSystems and ValueSets into fhir_profiles/ from
the checklist table (clinic/followup/safety_checklist.py). Run after changing it:

    .venv/bin/python scripts/write_safety_definitions.py

tests/followup/test_safety.py fails when the files drift from the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clinic.fhir.canonical import CODE_SYSTEM, VALUE_SET  # noqa: E402
from clinic.fhir.terminology import designated  # noqa: E402
from clinic.followup import safety_checklist as checklist  # noqa: E402


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def vocabularies() -> dict[str, dict[str, object]]:
    """File name -> content, for every definition the checklist owns."""
    lists = {
        "safety-question": (
            "Safety checklist questions",
            "The questions of the intimate-partner risk checklist, as the counsellor asks "
            f"them. {checklist.CHECKLIST_SOURCE}",
            {q.code: q.text for q in checklist.QUESTIONS},
        ),
        "safety-answer": (
            "Safety checklist answers",
            "How a checklist question is answered: every question is answered, not asked included.",
            checklist.ANSWERS,
        ),
        "safety-risk": (
            "Safety assessment conclusions",
            "High risk (at the site's threshold of yes answers, or on professional "
            "judgement), or not high risk.",
            checklist.RISKS,
        ),
        "safety-flag": (
            "Safety flags",
            "What a safety Flag raised to the care team says.",
            checklist.FLAGS,
        ),
        "safety-method": (
            "Safety assessment methods",
            "The checklists a safety assessment may use.",
            {checklist.CHECKLIST_ID: checklist.CHECKLIST_TITLE},
        ),
        "safety-keep-ready": (
            "Things to keep ready",
            "What a safety plan lists for her to keep ready to leave quickly.",
            checklist.KEEP_READY,
        ),
    }
    files: dict[str, dict[str, object]] = {}
    for name, (title, description, concepts) in lists.items():
        header = {
            "version": "0.1.0",
            "status": "draft",
            "publisher": "Forensic care clinic project",
            "date": "2026-12-06",
            "name": _title(name),
            "title": title,
        }
        files[f"CodeSystem-{name}.json"] = {
            "resourceType": "CodeSystem",
            "id": name,
            "url": f"{CODE_SYSTEM}/{name}",
            **header,
            "description": description,
            "caseSensitive": True,
            "content": "complete",
            "concept": [
                designated(
                    f"{CODE_SYSTEM}/{name}",
                    {"code": code, "display": display, "definition": display},
                )
                for code, display in concepts.items()
            ],
        }
        files[f"ValueSet-{name}.json"] = {
            "resourceType": "ValueSet",
            "id": name,
            "url": f"{VALUE_SET}/{name}",
            **header,
            "description": f"All codes of {title.lower()}.",
            "compose": {"include": [{"system": f"{CODE_SYSTEM}/{name}"}]},
        }
    return files


def render(content: dict[str, object]) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, content in vocabularies().items():
        (ROOT / "fhir_profiles" / name).write_text(render(content), encoding="utf-8")


if __name__ == "__main__":
    main()
