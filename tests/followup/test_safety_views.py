"""The safety screen and what she takes home, through the Flask client: the
counsellor assesses with her (answers from the exam marked), a refused answer is
shown next to its question with nothing written, the flag shows on her plan and
the caseload; the appointment card and aftercare sheet print in her language
without a word that reveals the assault, naming the clinic as the site chose."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from clinic import create_app
from clinic.core.clock import utcnow
from clinic.exam.lists import STRANGULATION_ADVICE
from clinic.followup import services
from clinic.followup.safety_checklist import QUESTIONS
from clinic.followup.take_home_words import TAKE_HOME_WORDS
from tests.conftest import PASSWORD
from tests.followup.helpers import agreed_plan, signed_exam
from tests.followup.helpers import call as followup_call
from tests.followup.safety_helpers import partner_plan
from tests.helpers import csrf_token, login, open_case

# Words that must never be on paper she takes home.
REVEALING = (
    "assault",
    "rape",
    "sexual",
    "strangl",
    "forensic",
    "violence",
    "abuse",
    "partner",
    "HIV",
    "PEP",
    "agression",
    "violación",
    "viol",
    "VIH",
)


def _form(page: str) -> dict[str, str]:
    """The answers as pre-filled on the page."""
    data = {}
    for name, value in re.findall(
        r'<input checked[^>]*name="(answer-[^"]+)"[^>]*value="([^"]+)"', page
    ):
        data[name] = value
    for name, value in re.findall(
        r'<input[^>]*checked[^>]*name="(answer-[^"]+)"[^>]*value="([^"]+)"', page
    ):
        data[name] = value
    return data


def test_the_counsellor_assesses_and_the_team_is_flagged(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    plan_id = partner_plan(app, open_case(app).id)
    login(client, "counsellor", PASSWORD)
    plan_page = client.get(f"/followup/plans/{plan_id}").get_data(as_text=True)
    assert f"/followup/plans/{plan_id}/safety" in plan_page
    assert "flag-high-risk" not in plan_page
    page = client.get(f"/followup/plans/{plan_id}/safety").get_data(as_text=True)
    assert "partner or former partner: offer her this assessment" in page
    assert "At the exam: she described strangulation or suffocation (from the exam): Yes" in page
    prefilled = _form(page)
    assert prefilled["answer-strangled"] == "yes"
    assert "answer-self-harm-thoughts" not in prefilled  # her mental state: her consent
    assert "answer-weapons" not in prefilled  # nothing guessed
    token = csrf_token(client, f"/followup/plans/{plan_id}/safety")

    # A question left unanswered: refused next to it, nothing written.
    refused = client.post(
        f"/followup/plans/{plan_id}/safety", data=prefilled | {"csrf_token": token}
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert 'href="#answer-injured-this-time"' not in body  # carried over: answered
    assert "yes, no, or not asked" in body
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM safety_assessments").scalar() == 0

    every = {f"answer-{q.code}": "yes" for q in QUESTIONS}
    made = client.post(
        f"/followup/plans/{plan_id}/safety",
        data=every
        | {
            "safe_places": "Her sister's flat",
            "people_to_call": "Her sister",
            "keep_ready": ["phone", "money"],
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    page = client.get(f"/followup/plans/{plan_id}/safety").get_data(as_text=True)
    assert "27 of 27 answered yes (high risk at 14)" in page
    assert "Her sister&#39;s flat" in page
    assert "flag-high-risk" in client.get(f"/followup/plans/{plan_id}").get_data(as_text=True)
    caseload = client.get("/followup/caseload").get_data(as_text=True)
    assert "High risk (safety assessment)" in caseload


def test_the_examiner_reads_but_does_not_assess(app: Flask, client: FlaskClient) -> None:
    plan_id = partner_plan(app, open_case(app).id)
    login(client, "examiner", PASSWORD)
    page = client.get(f"/followup/plans/{plan_id}/safety")
    assert page.status_code == 200
    assert "Record the assessment" not in page.get_data(as_text=True)
    refused = client.post(
        f"/followup/plans/{plan_id}/safety",
        data={"csrf_token": csrf_token(client, f"/followup/plans/{plan_id}/safety")},
    )
    assert refused.status_code == 403


def _book(app: Flask, plan_id: str) -> None:
    record = followup_call(app, "counsellor", services.read_plan, plan_id=plan_id)
    position = next(n for n, item in enumerate(record.items) if item.kind == "visit")
    followup_call(
        app,
        "counsellor",
        services.book_appointment,
        plan_id=plan_id,
        position=position,
        starts_at=utcnow() + timedelta(days=10),
        minutes=30,
    )


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_what_she_takes_home_is_in_her_language_and_reveals_nothing(
    app: Flask, client: FlaskClient, language: str
) -> None:
    from tests.consent.helpers import record as record_consent

    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    form = app.extensions["clinic.consent_forms"].get("information-sharing/v1")
    record_consent(
        app,
        case.id,
        "information-sharing/v1",
        # She lets the counselling team see her exam report, nothing else.
        {item.id: item.id.startswith("counselling-") for item in form.items},
        language=language,
    )
    _book(app, plan_id)
    words = {key: str(escape(value)) for key, value in TAKE_HOME_WORDS[language].items()}
    for username in ("counsellor", "examiner"):
        client = app.test_client()
        login(client, username, PASSWORD)
        card = client.get(f"/followup/plans/{plan_id}/appointment-card")
        assert card.status_code == 200
        text = card.get_data(as_text=True)
        printed = text.split('<article class="take-home appointment-card"', 1)[1]
        assert f'lang="{language}"' in printed
        assert words["bring_list"] in printed
        assert printed.count("<li>") == 1  # the one booked appointment
        sheet = client.get(f"/followup/plans/{plan_id}/aftercare").get_data(as_text=True)
        printed_sheet = sheet.split('<article class="take-home aftercare"', 1)[1]
        assert words["med_hiv-pep-starter"] in printed_sheet
        assert words["med_emergency-contraception"] in printed_sheet
        assert words["neck_signs"] in printed_sheet  # strangulation recorded at the exam
        assert words["item_test"] in printed_sheet
        for paper in (printed, printed_sheet):
            paper = paper.split("</article>", 1)[0]
            for word in REVEALING:
                assert word.lower() not in paper.lower(), (word, language)
            assert case.reference not in paper


def test_the_neck_advice_holds_every_danger_sign_of_the_exam() -> None:
    english = TAKE_HOME_WORDS["en"]["neck_signs"]
    signs = STRANGULATION_ADVICE.split("for: ", 1)[1].rstrip(".").replace(", or ", ", ")
    for sign in signs.split(", "):
        assert sign in english, sign
    assert {tuple(sorted(words)) for words in TAKE_HOME_WORDS.values()} == {
        tuple(sorted(TAKE_HOME_WORDS["en"]))
    }


def test_no_neck_advice_without_strangulation(app: Flask, client: FlaskClient) -> None:
    plan_id = agreed_plan(app, signed_exam(app, open_case(app).id))
    login(client, "counsellor", PASSWORD)
    sheet = client.get(f"/followup/plans/{plan_id}/aftercare").get_data(as_text=True)
    assert TAKE_HOME_WORDS["en"]["neck_signs"] not in sheet
    assert TAKE_HOME_WORDS["en"]["general_signs"] in sheet


def test_a_site_names_itself_discreetly_on_everything_she_takes_home(
    app_config: dict[str, object], tmp_path: Path
) -> None:
    settings = tmp_path / "settings"
    settings.mkdir()
    default = Path(__file__).resolve().parents[2] / "site_settings" / "default.toml"
    (settings / "default.toml").write_text(default.read_text())
    (settings / "NORTH.toml").write_text(
        '[printed]\ndiscreet_name = "Riverside Wellbeing"\nphone = "+44 20 7946 0000"\n'
        "[safety]\nhigh_risk_threshold = 10\n"
    )
    app = create_app({**app_config, "CLINIC_SITE_SETTINGS_DIR": str(settings)})
    client = app.test_client()
    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    login(client, "counsellor", PASSWORD)
    for path in (
        f"/followup/plans/{plan_id}/appointment-card",
        f"/followup/plans/{plan_id}/aftercare",
        f"/cases/{case.id}/card",
    ):
        page = client.get(path).get_data(as_text=True)
        assert "Riverside Wellbeing" in page, path
        assert "+44 20 7946 0000" in page, path
        article = page.split("<article", 1)[1].split("</article>", 1)[0]
        assert "North" not in article, path  # the real site name is never printed
    page = client.get(f"/followup/plans/{plan_id}/safety").get_data(as_text=True)
    assert "10 or more yes answers" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[safety]\nhigh_risk_threshold = 0\n", "high_risk_threshold must be from 1 to 27"),
        ("[safety]\nhigh_risk_threshold = true\n", "high_risk_threshold must be a int"),
        ('[printed]\nphone = "call me"\n', "phone may hold digits"),
        ('[printed]\nname = "x"\n', "[printed] name is not a setting"),
    ],
)
def test_the_app_refuses_site_settings_it_cannot_use(
    app_config: dict[str, object], tmp_path: Path, content: str, message: str
) -> None:
    default = Path(__file__).resolve().parents[2] / "site_settings" / "default.toml"
    (tmp_path / "default.toml").write_text(default.read_text())
    (tmp_path / "NORTH.toml").write_text(content)
    with pytest.raises(SystemExit) as stopped:
        create_app({**app_config, "CLINIC_SITE_SETTINGS_DIR": str(tmp_path)})
    assert message in str(stopped.value)
    assert "NORTH.toml" in str(stopped.value)


def test_her_aftercare_sheet_is_the_same_whoever_prints_it(app: Flask, client: FlaskClient) -> None:
    """She declined to share anything with the counselling team: the counsellor's
    printout still holds the neck advice decided from her exam when the plan was
    agreed, and is the examiner's printout word for word."""
    from tests.followup.referral_helpers import shares

    case = open_case(app)
    plan_id = partner_plan(app, case.id)  # strangulation recorded at the exam
    shares(app, case.id)  # every item declined
    printed = {}
    for username in ("counsellor", "examiner"):
        client = app.test_client()
        login(client, username, PASSWORD)
        sheet = client.get(f"/followup/plans/{plan_id}/aftercare")
        assert sheet.status_code == 200
        text = sheet.get_data(as_text=True)
        paper = text.split('<article class="take-home aftercare"', 1)[1]
        printed[username] = paper.split("</article>", 1)[0]
    assert str(escape(TAKE_HOME_WORDS["en"]["neck_signs"])) in printed["counsellor"]
    assert printed["counsellor"] == printed["examiner"]


def test_a_plan_agreed_before_the_advice_was_kept_is_decided_once_at_first_print(
    app: Flask, client: FlaskClient, engine: sa.Engine
) -> None:
    from clinic.followup.models import FollowUpPlan
    from tests.followup.referral_helpers import shares

    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    shares(app, case.id)  # every item declined
    with engine.begin() as connection:
        connection.execute(
            sa.update(FollowUpPlan).where(FollowUpPlan.id == plan_id).values(neck_advice=None)
        )
    login(client, "counsellor", PASSWORD)
    sheet = client.get(f"/followup/plans/{plan_id}/aftercare").get_data(as_text=True)
    assert str(escape(TAKE_HOME_WORDS["en"]["neck_signs"])) in sheet
    with engine.begin() as connection:
        kept = connection.scalar(
            sa.select(FollowUpPlan.neck_advice).where(FollowUpPlan.id == plan_id)
        )
    assert kept is True
