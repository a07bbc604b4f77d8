"""What the examiner reads at the bedside while the exam is under way, in her own
language: what still stands between the exam and its sign-off, why a part she
declined cannot be recorded, and every problem with a consent form she is filling
in. Services keep their English (a refusal is a `str`); screens say it."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.exam.helpers import read, record_exam_consent, start
from tests.helpers import csrf_token, open_case, signed_in
from tests.i18n.test_pages_in_language import english_on, english_words_on

SAID = {
    "fr": ("Enregistrez l\u2019anamnèse.", "Elle a refusé l\u2019examen anogénital"),
    "es": ("Registre la anamnesis.", "Rechazó la exploración anogenital"),
}


def _english(page: str, language: str) -> list[str]:
    return english_on(page, language) + english_words_on(page, language)


@pytest.mark.parametrize("language", ["fr", "es"])
def test_an_exam_under_way_says_what_is_missing_in_the_examiners_language(
    app: Flask, language: str
) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id, anogenital_exam=False)
    exam = start(app, case.id)
    examiner = signed_in(app, "examiner", language)

    overview = examiner.get(f"/exams/{exam}").get_data(as_text=True)
    anogenital = examiner.get(f"/exams/{exam}/anogenital").get_data(as_text=True)

    history, declined = SAID[language]
    assert history in overview
    assert declined in anogenital
    assert _english(overview, language) == []
    assert _english(anogenital, language) == []


@pytest.mark.parametrize("language", ["fr", "es"])
def test_a_consent_form_sent_unanswered_says_every_problem_in_the_examiners_language(
    app: Flask, language: str
) -> None:
    case = open_case(app)
    examiner = signed_in(app, "examiner", language)
    path = f"/cases/{case.id}/consent/exam-treatment/record"
    # The form is read to her in the other language.
    hers = "es" if language == "fr" else "fr"
    refused = examiner.post(
        path,
        data={
            "language": hers,
            "signature_method": "drawn",
            "signature": "data:image/png;base64,bm90IGEgcG5n",
            "csrf_token": csrf_token(examiner, f"{path}?lang={hers}"),
        },
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert summary is not None, page
    # Every item unanswered, her free choice unconfirmed, a signature that is no PNG.
    assert summary[0].count("<li") >= 4
    assert _english(page, language) == []
    errors = re.findall(r'<p class="error"[^>]*>', page)
    assert errors
    # Said in the examiner's language, even inside a form printed in hers.
    assert f'<div lang="{hers}">' in page
    assert all(re.search(r'lang="(?!' + language + ")", error) is None for error in errors), errors


def test_the_services_keep_their_english(app: Flask) -> None:
    """What the service returns is English text, as it always was: only screens
    translate it."""
    case = open_case(app)
    exam = start(app, case.id)
    missing = read(app, exam).missing_for_sign_off()
    assert "Record the history." in missing
    assert all(isinstance(line, str) for line in missing)
