"""The languages of the screens: which one each request is shown in, and the
message catalogues behind them.

Catalogues are the `.po` files under `translations/<language>/LC_MESSAGES/`; they
are compiled in memory the first time a language is used, so a fresh checkout
needs no build step and no compiled file is kept in the repository.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, request, session
from flask_babel import Babel, Domain, get_locale, gettext

from clinic import PROJECT_ROOT

TRANSLATIONS_DIR = PROJECT_ROOT / "translations"
# The languages the clinic's screens are offered in; each but English has a catalogue.
SUPPORTED_LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français", "es": "Español"}
# A visitor who is not signed in keeps her choice in the session cookie.
SESSION_LANGUAGE_KEY = "language"


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined (a constant, a label
    kept in English in records); it is translated where it is shown, with
    `gettext(message)`."""
    return message


# The printed report's page numbers, in its bottom margin: CSS cannot read the
# catalogue, so each language's words are in static/report-<language>.css
# (tests/i18n/test_catalogues.py checks they match the catalogue).
REPORT_PAGE_NUMBER = N_("Page %(page)s of %(pages)s")


class CatalogueError(Exception):
    """A catalogue that cannot be read: the app refuses to start rather than show
    a screen half in another language."""


_compiled: dict[tuple[Path, float], Translations] = {}
_compiled_lock = threading.Lock()


def compile_catalogue(po_path: Path) -> Translations:
    """The `.po` file as gettext translations, compiled in memory (cached while the
    file is unchanged). Fuzzy entries are left out, as `pybabel compile` does."""
    key = (po_path, po_path.stat().st_mtime)
    with _compiled_lock:
        cached = _compiled.get(key)
        if cached is not None:
            return cached
        try:
            with po_path.open("rb") as source:
                catalog = read_po(source, abort_invalid=True)
        except Exception as error:
            raise CatalogueError(f"{po_path}: {error}") from error
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        translations = Translations(fp=buffer)
        _compiled[key] = translations
        return translations


def catalogue_path(directory: Path, language: str) -> Path:
    return directory / language / "LC_MESSAGES" / "messages.po"


class CatalogueDomain(Domain):
    """Flask-Babel's message domain, reading `.po` catalogues directly."""

    def __init__(self, directory: Path) -> None:
        super().__init__(translation_directories=[str(directory)])
        self.directory = directory

    def get_translations(self) -> Any:
        locale = get_locale()
        if locale is None:
            return NullTranslations()
        path = catalogue_path(self.directory, str(locale))
        if not path.exists():
            path = catalogue_path(self.directory, locale.language)
        if not path.exists():
            return NullTranslations()
        return compile_catalogue(path)


def available_languages() -> list[str]:
    """The languages a person may choose: the configured ones."""
    return list(current_app.config["CLINIC_LANGUAGES"])


def select_locale() -> str:
    """Her stored choice when she is signed in, else the choice she made before
    signing in, else the best of the browser's languages we offer, else the site's."""
    languages = available_languages()
    user = g.get("user")
    chosen = getattr(user, "language", None) if user is not None else None
    if chosen in languages:
        return str(chosen)
    if request:
        remembered = session.get(SESSION_LANGUAGE_KEY)
        if remembered in languages:
            return str(remembered)
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    return str(current_app.config["CLINIC_DEFAULT_LANGUAGE"])


def text_direction(locale: Locale | None) -> str:
    """ "rtl" for a right-to-left language (Arabic, Hebrew, Persian, Urdu...)."""
    if locale is None:
        return "ltr"
    return "rtl" if locale.text_direction == "rtl" else "ltr"


def language_name(code: str) -> str:
    """A language named in itself, so that someone who cannot read the current
    screen still finds her own."""
    if code in SUPPORTED_LANGUAGES:
        return SUPPORTED_LANGUAGES[code]
    return Locale.parse(code).get_display_name(code) or code


def format_moment(
    moment: datetime | str | None, zone: str | None = None, *, seconds: bool = False
) -> str:
    """A moment (or its ISO 8601 text, as FHIR keeps it) as the screen's language
    writes a date and time (abbreviated month, 24-hour clock), in the clinic's time
    zone (or `zone`): "6 déc. 2026, 14:05" ("14:05:09" with `seconds`, for logs)."""
    if not moment:
        return ""
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        local = moment.astimezone(ZoneInfo(zone or current_app.config["CLINIC_TIMEZONE"]))
    except OverflowError:  # at the calendar's ends (year 1 or 9999): as recorded
        return moment.isoformat()
    locale = get_locale() or Locale.parse("en")
    pattern = str(locale.datetime_formats["medium"])
    day = format_skeleton("yMMMd", local.date(), locale=locale)
    time = format_skeleton("Hms" if seconds else "Hm", local.time(), locale=locale)
    return pattern.replace("{1}", day).replace("{0}", time)


def machine_time(moment: datetime | date | str | None) -> str:
    """A moment as ISO 8601 in UTC ("2026-12-06T14:05:09Z"), or a day
    ("2026-12-06"): the unambiguous value of a <time datetime> attribute."""
    if not moment:
        return ""
    if isinstance(moment, str):
        return moment
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def format_day(day: date | datetime | str | None) -> str:
    """A calendar day (or a moment's ISO 8601 text) as the screen's language writes
    it: "6 déc. 2026"."""
    if not day:
        return ""
    if isinstance(day, str):
        text = day
        try:
            day = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(day, datetime):
        if day.tzinfo is None:
            day = day.replace(tzinfo=UTC)
        day = day.astimezone(ZoneInfo(current_app.config["CLINIC_TIMEZONE"])).date()
    return format_skeleton("yMMMd", day, locale=get_locale() or "en")


def init_i18n(app: Flask) -> None:
    directory = Path(app.config.get("CLINIC_TRANSLATIONS_DIR") or TRANSLATIONS_DIR)
    default = app.config["CLINIC_DEFAULT_LANGUAGE"]
    languages = list(app.config["CLINIC_LANGUAGES"])
    if default not in languages:
        raise SystemExit(
            f"CLINIC_DEFAULT_LANGUAGE {default!r} is not one of CLINIC_LANGUAGES {languages}."
        )
    for language in languages:
        if language == "en":
            continue
        path = catalogue_path(directory, language)
        if not path.exists():
            raise SystemExit(f"No catalogue for the language {language!r}: {path} is missing.")
        try:
            compile_catalogue(path)
        except CatalogueError as error:
            raise SystemExit(f"The catalogue for {language!r} cannot be used:\n{error}") from error
    app.config["BABEL_DEFAULT_LOCALE"] = default
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["CLINIC_TIMEZONE"]
    babel = Babel()
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=lambda: current_app.config["CLINIC_TIMEZONE"],
    )
    babel.domain_instance = CatalogueDomain(directory)

    from clinic.fhir.terminology import concept_words, display
    from clinic.i18n.sentences import format_measure, said
    from clinic.i18n.values import value_word

    app.jinja_env.filters["word"] = value_word
    # A code of our CodeSystems in the screen's language: {{ code|coded("contact-channel") }}.
    app.jinja_env.filters["coded"] = lambda code, system, locale=None: display(system, code, locale)
    # A CodeableConcept of a record: our codes in the screen's language.
    app.jinja_env.filters["concept_words"] = concept_words
    # A message marked where it is defined (N_), translated where it is shown.
    app.jinja_env.filters["translated"] = lambda message: gettext(str(message))
    # A sentence a service wrote (the exam report's lines) in the screen's language.
    app.jinja_env.filters["said"] = said
    app.jinja_env.filters["moment"] = format_moment
    # The same moment for machines, in a <time datetime="..."> attribute: ISO 8601, UTC.
    app.jinja_env.filters["machine_time"] = machine_time
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["number"] = format_measure

    # The screen's language, for macros imported without the page's context: a
    # form's errors are in it, even inside a form printed in her language.
    app.jinja_env.globals["reader_language"] = lambda: str(get_locale() or default)

    @app.context_processor
    def _language() -> dict[str, Any]:
        locale = get_locale()
        return {
            "page_language": str(locale) if locale is not None else default,
            "page_direction": text_direction(locale),
            "language_choices": [(code, language_name(code)) for code in available_languages()],
        }
