"""Consent form definitions: every shipped form loads in every language, and a
broken definition is refused with the file and line of the problem."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from clinic.access.terms import DATA_CLASSES, RECIPIENTS
from clinic.consent.definitions import (
    FORM_ORDER,
    FORMS_DIR,
    LANGUAGES,
    DefinitionError,
    FormLibrary,
    load_version,
)

SHIPPED = FormLibrary()


def test_every_form_the_issue_names_is_shipped_and_published() -> None:
    assert [version.form for version in SHIPPED.current()] == FORM_ORDER


@pytest.mark.parametrize("version", SHIPPED.current(), ids=lambda v: v.key)
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_shipped_form_has_every_text_in_every_language(version, language) -> None:  # type: ignore[no-untyped-def]
    shown, fallback = version.language(language)
    assert (shown, fallback) == (language, False)
    for text in (version.title, version.introduction, version.care_unaffected):
        assert text[language].strip()
    for item in version.items:
        assert item.text[language].strip()
        assert item.help[language].strip()


@pytest.mark.parametrize("version", SHIPPED.current(), ids=lambda v: v.key)
def test_every_item_says_what_agreeing_and_declining_mean_and_maps_to_a_provision(version) -> None:  # type: ignore[no-untyped-def]
    for item in version.items:
        help_text = item.help["en"]
        assert "If you agree" in help_text, item.id
        assert "If you decline" in help_text, item.id
        assert item.mapping.recipient in RECIPIENTS
        assert set(item.mapping.classes) <= set(DATA_CLASSES)
        assert item.mapping.classes or item.mapping.codes
    # Declining never affects care: said once per form, shown with every item.
    assert "never" in version.care_unaffected["en"] or "same" in version.care_unaffected["en"]


def test_a_language_a_form_lacks_falls_back_to_english_visibly() -> None:
    version = SHIPPED.newest("statistics")
    assert version.language("de") == ("en", True)


# -- broken definitions --------------------------------------------------------------


@pytest.fixture
def forms(tmp_path: Path) -> Path:
    """A copy of the shipped forms, to break one at a time."""
    target = tmp_path / "consent_forms"
    shutil.copytree(FORMS_DIR, target)
    return target


def _edit(forms: Path, relative: str, old: str, new: str, *, publish: bool = True) -> Path:
    path = forms / relative
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    if publish:
        _publish(forms, relative)
    return path


def _line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(fragment)


def _refusal(forms: Path) -> str:
    with pytest.raises(DefinitionError) as refused:
        FormLibrary(forms)
    return str(refused.value)


def test_an_unknown_key_is_named_with_its_line(forms: Path) -> None:
    path = _edit(
        forms,
        "statistics/v1.toml",
        'id = "anonymous-statistics"',
        'id = "anonymous-statistics"\ncolour = "red"',
    )
    message = _refusal(forms)
    assert (
        f"{path}:{_line_of(path, 'colour')}: item 'anonymous-statistics': unknown key 'colour'"
        in message
    )


def test_a_missing_translation_is_named_with_its_line(forms: Path) -> None:
    path = _edit(
        forms, "exam-treatment/v1.toml", 'text.es = "Un examen interno con un espéculo."\n', ""
    )
    message = _refusal(forms)
    line = _line_of(path, 'text.fr = "Un examen interne')
    assert re.search(
        rf"{re.escape(str(path))}:{line - 1}: item 'speculum-exam' text has no Español \(es\) text",
        message,
    ), message


def test_a_duplicate_item_id_is_named_with_its_line(forms: Path) -> None:
    path = _edit(forms, "exam-treatment/v1.toml", 'id = "speculum-exam"', 'id = "general-exam"')
    message = _refusal(forms)
    # The second occurrence is the duplicate.
    lines = [
        n
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if 'id = "general-exam"' in line
    ]
    assert f"{path}:{lines[1]}: item 'general-exam': duplicate item id" in message


def test_an_item_with_no_mapping_is_refused(forms: Path) -> None:
    path = forms / "statistics/v1.toml"
    text = path.read_text()
    path.write_text(text[: text.index("[item.provision]")])
    _publish(forms, "statistics/v1.toml")
    message = _refusal(forms)
    assert (
        f"{path}:{_line_of(path, '[[item]]')}: item 'anonymous-statistics' maps to no provision"
        in message
    )


def test_an_unknown_data_class_is_named(forms: Path) -> None:
    path = _edit(forms, "statistics/v1.toml", 'class = ["deidentified"]', 'class = ["everything"]')
    message = _refusal(forms)
    assert (
        f"{path}:{_line_of(path, 'class = ')}: item 'anonymous-statistics': unknown provision class 'everything'"
        in message
    )


def test_a_nested_item_must_name_an_earlier_item(forms: Path) -> None:
    path = _edit(forms, "police-release/v1.toml", 'within = "report"', 'within = "reportt"')
    message = _refusal(forms)
    assert (
        f"{path}:{_line_of(path, 'within = ')}: item 'report-account': within 'reportt', which is not an earlier item"
        in message
    )


def test_invalid_toml_is_refused_with_its_line(forms: Path) -> None:
    path = _edit(forms, "statistics/v1.toml", "version = 1", "version = = 1")
    message = _refusal(forms)
    assert message.startswith(f"{path}:{_line_of(path, 'version = = 1')}: not valid TOML")


def test_a_published_form_cannot_change(forms: Path) -> None:
    path = _edit(
        forms, "statistics/v1.toml", "anonymous statistics.", "anonymous figures.", publish=False
    )
    assert f"{path}:1: changed after it was published; publish a new version instead" in _refusal(
        forms
    )


def test_an_unpublished_version_is_refused(forms: Path) -> None:
    text = (forms / "statistics/v1.toml").read_text()
    (forms / "statistics/v2.toml").write_text(text.replace("version = 1", "version = 2"))
    assert "statistics/v2.toml:1: not published" in _refusal(forms)


def test_a_version_must_match_its_file_name(forms: Path) -> None:
    shutil.copy(forms / "statistics/v1.toml", forms / "statistics/v2.toml")
    assert "statistics/v2.toml:3: version 1 does not match the file name" in _refusal(forms)


def test_a_new_published_version_is_offered_and_the_old_one_kept(forms: Path) -> None:
    text = (forms / "statistics/v1.toml").read_text().replace("version = 1", "version = 2")
    (forms / "statistics/v2.toml").write_text(text)
    with (forms / "SHA256SUMS").open("a") as sums:
        sums.write(f"{hashlib.sha256(text.encode()).hexdigest()}  statistics/v2.toml\n")
    library = FormLibrary(forms)
    assert library.newest("statistics").version == 2
    assert library.get("statistics/v1").version == 1


def test_a_form_in_the_wrong_folder_is_refused(forms: Path) -> None:
    path = forms / "statistics/v1.toml"
    with pytest.raises(DefinitionError, match=r"form 'statistics' is in the folder 'other'"):
        load_version(path, "other")


def test_the_app_refuses_to_start_with_a_broken_form(
    forms: Path, monkeypatch: pytest.MonkeyPatch, app_config
) -> None:  # type: ignore[no-untyped-def]
    from clinic import create_app
    from clinic.consent import definitions

    _edit(forms, "statistics/v1.toml", 'purpose = "HOPERAT"', 'purpose = "CURIOSITY"')
    monkeypatch.setattr(definitions, "FORMS_DIR", forms)
    monkeypatch.setattr(definitions.FormLibrary.__init__, "__defaults__", (forms,))
    with pytest.raises(SystemExit, match="unknown provision purpose 'CURIOSITY'"):
        create_app(app_config)


def _publish(forms: Path, relative: str) -> None:
    path = forms / relative
    sums = forms / "SHA256SUMS"
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {relative}"
        if line.endswith(f"  {relative}")
        else line
        for line in sums.read_text().splitlines()
    ]
    sums.write_text("\n".join(lines) + "\n")
