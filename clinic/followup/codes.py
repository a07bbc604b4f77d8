"""The displays of CodeSystem followup-item, read once from fhir_profiles/ so that
a coding always carries the display its system gives."""

from __future__ import annotations

import json

from clinic.fhir.profiles import PROFILES_DIR

ITEM_DISPLAY: dict[str, str] = {
    concept["code"]: concept["display"]
    for concept in json.loads(
        (PROFILES_DIR / "CodeSystem-followup-item.json").read_text(encoding="utf-8")
    )["concept"]
}
