"""Consent form definitions from consent_forms/ (docs/design.md section 5).

One folder per form, one TOML file per version (`v1.toml`, `v2.toml`, ...), with
every text in every language the form declares. A published version never
changes: `consent_forms/SHA256SUMS` holds the hash of each, and a file that no
longer matches (or is not listed) is refused. Every problem is reported with the
file and line, at start-up and in the tests, so a broken form never reaches a
survivor.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clinic.access.terms import ACTIONS, DATA_CLASSES, EXAM_PARTS, LABELS, PURPOSES, RECIPIENTS

FORMS_DIR = Path(__file__).resolve().parent.parent.parent / "consent_forms"
LANGUAGES = {"en": "English", "fr": "Français", "es": "Español"}
FALLBACK_LANGUAGE = "en"
SCOPES = {"patient-privacy", "treatment", "research"}
# Questions a form asks once, besides its items.
FORM_QUESTIONS = {"police-force", "until", "never-share"}
# Questions an item asks when it is agreed to.
ITEM_QUESTIONS = {"person-name"}

_FORM_KEYS = {
    "form",
    "version",
    "published",
    "scope",
    "category",
    "languages",
    "asks",
    "title",
    "introduction",
    "care_unaffected",
    "item",
}
_REQUIRED_FORM_KEYS = _FORM_KEYS - {"asks", "category"}
_TEXT_KEYS = ("title", "introduction", "care_unaffected")
_ITEM_KEYS = {"id", "text", "help", "within", "asks", "provision"}
_PROVISION_KEYS = {"action", "class", "code", "label", "recipient", "purpose"}
_ID = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


class DefinitionError(Exception):
    """A consent form definition that cannot be used; names the file and line."""


@dataclass(frozen=True)
class Mapping:
    """The provision an item becomes (clinic.access.terms names every value)."""

    action: str
    classes: tuple[str, ...]
    codes: tuple[str, ...]
    labels: tuple[str, ...]
    recipient: str
    purpose: str


@dataclass(frozen=True)
class Item:
    id: str
    text: dict[str, str]
    help: dict[str, str]
    mapping: Mapping
    within: str | None = None  # the item this one narrows (a nested provision)
    asks: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormVersion:
    form: str
    version: int
    published: str
    scope: str
    category: str
    languages: tuple[str, ...]
    asks: tuple[str, ...]
    title: dict[str, str]
    introduction: dict[str, str]
    care_unaffected: dict[str, str]
    items: tuple[Item, ...]
    sha256: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.form}/v{self.version}"

    @property
    def url(self) -> str:
        """Canonical address of this version (the Consent's sourceAttachment.url)."""
        from clinic.fhir.canonical import CANONICAL_BASE

        return f"{CANONICAL_BASE}/consent-form/{self.form}/v{self.version}"

    def language(self, wanted: str) -> tuple[str, bool]:
        """The language to show, and whether it is a fallback (shown as such)."""
        if wanted in self.languages:
            return wanted, False
        return FALLBACK_LANGUAGE, True

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def children(self, item_id: str) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.within == item_id)


class _Locator:
    """Finds the line of a key in a TOML file, for error messages. tomllib keeps
    no positions, so this reads the text: the n-th `[[item]]` block, then the key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.items = [i for i, line in enumerate(self.lines) if line.strip() == "[[item]]"]

    def _find(self, key: str, start: int, stop: int) -> int | None:
        pattern = re.compile(
            rf"^\s*(\[{{1,2}}\s*(item\.)?{re.escape(key)}(\.[\w-]+)*\s*\]{{1,2}}|{re.escape(key)}(\.[\w-]+)*\s*=)"
        )
        for number in range(start, stop):
            if pattern.match(self.lines[number]):
                return number + 1
        return None

    def line(self, key: str | None = None, item: int | None = None) -> int:
        if item is None:
            stop = self.items[0] if self.items else len(self.lines)
            found = self._find(key, 0, stop) if key else None
            return found or 1
        start = self.items[item]
        stop = self.items[item + 1] if item + 1 < len(self.items) else len(self.lines)
        found = self._find(key, start, stop) if key else None
        return found or start + 1

    def error(self, message: str, key: str | None = None, item: int | None = None) -> str:
        return f"{self.path}:{self.line(key, item)}: {message}"


def _texts(
    value: Any, languages: tuple[str, ...], what: str, where: _Locator, key: str, item: int | None
) -> tuple[dict[str, str], list[str]]:
    errors: list[str] = []
    if not isinstance(value, dict):
        return {}, [where.error(f"{what} must be a table of texts by language", key, item)]
    for language in languages:
        text = value.get(language)
        if not isinstance(text, str) or not text.strip():
            errors.append(
                where.error(
                    f"{what} has no {LANGUAGES.get(language, language)} ({language}) text",
                    key,
                    item,
                )
            )
    for language in sorted(set(value) - set(languages)):
        errors.append(
            where.error(
                f"{what} has text in {language!r}, which the form does not declare", key, item
            )
        )
    return {k: v.strip() for k, v in value.items() if isinstance(v, str)}, errors


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _mapping(
    value: Any, label: str, where: _Locator, index: int
) -> tuple[Mapping | None, list[str]]:
    if not isinstance(value, dict):
        return None, [where.error(f"{label} maps to no provision", "provision", index)]
    errors = [
        where.error(f"{label}: unknown provision key {key!r}", "provision", index)
        for key in sorted(set(value) - _PROVISION_KEYS)
    ]

    def words(key: str, known: dict[str, Any], required: bool) -> tuple[str, ...]:
        found = _strings(value.get(key, []))
        if found is None:
            errors.append(where.error(f"{label}: provision {key} must be text", key, index))
            return ()
        if required and not found:
            errors.append(where.error(f"{label}: provision has no {key}", "provision", index))
        for word in found:
            if word not in known:
                errors.append(where.error(f"{label}: unknown provision {key} {word!r}", key, index))
        return found

    actions = words("action", ACTIONS, True)
    classes = words("class", DATA_CLASSES, False)
    codes = words("code", EXAM_PARTS, False)
    labels = words("label", LABELS, False)
    recipients = words("recipient", RECIPIENTS, True)
    purposes = words("purpose", PURPOSES, True)
    if not classes and not codes:
        errors.append(
            where.error(f"{label}: provision names no data class or code", "provision", index)
        )
    if len(actions) > 1 or len(recipients) > 1 or len(purposes) > 1:
        errors.append(
            where.error(f"{label}: one action, recipient and purpose per item", "provision", index)
        )
    if errors:
        return None, errors
    return Mapping(actions[0], classes, codes, labels, recipients[0], purposes[0]), []


def load_version(path: Path, folder: str | None = None) -> FormVersion:
    """Read and check one version file; raises DefinitionError with every problem."""
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    where = _Locator(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = match.group(1) if match else "1"
        raise DefinitionError(f"{path}:{line}: not valid TOML: {error}") from error
    errors: list[str] = []
    errors.extend(
        where.error(f"unknown key {key!r}", key) for key in sorted(set(data) - _FORM_KEYS)
    )
    errors.extend(
        where.error(f"missing key {key!r}") for key in sorted(_REQUIRED_FORM_KEYS - set(data))
    )
    if errors:
        raise DefinitionError("\n".join(errors))

    form, version = data["form"], data["version"]
    if folder is not None and form != folder:
        errors.append(where.error(f"form {form!r} is in the folder {folder!r}", "form"))
    if not isinstance(version, int) or path.name != f"v{version}.toml":
        errors.append(where.error(f"version {version!r} does not match the file name", "version"))
    if data["scope"] not in SCOPES:
        errors.append(where.error(f"unknown scope {data['scope']!r}", "scope"))
    languages = _strings(data["languages"]) or ()
    if FALLBACK_LANGUAGE not in languages:
        errors.append(where.error("every form has English (en), the fallback", "languages"))
    for language in languages:
        if language not in LANGUAGES:
            errors.append(where.error(f"unknown language {language!r}", "languages"))
    asks = _strings(data.get("asks", [])) or ()
    for question in asks:
        if question not in FORM_QUESTIONS:
            errors.append(where.error(f"unknown form question {question!r}", "asks"))

    texts: dict[str, dict[str, str]] = {}
    for key in _TEXT_KEYS:
        texts[key], problems = _texts(data[key], languages, key, where, key, None)
        errors.extend(problems)

    items: list[Item] = []
    seen: set[str] = set()
    raw_items = data["item"] if isinstance(data["item"], list) else []
    if not raw_items:
        errors.append(where.error("a form has at least one [[item]]", "item"))
    for index, entry in enumerate(raw_items):
        item_id = entry.get("id")
        label = f"item {item_id!r}" if isinstance(item_id, str) else f"item {index + 1}"
        for key in sorted(set(entry) - _ITEM_KEYS):
            errors.append(where.error(f"{label}: unknown key {key!r}", key, index))
        if not isinstance(item_id, str) or not _ID.match(item_id):
            errors.append(
                where.error(f"{label}: id must be lower-case words with dashes", "id", index)
            )
            continue
        if item_id in seen:
            errors.append(where.error(f"{label}: duplicate item id", "id", index))
        seen.add(item_id)
        item_text, problems = _texts(
            entry.get("text"), languages, f"{label} text", where, "text", index
        )
        errors.extend(problems)
        item_help, problems = _texts(
            entry.get("help"), languages, f"{label} help", where, "help", index
        )
        errors.extend(problems)
        mapping, problems = _mapping(entry.get("provision"), label, where, index)
        errors.extend(problems)
        within = entry.get("within")
        if within is not None:
            parent = next((i for i in items if i.id == within), None)
            if parent is None:
                errors.append(
                    where.error(
                        f"{label}: within {within!r}, which is not an earlier item", "within", index
                    )
                )
            elif parent.within is not None:
                errors.append(where.error(f"{label}: items nest one level only", "within", index))
        item_asks = _strings(entry.get("asks", [])) or ()
        for question in item_asks:
            if question not in ITEM_QUESTIONS:
                errors.append(
                    where.error(f"{label}: unknown item question {question!r}", "asks", index)
                )
        if mapping is not None:
            items.append(Item(item_id, item_text, item_help, mapping, within, item_asks))
    if errors:
        raise DefinitionError("\n".join(errors))
    return FormVersion(
        form=form,
        version=version,
        published=str(data["published"]),
        scope=data["scope"],
        category=str(data.get("category", "59284-0")),
        languages=languages,
        asks=asks,
        title=texts["title"],
        introduction=texts["introduction"],
        care_unaffected=texts["care_unaffected"],
        items=tuple(items),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
    )


class FormLibrary:
    """Every published version of every form; the newest version of each is the
    one offered for new consents, older ones stay readable for past Consents."""

    def __init__(self, directory: Path = FORMS_DIR) -> None:
        self.directory = directory
        self.versions: dict[str, FormVersion] = {}
        published = self._published()
        errors: list[str] = []
        for path in sorted(directory.glob("*/v*.toml")):
            relative = path.relative_to(directory).as_posix()
            try:
                version = load_version(path, path.parent.name)
            except DefinitionError as error:
                errors.append(str(error))
                continue
            expected = published.pop(relative, None)
            if expected is None:
                errors.append(
                    f"{path}:1: not published: add its SHA-256 to {directory / 'SHA256SUMS'}"
                )
            elif expected != version.sha256:
                errors.append(
                    f"{path}:1: changed after it was published; publish a new version instead"
                )
            self.versions[version.key] = version
        for relative in sorted(published):
            errors.append(f"{directory / 'SHA256SUMS'}:1: lists {relative}, which does not exist")
        if errors:
            raise DefinitionError("\n".join(errors))

    def _published(self) -> dict[str, str]:
        sums = self.directory / "SHA256SUMS"
        if not sums.exists():
            return {}
        found: dict[str, str] = {}
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, _, name = line.partition("  ")
                found[name.strip()] = digest.strip()
        return found

    def get(self, key: str) -> FormVersion:
        """A version by `form/vN`; KeyError if there is none."""
        return self.versions[key]

    def current(self) -> list[FormVersion]:
        newest: dict[str, FormVersion] = {}
        for version in self.versions.values():
            if version.form not in newest or version.version > newest[version.form].version:
                newest[version.form] = version
        return sorted(
            newest.values(), key=lambda v: FORM_ORDER.index(v.form) if v.form in FORM_ORDER else 99
        )

    def newest(self, form: str) -> FormVersion:
        for version in self.current():
            if version.form == form:
                return version
        raise KeyError(form)


# The order forms are offered in, as an exam goes.
FORM_ORDER = [
    "exam-treatment",
    "evidence-collection",
    "photo-documentation",
    "information-sharing",
    "police-release",
    "statistics",
]
