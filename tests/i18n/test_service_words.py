"""What the services write (refusals, report lines, what a consent means) reaches a
person in that person's language, while records keep the English; release times
are written in the reader's locale and the clinic's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask

from clinic.core.errors import DomainError
from clinic.i18n.sentences import OR, Coded, Listing, Moment, Word, said, sentence
from tests.followup.helpers import agreed_plan, signed_exam
from tests.helpers import csrf_token, open_case, signed_in


def test_a_sentence_keeps_its_english_and_is_said_in_the_readers_language(app: Flask) -> None:
    line = sentence(
        "She has not agreed to be contacted by %(channel)s. %(allowed)s",
        channel=Coded("contact-channel", "email", inline=True),
        allowed=sentence(
            "She allows %(channels)s only.",
            channels=Listing((Coded("contact-channel", "call", inline=True),)),
        ),
    )
    english = "She has not agreed to be contacted by email. She allows phone call only."
    assert line == english  # what logs and records keep
    assert str(line) == english
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert said(line) == (
            "Elle n'a pas accepté d'être contactée par ce moyen : courriel. "
            "Elle n'accepte que : appel téléphonique."
        )
        assert DomainError(line).said() == said(line)
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert said(line).startswith("No ha aceptado que se la contacte por este medio: correo")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert said(line) == english


def test_values_within_a_sentence(app: Flask) -> None:
    moment = datetime(2026, 12, 6, 13, 5, tzinfo=UTC)
    words = Listing((Word("Sent", inline=True), Word("Closed", inline=True)), OR)
    assert str(
        sentence(
            "A referral that is %(now)s can next be %(next)s only.",
            now=Word("Declined", inline=True),
            next=words,
        )
    ) == ("A referral that is declined can next be sent or closed only.")
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert said(words) == "envoyée ou clôturée"
        assert said(Moment(moment, "Europe/Paris", "Sunday 6 December 2026, 14:05")) == (
            "6 déc. 2026, 14:05 (Europe/Paris)"
        )
        # Not one of our codes: the English the service wrote, never a bare code.
        assert said(Coded("no-such-system", "x", english_text="As written")) == "As written"
        assert said("Her own words, as typed") == "Her own words, as typed"


@pytest.mark.parametrize(
    ("language", "expected", "english"),
    [
        (
            "fr",
            "Elle n&#39;a pas accepté d&#39;être contactée par ce moyen : courriel. "
            "Elle n&#39;accepte que : appel téléphonique.",
            "She has not agreed",
        ),
        (
            "es",
            "No ha aceptado que se la contacte por este medio: correo electrónico. "
            "Solo acepta: llamada telefónica.",
            "She allows",
        ),
    ],
)
def test_a_follow_up_refusal_is_in_the_counsellors_language(
    app: Flask, language: str, expected: str, english: str
) -> None:
    plan = agreed_plan(app, signed_exam(app, open_case(app).id))  # she allows calls only
    client = signed_in(app, "counsellor", language)
    path = f"/followup/plans/{plan}/contact"
    response = client.post(
        path,
        data={"channel": "email", "outcome": "reached", "csrf_token": csrf_token(client, path)},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page
    assert expected in page
    assert english not in page


def test_a_release_refusal_and_the_request_times_are_in_the_officers_language(
    app: Flask,
) -> None:
    client = signed_in(app, "officer", "es")
    response = client.post(
        "/releases/",
        data={
            "cited_reference": "NO-SUCH-REF",
            "crime_reference": "RP/2026/7",
            "csrf_token": csrf_token(client, "/releases/"),
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page
    assert "Solicite al menos uno de estos elementos: El informe del examen, Hisopos" in page
    assert "Ask for at least one of" not in page

    filed = client.post(
        "/releases/",
        data={
            "cited_reference": "NO-SUCH-REF",
            "crime_reference": "RP/2026/7",
            "requested": ["report", "identity"],
            "csrf_token": csrf_token(client, "/releases/"),
        },
    )
    assert filed.status_code == 302, filed.get_data(as_text=True)
    page = client.get(filed.headers["Location"]).get_data(as_text=True)
    assert " UTC" not in page
    # Babel's Spanish date ("6 dic 2026, 14:05", "6 sept 2026, 14:05"), not an ISO date.
    assert re.search(r"\d{1,2} [^\W\d_]{3,4}\.? \d{4}, \d{1,2}:\d{2}", page), page
    assert not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page)
    assert "el informe del examen; su nombre y sus datos de contacto" in page


def test_exam_summaries_keep_their_english_and_are_said_with_our_designations(app: Flask) -> None:
    """What the exam service composes (an injury, a treatment, a laboratory result,
    the time of the assault, an amendment, why a follow-up item is due) keeps the
    English the records have always had, and says our coded values in the reader's
    language."""
    from clinic.exam.resources import LabResult, Signer, Treatment
    from clinic.exam.services import _injury_words, amendment_in_words, describe_timing
    from clinic.exam.timing import AssaultTiming, TimingKind
    from clinic.followup.services import reason_in_words
    from tests.exam.helpers import INJURY

    at = datetime(2026, 12, 6, 3, 14, tzinfo=UTC)
    injury = _injury_words(INJURY)
    treatment = Treatment("emergency-contraception", "Levonorgestrel 1.5 mg", None, True, None, at)
    result = LabResult("hiv", "negative", "", Signer("Examiner", "Forensic examiner", None), at)
    timing = describe_timing(AssaultTiming(TimingKind.EXACT, at=at), "Europe/Paris")
    amended = amendment_in_words(f"Injury added: {INJURY.summary()}")
    reason = reason_in_words("counted from the exam on 6 December 2026")
    assert injury == "Bruise, left forearm, inner side, 30 mm x 12 mm (Forearm)"
    assert treatment.summary() == "Emergency contraception: Levonorgestrel 1.5 mg"
    assert result.summary() == "Negative"
    assert timing == "Sunday 6 December 2026, 04:14 (Europe/Paris)"
    assert amended == "Injury added: Bruise, left forearm, inner side, 30 mm x 12 mm"
    assert reason == "counted from the exam on 6 December 2026"
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert said(injury) == "Ecchymose, left forearm, inner side, 30 mm x 12 mm (Avant-bras)"
        assert said(treatment.summary()).startswith("Contraception d'urgence")
        assert said(result.summary()) == "Négatif"
        assert said(timing) == "6 déc. 2026, 04:14 (Europe/Paris)"
        assert "Ecchymose, left forearm" in said(amended)
        assert "6 déc. 2026" in said(reason)
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert said(injury).startswith("Equimosis, left forearm")
        assert said(result.summary()) == "Negativo"
