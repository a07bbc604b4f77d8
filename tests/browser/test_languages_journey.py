"""A French-speaking examiner runs the exam of a Spanish-speaking survivor: every
screen she works on is in French, while what is printed for the survivor (her
case card, her consent as she signed it) is entirely in Spanish. In Chromium, on
a tablet-sized touch screen; every page visited passes axe-core."""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

import pytest
from babel.support import Translations
from flask import Flask

from clinic.i18n import TRANSLATIONS_DIR, catalogue_path, compile_catalogue
from tests.browser.conftest import assert_accessible, draw_signature
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.exam.helpers import complete_exam
from tests.helpers import open_case
from tests.i18n.test_pages_in_language import english_on, not_yet_translated

pytestmark = pytest.mark.browser


@cache
def _catalogue(language: str) -> Translations:
    return compile_catalogue(catalogue_path(TRANSLATIONS_DIR, language))


def fr(message: str) -> str:
    """What the French screens say for an English message."""
    return _catalogue("fr").gettext(message)


def es(message: str) -> str:
    return _catalogue("es").gettext(message)


def assert_french(page) -> None:  # type: ignore[no-untyped-def]
    """The screen is in French, with no English message left on it (what is printed
    for her, marked with her own language, is left out)."""
    assert page.locator("html").get_attribute("lang") == "fr"
    path = urlsplit(page.url).path
    english = [t for t in english_on(page.content(), "fr") if t not in not_yet_translated(path)]
    assert not english, f"English on the French screen {page.url}: {english}"


def assert_spanish_only(page, article) -> None:  # type: ignore[no-untyped-def]
    """What she takes away holds no English and no French message."""
    html = article.evaluate("node => node.outerHTML")
    assert article.get_attribute("lang") == "es"
    assert not english_on(html, "es"), english_on(html, "es")
    french = {fr(m) for m in ("Case", "Back to the case", "Her consent")} - {
        es(m) for m in ("Case", "Back to the case", "Her consent")
    }
    assert not [w for w in french if re.search(rf"\b{re.escape(w)}\b", html)]


def test_a_french_examiner_and_a_spanish_survivor(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server, "examiner")
    # She chooses French, on the page she is on; it stays with her account.
    page.get_by_label("Language", exact=True).select_option("fr")
    page.get_by_role("button", name="Change language").click()
    page.locator('html[lang="fr"]').wait_for()
    page.get_by_role("heading", name=fr("Welcome, %(name)s").split("%")[0].strip(", ")).wait_for()
    assert_accessible(page)
    assert_french(page)

    case = open_case(app)
    page.goto(f"{live_server}/cases/{case.id}")
    assert_accessible(page)
    assert_french(page)
    # The survivor reads Spanish: recorded on her case, in French words.
    page.get_by_role("combobox", name=fr("The language she reads")).select_option("es")
    page.get_by_role("button", name=fr("Record her language")).click()
    page.locator("#her-language").filter(has_text="Español").wait_for()
    assert_accessible(page)
    assert_french(page)

    # Her consent to the exam, on the form in Spanish that she reads and signs;
    # what the examiner fills in around it is in French.
    page.get_by_role("link", name=fr("Her consent"), exact=True).click()
    assert_accessible(page)
    assert_french(page)
    page.goto(f"{live_server}/cases/{case.id}/consent/exam-treatment/record?lang=es")
    page.get_by_role("heading", name="Consentimiento para el examen y el tratamiento").wait_for()
    assert_accessible(page)
    items = page.locator(".consent-item")
    for index in range(items.count()):
        items.nth(index).locator('input[value="agree"]').check()
    page.locator("#free_choice").check()
    draw_signature(page, str(page.locator("#signature-label").text_content()))
    page.get_by_role("button", name=fr("Record her consent")).click()
    page.locator("#consent-status").wait_for()
    assert_accessible(page)
    # The consent as signed is printed in her language, whoever reads it.
    assert page.locator("html").get_attribute("lang") == "es"
    signed = page.get_by_role("main")
    assert "Consentimiento para el examen y el tratamiento" in str(signed.text_content())
    main_html = signed.evaluate("node => node.outerHTML")
    assert not english_on(main_html, "es"), english_on(main_html, "es")
    assert fr("Her consent") not in str(signed.text_content())

    # The exam, run on French screens.
    exam_id = complete_exam(app, case.id, consent=False)
    for step in ("timing", "history", "general", "injuries", "anogenital", "treatment"):
        page.goto(f"{live_server}/exams/{exam_id}/{step}")
        page.get_by_role("main").wait_for()
        assert_accessible(page)
        assert_french(page)
    page.goto(f"{live_server}/exams/{exam_id}")
    assert_accessible(page)
    assert_french(page)
    page.get_by_role("link", name=fr("Review and sign off")).click()
    page.get_by_role("heading", name=fr("Review and sign off")).wait_for()
    assert_accessible(page)
    assert_french(page)
    page.get_by_label(
        fr("I examined the survivor and this record is complete and accurate")
    ).check()
    page.get_by_role("button", name=fr("Sign off the exam")).click()
    signed_off = fr("Exam signed off. It is now read-only; corrections are amendments.")
    page.get_by_role("status").filter(has_text=signed_off.split(".")[0]).wait_for()
    assert_accessible(page)
    assert_french(page)

    # Her case card: the instructions to the examiner in French, the card in Spanish.
    page.goto(f"{live_server}/cases/{case.id}")
    page.get_by_role("link", name=fr("Print the survivor's case card")).click()
    card = page.locator("article.case-card")
    card.wait_for()
    assert_accessible(page)
    assert_french(page)
    assert_spanish_only(page, card)
