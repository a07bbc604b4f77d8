"""A right-to-left language needs only its catalogue: a test catalogue for Arabic,
made here from the message template, turns every page right to left."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po, write_po

from clinic import create_app
from clinic.i18n import TRANSLATIONS_DIR, catalogue_path
from tests.conftest import PASSWORD
from tests.helpers import login


def _pseudo_arabic(directory: Path) -> None:
    """Every message as "ع " + the English: placeholders and markup untouched."""
    for language in ("fr", "es"):
        target = catalogue_path(directory, language)
        target.parent.mkdir(parents=True)
        shutil.copyfile(catalogue_path(TRANSLATIONS_DIR, language), target)
    with (TRANSLATIONS_DIR / "messages.pot").open("rb") as source:
        catalog = read_po(source, locale="ar")
    for message in catalog:
        if message.id:
            message.string = (
                f"ع {message.id}"
                if isinstance(message.id, str)
                else tuple(f"ع {message.id[0]}" for _ in range(6))
            )
    target = catalogue_path(directory, "ar")
    target.parent.mkdir(parents=True)
    with target.open("wb") as out:
        write_po(out, catalog)


def test_a_right_to_left_catalogue_turns_the_pages_right_to_left(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    directory = tmp_path / "translations"
    _pseudo_arabic(directory)
    app = create_app(
        {
            **app_config,
            "CLINIC_TRANSLATIONS_DIR": str(directory),
            "CLINIC_LANGUAGES": ("en", "fr", "es", "ar"),
        }
    )
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "<h1>ع Sign in</h1>" in page
    # The switcher names it in its own script.
    assert '<option value="ar" lang="ar" selected>العربية</option>' in page
    login(client, "examiner", PASSWORD)
    page = client.get("/", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "ع Welcome, Examiner" in page
    # The other languages stay left to right.
    page = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page


def test_the_styles_assume_no_direction() -> None:
    """Physical left/right in the screen styles would not mirror for Arabic."""
    from clinic import PROJECT_ROOT

    css = (PROJECT_ROOT / "static" / "clinic.css").read_text()
    for physical in (
        "margin-left",
        "margin-right",
        "padding-left",
        "padding-right",
        "border-left",
        "border-right",
        "text-align: left",
        "text-align: right",
        "float: left",
        "float: right",
        " left:",
        " right:",
    ):
        assert physical not in css, physical
