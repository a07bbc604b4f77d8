"""Consent forms that respect her time (issue 12, point 2): every error at once,
her drawn signature kept after a refused submit, no answer that breaks the
Consent, a way to sign without drawing, the signed form and her case card in her
language naming who took the consent; and a withdrawal must say what it withdraws.
Through the real screens (Flask test client) and a real database."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.cases.models import ReportingMode
from clinic.cli import unit_of_work
from clinic.consent.resources import SIGNATURE_METHOD_URL, TAKEN_BY_URL, extension_value, parts_of
from clinic.consent.services import ConsentRefused
from clinic.consent.words import WORDS
from clinic.core.clock import utcnow
from clinic.fhir.models import ResourceVersion
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD
from tests.consent.helpers import all_items, record
from tests.helpers import csrf_token, login, open_case, signature_png

SIGNATURE = "data:image/png;base64," + base64.b64encode(signature_png()).decode()


def _consents(app: Flask) -> list[dict[str, Any]]:
    with app.app_context(), unit_of_work() as uow:
        rows = uow.session.scalars(
            sa.select(ResourceVersion)
            .where(ResourceVersion.resource_type == "Consent")
            .order_by(ResourceVersion.last_updated)
        )
        return [json.loads(row.content) for row in rows]


def _identified(app: Flask) -> Any:
    return open_case(
        app,
        is_anonymous=False,
        name="Amina Example",
        birth_date=date(1996, 5, 1),
        age_years=None,
        reporting_mode=ReportingMode.UNREPORTED,
    )


def _post(client: FlaskClient, case_id: str, form_id: str, data: dict[str, Any]) -> Any:
    path = f"/cases/{case_id}/consent/{form_id}/record?lang={data.get('language', 'en')}"
    data = {"csrf_token": csrf_token(client, path), "language": "en"} | data
    return client.post(f"/cases/{case_id}/consent/{form_id}/record", data=data)


def _agree_all(app: Flask, form_id: str) -> dict[str, str]:
    form = app.extensions["clinic.consent_forms"].newest(form_id)
    return {f"item_{item.id}": "agree" for item in form.items}


# -- every error at once --------------------------------------------------------------


def test_a_blank_police_form_shows_every_error_at_once_each_next_to_its_item(
    app: Flask, client: FlaskClient
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    response = _post(client, case.id, "police-release", {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    form = app.extensions["clinic.consent_forms"].newest("police-release")
    asked = [item for item in form.items if item.within is None]
    # Next to each item: its error inside the item's own fieldset.
    for item in asked:
        fieldset = html.split(f'<fieldset id="item_{item.id}"', 1)[1].split("</fieldset>", 1)[0]
        assert 'class="error"' in fieldset, item.id
        assert "record her answer" in fieldset, item.id
    # And the other problems too, in the same response: free choice and signature.
    assert 'id="free_choice-error"' in html
    assert 'id="signature-error"' in html
    # The summary at the top links to each one.
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    links = re.findall(r'<a href="#([^"]+)">', summary)
    assert [f"item_{item.id}" for item in asked] == links[: len(asked)]
    assert "free_choice" in links
    assert "signature-pad" in links
    for target in links:
        assert f'id="{target}"' in html, target
    assert _consents(app) == []


def test_the_service_reports_every_problem_in_one_refusal(app: Flask) -> None:
    case = open_case(app)
    with pytest.raises(ConsentRefused) as refused:
        record(app, case.id, "police-release/v1", {}, free_choice=False, signature_png=b"")
    fields = [field for field, _ in refused.value.problems]
    form = app.extensions["clinic.consent_forms"].get("police-release/v1")
    for item in form.items:
        if item.within is None:
            assert f"item_{item.id}" in fields
    assert "free_choice" in fields
    assert "signature" in fields
    assert refused.value.field == fields[0]


def test_a_release_agreed_without_force_or_date_names_both_at_once(
    app: Flask, client: FlaskClient
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    data = _agree_all(app, "police-release") | {"free_choice": "y", "signature": SIGNATURE}
    data["until"] = "not a date"
    html = _post(client, case.id, "police-release", data).get_data(as_text=True)
    assert 'id="police_force-error"' in html
    assert 'id="until-error"' in html


# -- her signature survives a refused submit ----------------------------------------------


def test_her_drawn_signature_comes_back_after_a_refused_submit(
    app: Flask, client: FlaskClient
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    response = _post(client, case.id, "exam-treatment", {"signature": SIGNATURE})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = re.search(r'<input type="hidden" name="signature" id="signature" value="([^"]*)"', html)
    assert field is not None
    assert unescape(field.group(1)) == SIGNATURE
    kept = re.search(r'<p class="notice signature-kept"[^>]*>', html)
    assert kept is not None
    assert "hidden" not in kept.group(0)
    assert "data-clear-signature" in html
    # Answering now, with the kept signature as the page sends it back, records it.
    data = _agree_all(app, "exam-treatment") | {
        "free_choice": "y",
        "signature": unescape(field.group(1)),
    }
    assert _post(client, case.id, "exam-treatment", data).status_code == 302
    consent = _consents(app)[-1]
    # Something that is not a signature is never sent back.
    html = _post(
        client, case.id, "exam-treatment", {"signature": "data:image/png;base64,bm90IGEgcG5n"}
    ).get_data(as_text=True)
    assert 'name="signature" id="signature" value=""' in html
    stored = extension_value(
        consent, "https://forensic-care.org/fhir/StructureDefinition/fc-consent-signature"
    )
    assert base64.b64decode(stored["data"]) == signature_png()


# -- every answer gives a valid Consent: the two cases reported -----------------------------


@pytest.mark.parametrize(
    "answers",
    [
        {
            "non-intimate-photos": "agree",
            "intimate-images": "agree",
            "intimate-view-examiners": "agree",
            "intimate-view-expert": "decline",
        },
        {
            "non-intimate-photos": "decline",
            "intimate-images": "decline",
            "intimate-view-examiners": "decline",
            "intimate-view-expert": "decline",
        },
    ],
    ids=["expert-declined", "every-photo-declined"],
)
def test_declining_photographs_records_a_consent_and_shows_a_page(
    app: Flask, client: FlaskClient, answers: dict[str, str]
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    data = {f"item_{item}": verdict for item, verdict in answers.items()}
    data |= {"name_intimate-view-expert": "", "free_choice": "y", "signature": SIGNATURE}
    response = _post(client, case.id, "photo-documentation", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    (consent,) = _consents(app)
    validate_resource(consent, app.extensions["clinic.profiles"])
    declined = [p for p in consent["provision"]["provision"] if p["type"] == "deny"]
    assert len(declined) == list(answers.values()).count("decline")


def test_consent_screens_answer_errors_with_pages_never_json(
    app: Flask, client: FlaskClient, world: Any
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    odd = "A\x0cB\u2028C" * 20
    for form_id in ("photo-documentation", "information-sharing", "police-release"):
        data = _agree_all(app, form_id) | {
            "free_choice": "y",
            "signature": SIGNATURE,
            "given_by": "proxy",
            "proxy_relationship": "guardian",
            "proxy_reason": odd,
            "interpreter": odd,
            "witness": odd,
            "never_share_people": odd + "\n\n  \n" + odd,
            "never_share": [world.organizations["FORLAB"], "no-such-organisation"],
            "item_intimate-view-expert": "decline",
            "name_intimate-view-expert": "",
            "police_force": world.organizations["HILLPOL"],
            "until": (utcnow().date() + timedelta(days=30)).isoformat(),
        }
        response = _post(client, case.id, form_id, data)
        assert response.mimetype == "text/html", response.get_data(as_text=True)[:300]
        assert response.status_code in (302, 422)
    for path in ("/consent/nothing/record", "/consent/c/nothing", "/consent/c/nothing/withdraw"):
        assert client.get(f"/cases/{case.id}{path}").mimetype == "text/html"
    bad = client.post(f"/cases/{case.id}/consent/statistics/record", data={"x": "y"})
    assert bad.status_code == 400
    assert bad.mimetype == "text/html"


# -- signing without drawing: her typed name, confirmed by a named witness ---------------


def test_she_can_sign_by_typing_her_name_confirmed_by_a_named_witness(
    app: Flask, client: FlaskClient
) -> None:
    case = _identified(app)
    login(client, "examiner", PASSWORD)
    data = _agree_all(app, "statistics") | {
        "free_choice": "y",
        "signature_method": "typed-witnessed",
    }
    # Without the name and the witness it is refused, both named at once.
    html = _post(client, case.id, "statistics", data).get_data(as_text=True)
    assert 'id="typed_name-error"' in html
    assert 'id="signature_witness-error"' in html
    data |= {"typed_name": "Amina Example", "signature_witness": "Sam Nurse, forensic nurse"}
    response = _post(client, case.id, "statistics", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    (consent,) = _consents(app)
    validate_resource(consent, app.extensions["clinic.profiles"])
    method = parts_of(extension_value(consent, SIGNATURE_METHOD_URL))
    assert method == {
        "method": ["typed-witnessed"],
        "name": ["Amina Example"],
        "witness": ["Sam Nurse, forensic nurse"],
    }
    assert "https://forensic-care.org/fhir/StructureDefinition/fc-consent-signature" not in [
        e["url"] for e in consent["extension"]
    ]
    printed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert WORDS["en"]["signed_typed"] in printed
    assert "Amina Example" in printed
    assert "Sam Nurse, forensic nurse" in printed
    assert "signature.png" not in printed


def test_a_typed_signature_without_its_witness_is_refused_by_the_profile(app: Flask) -> None:
    from clinic.fhir.outcome import FhirError

    case = open_case(app)
    record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    (consent,) = _consents(app)
    consent["extension"] = [
        e
        for e in consent["extension"]
        if not e["url"].endswith(("fc-consent-signature", "fc-consent-signature-method"))
    ] + [
        {
            "url": SIGNATURE_METHOD_URL,
            "extension": [{"url": "method", "valueCode": "typed-witnessed"}],
        }
    ]
    with pytest.raises(FhirError, match="fc-consent-10"):
        validate_resource(consent, app.extensions["clinic.profiles"])


def test_a_drawn_signature_is_the_default_and_is_recorded_as_such(app: Flask) -> None:
    case = open_case(app)
    record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    (consent,) = _consents(app)
    assert parts_of(extension_value(consent, SIGNATURE_METHOD_URL)) == {"method": ["drawn"]}
    taken = parts_of(extension_value(consent, TAKEN_BY_URL))
    assert taken == {"name": ["Examiner"], "role": ["examiner"]}


# -- the signed form in her language, naming who took it -----------------------------------


def _printed(html: str) -> str:
    """What is printed: the page without what never prints, as text."""
    html = re.sub(r'<(p|section) class="no-print"[^>]*>.*?</\1>', "", html, flags=re.S)
    html = re.sub(r"<(title|style|script)[^>]*>.*?</\1>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("language", ["fr", "es"])
def test_the_printed_form_is_entirely_in_her_language_and_names_who_took_it(
    app: Flask, client: FlaskClient, language: str
) -> None:
    case = _identified(app)
    consent_id = record(
        app,
        case.id,
        "information-sharing/v1",
        all_items(app, "information-sharing/v1") | {"gp": False},
        language=language,
        interpreter="Interprétariat 42",
        witness="Sam Témoin",
        never_share_people=("Son ancien compagnon",),
    )
    # She later withdraws one item: the withdrawal prints in her language too.
    from tests.consent.helpers import withdraw

    narrowed = withdraw(app, case.id, consent_id, items=("advocate",))
    login(client, "examiner", PASSWORD)
    for shown in (consent_id, narrowed):
        html = client.get(f"/cases/{case.id}/consent/c/{shown}").get_data(as_text=True)
        text = _printed(html)
        english = set(WORDS["en"].values()) - set(WORDS[language].values())
        english |= {"Consented by", "Interpreter", "Witness", "Status", "recorded", "Signature"}
        english |= {"Withdrawal", "in person", "active", "inactive", "UTC", "case", "Agreed"}
        english -= set(WORDS[language].values())
        if language == "fr":
            english.discard("Signature")  # the same word in French
        for label in sorted(english, key=len, reverse=True):
            pattern = rf"(?<![\w']){re.escape(label)}(?![\w'])"
            assert not re.search(pattern, text, flags=re.I), f"{label!r} printed in {language}"
        assert f"{WORDS[language]['taken_by']}" in text
        assert f"Examiner ({WORDS[language]['role_examiner']})" in text
    assert WORDS[language]["withdrawal"] in text
    assert WORDS[language]["method_in-person"] in text


# -- the case card in her language -------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "es"])
def test_her_case_card_is_in_the_language_of_her_latest_consent(
    app: Flask, client: FlaskClient, language: str
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    before = client.get(f"/cases/{case.id}/card").get_data(as_text=True)
    assert WORDS["en"]["card_reference"] in before  # English until she consents
    record(
        app, case.id, "exam-treatment/v1", all_items(app, "exam-treatment/v1"), language=language
    )
    card = client.get(f"/cases/{case.id}/card").get_data(as_text=True)
    assert f'<article class="case-card" lang="{language}">' in card
    assert WORDS[language]["card_reference"] in card
    assert unescape(card).count(WORDS[language]["card_keep"]) == 1
    assert WORDS["en"]["card_reference"] not in card
    assert WORDS["en"]["card_keep"] not in unescape(card)
    assert case.reference in card


# -- a withdrawal says what it withdraws ---------------------------------------------------


def test_a_withdrawal_naming_no_item_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    case = open_case(app)
    consent_id = record(app, case.id, "exam-treatment/v1", all_items(app, "exam-treatment/v1"))
    login(client, "counsellor", PASSWORD)
    path = f"/cases/{case.id}/consent/c/{consent_id}/withdraw?item=general-exam"
    before = _consents(app)
    response = client.post(
        f"/cases/{case.id}/consent/c/{consent_id}/withdraw",
        data={
            "csrf_token": csrf_token(client, path),
            "method": "in-person",
            "by": "the survivor",
            "confirm": "y",
        },
    )
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "Nothing was withdrawn" in response.get_data(as_text=True)
    assert _consents(app) == before
    assert all(consent["status"] == "active" for consent in before)
    # Withdrawing everything is still possible, by choosing it.
    whole = f"/cases/{case.id}/consent/c/{consent_id}/withdraw"
    assert 'name="everything" value="yes"' in client.get(whole).get_data(as_text=True)
    response = client.post(
        whole,
        data={
            "csrf_token": csrf_token(client, whole),
            "everything": "yes",
            "method": "in-person",
            "by": "the survivor",
            "confirm": "y",
        },
    )
    assert response.status_code == 302
    assert _consents(app)[-1]["status"] == "inactive"


def test_the_service_refuses_a_withdrawal_of_nothing_in_particular(app: Flask) -> None:
    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.consent import services
    from clinic.consent.resources import Withdrawal

    case = open_case(app)
    consent_id = record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "counsellor"))
        with pytest.raises(ConsentRefused) as refused:
            services.withdraw(
                uow,
                app.extensions["clinic.profiles"],
                actor=actor_for(user),
                case_id=case.id,
                consent_id=consent_id,
                withdrawal=Withdrawal(method="in-person", by="the survivor", items=(), at=utcnow()),
            )
    assert refused.value.field == "item"
    assert [c["status"] for c in _consents(app)] == ["active"]


def test_every_language_has_every_word_she_reads() -> None:
    from clinic.consent.definitions import LANGUAGES

    assert set(WORDS) == set(LANGUAGES)
    for language, words in WORDS.items():
        assert set(words) == set(WORDS["en"]), language
        assert all(text.strip() for text in words.values()), language
