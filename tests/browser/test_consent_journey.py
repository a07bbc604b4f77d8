"""An examiner records the information-sharing consent in French, given by a
guardian for a 15-year-old, with an interpreter and a signature drawn on screen;
prints it; a counsellor then sees the survivor's contact details; the survivor
withdraws that one item and the dashboard and the counsellor's view change at
once. In Chromium."""

from __future__ import annotations

import io
from datetime import date

import pytest
from flask import Flask

from clinic.cases.models import ProxyRelationship, ReportingMode
from clinic.cases.services import Proxy
from tests.browser.conftest import assert_accessible, draw_signature
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.helpers import open_case

pytestmark = pytest.mark.browser


def test_a_french_consent_by_a_proxy_is_signed_printed_and_partly_withdrawn(
    page, browser, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    case = open_case(
        app,
        is_anonymous=False,
        name="Léa Exemple",
        birth_date=date(2011, 3, 2),
        age_years=None,
        reporting_mode=ReportingMode.UNREPORTED,
        proxy=Proxy(ProxyRelationship.GUARDIAN, "She is 15.", "Claire Exemple"),
    )

    # A counsellor first sees the case, but not who she is.
    counsellor = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
    sign_in(counsellor, live_server, "counsellor")
    counsellor.goto(f"{live_server}/cases/{case.id}")
    assert "Léa Exemple" not in counsellor.content()
    counsellor.locator("#identity-not-shared").wait_for()
    assert_accessible(counsellor)

    # The examiner opens her consent and the information-sharing form in French.
    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/cases/{case.id}")
    assert_accessible(page)
    page.get_by_role("link", name="Her consent").click()
    page.get_by_role("region", name="Sharing information for your care and support").wait_for()
    assert_accessible(page)
    section = page.get_by_role("region", name="Sharing information for your care and support")
    section.get_by_role("link", name="Français").click()
    page.get_by_role(
        "heading", name="Partage d'informations pour vos soins et votre soutien"
    ).wait_for()
    assert page.locator("div[lang=fr]").count() >= 1
    assert_accessible(page)

    # Nothing is ticked until she answers; she answers every item.
    assert page.locator(".consent-item input[type=radio]:checked").count() == 0
    answers = {
        "L'équipe d'accompagnement psychologique et de soutien de la clinique peut voir mon nom": "J'accepte",
        "L'équipe d'accompagnement peut lire mon rapport d'examen.": "J'accepte",
        "Cela inclut mon propre récit de ce qui s'est passé.": "Je refuse",
        "Mon médecin traitant peut être informé": "Je refuse",
        "Un intervenant indépendant peut recevoir": "J'accepte",
        "Les services sociaux peuvent recevoir": "Je refuse",
    }
    for question, answer in answers.items():
        page.get_by_role("group", name=question).get_by_label(answer).check()
    page.get_by_label("Personnes qui ne doivent jamais rien recevoir").fill("Son ancien compagnon")
    page.get_by_label("Je fais ces choix librement").check()
    page.get_by_role("group", name="Who consents").get_by_label("A proxy for her").check()
    page.get_by_label("The proxy is her").select_option(label="Guardian")
    page.get_by_label("Proxy's name").fill("Claire Exemple")
    page.get_by_label("Why a proxy consents").fill("She is 15; her guardian consents with her.")
    page.get_by_label("Interpreter").fill("Interprétariat Service, no. 42")

    # Without a signature it is refused, answers kept; then signed.
    page.get_by_role("button", name="Record her consent").click()
    page.get_by_role("alert").filter(has_text="signs on the screen").wait_for()
    assert_accessible(page)
    assert page.locator(".consent-item input[type=radio]:checked").count() == len(answers)
    page.get_by_label("Je fais ces choix librement").check()
    draw_signature(page, "Signature de la personne qui consent")
    page.get_by_role("button", name="Record her consent").click()

    # The form as signed, in French, with her signature; printed to PDF.
    page.locator("#consent-status").wait_for()
    assert_accessible(page)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#consent-status").get_attribute("data-status") == "active"
    assert page.locator("#consent-status").text_content() == "en vigueur"
    assert "Examiner (Examinatrice médico-légale)" in page.locator("#taken-by").text_content()
    signature = page.get_by_role("img", name="Signature de la personne qui consent")
    assert signature.evaluate("image => image.naturalWidth") > 0
    page.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    page.emulate_media(media="screen")
    printed = " ".join(p.extract_text() for p in pdf.pages)
    for number, sheet in enumerate(pdf.pages, start=1):
        assert case.reference in sheet.extract_text(), f"page {number} lacks the case reference"
    assert "Cela inclut mon propre récit" in printed
    assert "Je refuse" in printed
    assert "J'accepte" in printed
    assert "Léa Exemple" not in printed

    # The counsellor now sees her name and how to contact her.
    counsellor.reload()
    assert_accessible(counsellor)
    assert "Léa Exemple" in counsellor.content()

    # The dashboard says what it means; withdrawing one item is two clicks and a confirmation.
    page.get_by_role("link", name="Back to her consent").click()
    sharing = page.get_by_role("region", name="Sharing information for your care and support")
    sharing.wait_for()
    assert_accessible(page)
    assert "The clinic's counselling and advocacy team may see: her name" in sharing.text_content()
    row = sharing.locator("tr[data-item=counselling-contact]")
    assert row.locator(".answer").text_content() == "Agreed"
    row.get_by_role("link", name="Withdraw").click()
    page.get_by_role("heading", name="Withdraw one item").wait_for()
    assert_accessible(page)
    page.get_by_label("in person").check()
    page.get_by_label("Who withdrew").fill("the survivor, with her guardian")
    page.get_by_role("button", name="Withdraw now").click()
    page.get_by_role("alert").filter(
        has_text="confirm"
    ).wait_for()  # not confirmed: nothing changes
    assert_accessible(page)
    page.get_by_label("in person").check()
    page.get_by_label("I have read back to her what stops").check()
    page.get_by_role("button", name="Withdraw now").click()
    page.get_by_role("status").filter(has_text="in effect now").wait_for()
    assert_accessible(page)
    sharing = page.get_by_role("region", name="Sharing information for your care and support")
    assert (
        sharing.locator("tr[data-item=counselling-contact] .answer").text_content() == "Withdrawn"
    )
    assert sharing.locator("tr[data-item=counselling-report] .answer").text_content() == "Agreed"
    assert "may see: her name" not in sharing.text_content()
    sharing.get_by_text("History (2 recorded)").click()
    assert "withdrawal in person by the survivor, with her guardian" in sharing.text_content()

    # At once, the counsellor no longer sees who she is.
    counsellor.reload()
    assert_accessible(counsellor)
    assert "Léa Exemple" not in counsellor.content()
    counsellor.locator("#identity-not-shared").wait_for()
    counsellor.context.close()
