"""Per-site settings of follow-up (site_settings/*.toml): the safety checklist's
high-risk threshold, and how what she takes home names the clinic (a discreet name
and a phone number). `default.toml` holds every key; a site's own file
(`<SITE CODE>.toml`) changes only the keys it names. Loaded and checked once, when
the app starts: a value that cannot be used stops the app, naming file and key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clinic.followup.safety_checklist import QUESTIONS

SETTINGS_DIR = Path(__file__).resolve().parent.parent.parent / "site_settings"
DEFAULT = "default"
MAX_NAME = 80
_PHONE = re.compile(r"^[0-9+() .-]{3,30}$")

# The neutral name printed when a site chose none, in her language.
NEUTRAL_NAME: dict[str, str] = {
    "en": "Health clinic",
    "fr": "Centre de santé",
    "es": "Centro de salud",
}


class SiteSettingsError(Exception):
    """A settings file that cannot be used; names the file and the key."""


@dataclass(frozen=True)
class SiteSettings:
    high_risk_threshold: int
    discreet_name: str  # "" : the neutral name in her language
    phone: str  # "" : none printed

    def printed_name(self, language: str) -> str:
        return self.discreet_name or NEUTRAL_NAME.get(language, NEUTRAL_NAME["en"])


_KEYS: dict[str, dict[str, type]] = {
    "safety": {"high_risk_threshold": int},
    "printed": {"discreet_name": str, "phone": str},
}


def _apply(base: SiteSettings | None, path: Path, text: str) -> SiteSettings:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SiteSettingsError(f"{path.name}: not TOML: {error}") from error
    values: dict[str, Any] = {}
    for table, content in document.items():
        keys = _KEYS.get(table)
        if keys is None or not isinstance(content, dict):
            raise SiteSettingsError(f"{path.name}: [{table}] is not a settings table")
        for key, value in content.items():
            expected = keys.get(key)
            if expected is None:
                raise SiteSettingsError(f"{path.name}: [{table}] {key} is not a setting")
            if not isinstance(value, expected) or isinstance(value, bool):
                raise SiteSettingsError(
                    f"{path.name}: [{table}] {key} must be a {expected.__name__}"
                )
            values[key] = value.strip() if isinstance(value, str) else value
    threshold = values.get("high_risk_threshold")
    if threshold is not None and not 1 <= threshold <= len(QUESTIONS):
        raise SiteSettingsError(
            f"{path.name}: [safety] high_risk_threshold must be from 1 to {len(QUESTIONS)}"
        )
    name = values.get("discreet_name")
    if name is not None and len(name) > MAX_NAME:
        raise SiteSettingsError(
            f"{path.name}: [printed] discreet_name is at most {MAX_NAME} characters"
        )
    phone = values.get("phone")
    if phone and not _PHONE.match(phone):
        raise SiteSettingsError(
            f"{path.name}: [printed] phone may hold digits, spaces and + ( ) . - only"
        )
    if base is None:
        missing = [k for keys in _KEYS.values() for k in keys if k not in values]
        if missing:
            raise SiteSettingsError(f"{path.name}: {', '.join(missing)} missing")
        return SiteSettings(**values)
    return replace(base, **values)


class SiteSettingsLibrary:
    """The defaults and every site's own settings."""

    def __init__(self, directory: Path = SETTINGS_DIR) -> None:
        default = directory / f"{DEFAULT}.toml"
        if not default.exists():
            raise SiteSettingsError(f"{directory}: {DEFAULT}.toml is missing")
        self.default = _apply(None, default, default.read_text(encoding="utf-8"))
        self.sites: dict[str, SiteSettings] = {}
        for path in sorted(directory.glob("*.toml")):
            if path.stem != DEFAULT:
                self.sites[path.stem] = _apply(self.default, path, path.read_text(encoding="utf-8"))

    def for_site(self, site_code: str) -> SiteSettings:
        return self.sites.get(site_code, self.default)
