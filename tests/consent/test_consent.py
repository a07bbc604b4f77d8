"""Recording, printing, replacing and withdrawing consent, and what it changes:
through the screens, the FHIR API and the CLI export alike."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.consent import ConsentRequest, Recipient, evaluate
from clinic.cli import cli, unit_of_work
from clinic.consent.book import consent_book
from clinic.consent.definitions import LANGUAGES
from clinic.consent.resources import PROFILE
from clinic.consent.services import ConsentRefused
from clinic.core.clock import utcnow
from clinic.fhir.models import ResourceVersion
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD
from tests.consent.helpers import all_items, record, release_to, withdraw
from tests.helpers import api, csrf_token, login, open_case, signature_png


def _identified_case(app: Flask) -> Any:
    from clinic.cases.models import ReportingMode

    return open_case(
        app,
        is_anonymous=False,
        name="Amina Example",
        birth_date=date(1996, 5, 1),
        age_years=None,
        reporting_mode=ReportingMode.UNREPORTED,
    )


def _consents(app: Flask) -> list[dict[str, Any]]:
    with app.app_context(), unit_of_work() as uow:
        rows = uow.session.scalars(
            sa.select(ResourceVersion).where(ResourceVersion.resource_type == "Consent")
        )
        return [json.loads(row.content) for row in rows]


# -- every form, every language: record, print, withdraw -----------------------------


def _post_form(
    client: FlaskClient, app: Flask, case_id: str, form_id: str, language: str, world: Any
) -> Any:
    path = f"/cases/{case_id}/consent/{form_id}/record?lang={language}"
    page = client.get(path)
    assert page.status_code == 200
    form = app.extensions["clinic.consent_forms"].newest(form_id)
    html = page.get_data(as_text=True)
    for item in form.items:
        assert item.text[language].replace("'", "&#39;") in html
    assert (
        "checked"
        not in re.sub(r"<input[^>]*type=\"hidden\"[^>]*>", "", html)
        .split("consent-capture")[1]
        .split("circumstances")[0]
    )
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, path),
        "language": language,
        "given_by": "survivor",
        "free_choice": "y",
        "signature": "data:image/png;base64," + base64.b64encode(signature_png()).decode(),
        "interpreter": "Language Line" if language != "en" else "",
    }
    for item in form.items:
        data[f"item_{item.id}"] = "agree"
        if "person-name" in item.asks:
            data[f"name_{item.id}"] = "Dr Expert"
    if "police-force" in form.asks:
        data["police_force"] = world.organizations["RIVERPOL"]
        data["until"] = (utcnow().date() + timedelta(days=180)).isoformat()
    return client.post(f"/cases/{case_id}/consent/{form_id}/record", data=data)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_form_can_be_recorded_printed_and_withdrawn_in_each_language(
    app: Flask, client: FlaskClient, world: Any, language: str
) -> None:
    case = _identified_case(app)
    login(client, "examiner", PASSWORD)
    library = app.extensions["clinic.consent_forms"]
    for form in library.current():
        response = _post_form(client, app, case.id, form.form, language, world)
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        consent_id = response.headers["Location"].rsplit("/", 1)[1]
        printed = client.get(f"/cases/{case.id}/consent/c/{consent_id}").get_data(as_text=True)
        assert f'<html lang="{language}">' in printed
        assert form.title[language].replace("'", "&#39;") in printed
        assert form.sha256 in printed
        assert f"/cases/{case.id}/consent/c/{consent_id}/signature.png" in printed
        assert case.reference in printed
        png = client.get(f"/cases/{case.id}/consent/c/{consent_id}/signature.png")
        assert png.status_code == 200
        assert png.data == signature_png()
        # Withdraw the first item: two clicks (the link, then the confirmed form).
        first = form.items[0].id
        withdraw_path = f"/cases/{case.id}/consent/c/{consent_id}/withdraw?item={first}"
        assert client.get(withdraw_path).status_code == 200
        withdrawn = client.post(
            f"/cases/{case.id}/consent/c/{consent_id}/withdraw",
            data={
                "csrf_token": csrf_token(client, withdraw_path),
                "item": first,
                "method": "in-person",
                "by": "the survivor",
                "confirm": "y",
            },
        )
        assert withdrawn.status_code == 302, withdrawn.get_data(as_text=True)[:2000]
    dashboard = client.get(f"/cases/{case.id}/consent").get_data(as_text=True)
    assert dashboard.count("Withdrawn") == len(library.current())
    # Every Consent written claims and meets our profile (and the base invariants).
    registry = app.extensions["clinic.profiles"]
    written = _consents(app)
    assert len(written) >= 3 * len(library.current())
    for content in written:
        assert content["meta"]["profile"] == [PROFILE]
        validate_resource(content, registry)
        assert content["language"] == language


# -- the Consent resource -------------------------------------------------------------


def test_a_consent_records_declines_as_clearly_as_grants_with_nested_exceptions(
    app: Flask, world: Any
) -> None:
    case = open_case(app)
    consent_id = release_to(
        app,
        case.id,
        "RIVERPOL",
        {**all_items(app, "police-release/v1"), "report-account": False, "identity": False},
    )
    content = next(c for c in _consents(app) if c["id"] == consent_id)
    assert content["policyRule"]["coding"][0]["code"] == "OPTIN"
    assert "type" not in content["provision"]
    first_level = {
        p["extension"][0]["valueCoding"]["code"]: p for p in content["provision"]["provision"]
    }
    assert first_level["identity"]["type"] == "deny"
    report = first_level["report"]
    assert report["type"] == "permit"
    assert (
        report["actor"][0]["reference"]["reference"]
        == f"Organization/{world.organizations['RIVERPOL']}"
    )
    assert report["period"]["end"] > utcnow().isoformat()[:10]
    assert [(p["type"], p["class"][0]["code"]) for p in report["provision"]] == [
        ("deny", "assault-account")
    ]
    source = content["sourceAttachment"]
    form = app.extensions["clinic.consent_forms"].get("police-release/v1")
    assert source["url"].endswith("/consent-form/police-release/v1")
    assert source["extension"][0]["valueString"] == form.sha256


def test_recording_the_same_form_again_replaces_the_consent_in_force(app: Flask) -> None:
    case = open_case(app)
    first = record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    second = record(app, case.id, "statistics/v1", {"anonymous-statistics": False})
    by_version = {(c["id"], c["meta"]["versionId"]): c for c in _consents(app)}
    assert by_version[(first, "1")]["status"] == "active"
    assert by_version[(first, "2")]["status"] == "inactive"
    latest = by_version[(second, "1")]
    assert latest["status"] == "active"
    replaces = [e for e in latest["extension"] if e["url"].endswith("fc-consent-replaces")]
    assert replaces[0]["valueReference"]["reference"] == f"Consent/{first}"


def test_a_partial_withdrawal_replaces_the_consent_with_that_item_declined(app: Flask) -> None:
    case = open_case(app)
    first = record(app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    second = withdraw(app, case.id, first, items=("counselling-report",), method="phone-verified")
    by_version = {(c["id"], c["meta"]["versionId"]): c for c in _consents(app)}
    assert by_version[(first, "2")]["status"] == "inactive"
    narrowed = by_version[(second, "1")]
    types = {
        p["extension"][0]["valueCoding"]["code"]: p["type"]
        for p in narrowed["provision"]["provision"]
    }
    assert types["counselling-report"] == "deny"
    assert types["counselling-contact"] == "permit"
    withdrawal = next(
        e for e in narrowed["extension"] if e["url"].endswith("fc-consent-withdrawal")
    )
    parts = {
        p["url"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in withdrawal["extension"]
    }
    assert parts["method"]["code"] == "phone-verified"
    assert parts["verified"] is True
    assert parts["item"] == "counselling-report"
    # The signature she gave stays with the narrowed consent.
    assert any(e["url"].endswith("fc-consent-signature") for e in narrowed["extension"])


def test_withdrawing_everything_makes_the_consent_inactive_with_who_and_how(app: Flask) -> None:
    case = open_case(app)
    consent_id = record(app, case.id, "statistics/v1", {"anonymous-statistics": True})
    withdraw(app, case.id, consent_id)
    latest = max(
        (c for c in _consents(app) if c["id"] == consent_id),
        key=lambda c: int(c["meta"]["versionId"]),
    )
    assert latest["status"] == "inactive"
    assert any(e["url"].endswith("fc-consent-withdrawal") for e in latest["extension"])
    with pytest.raises(ConsentRefused, match="no longer in force"):
        withdraw(app, case.id, consent_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agreed": {}}, "item_anonymous-statistics"),
        ({"signature_png": b""}, "signature"),
        ({"signature_png": b"not a png"}, "signature"),
        ({"free_choice": False}, "free_choice"),
        ({"language": "de"}, "language"),
        ({"agreed": {"anonymous-statistics": True, "made-up": True}}, "item_made-up"),
    ],
    ids=[
        "unanswered item",
        "no signature",
        "not a PNG",
        "pressured",
        "unknown language",
        "unknown item",
    ],
)
def test_bad_consent_input_is_refused_by_field_and_writes_nothing(
    app: Flask, change: dict[str, Any], field: str
) -> None:
    case = open_case(app)
    agreed = change.pop("agreed", {"anonymous-statistics": True})
    with pytest.raises(ConsentRefused) as refused:
        record(app, case.id, "statistics/v1", agreed, **change)
    assert refused.value.field == field
    assert _consents(app) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "police_force"),
        ({"police_force": ("lab", "FORLAB")}, "police_force"),
        ({"police_force": ("river", "RIVERPOL")}, "until"),
    ],
    ids=["no force", "not a police force", "no end date"],
)
def test_a_release_needs_a_police_force_and_an_end_date(
    app: Flask, world: Any, change: dict[str, Any], field: str
) -> None:
    case = open_case(app)
    if "police_force" in change:
        code = change["police_force"][1]
        change["police_force"] = (world.organizations[code], code)
    with pytest.raises(ConsentRefused) as refused:
        record(app, case.id, "police-release/v1", all_items(app, "police-release/v1"), **change)
    assert refused.value.field == field
    assert _consents(app) == []


def test_a_proxy_for_an_anonymous_survivor_is_not_named(app: Flask) -> None:
    from clinic.consent.resources import GivenBy

    case = open_case(app)  # anonymous
    with pytest.raises(ConsentRefused) as refused:
        record(
            app,
            case.id,
            "statistics/v1",
            {"anonymous-statistics": True},
            given_by=GivenBy("guardian", "Ann Example", "She is 15."),
        )
    assert refused.value.field == "proxy_name"
    assert _consents(app) == []
    record(
        app,
        case.id,
        "statistics/v1",
        {"anonymous-statistics": True},
        given_by=GivenBy("guardian", None, "She is 15."),
    )


def test_a_proxy_must_say_why(app: Flask) -> None:
    from clinic.consent.resources import GivenBy

    case = open_case(app)
    with pytest.raises(ConsentRefused) as refused:
        record(
            app,
            case.id,
            "statistics/v1",
            {"anonymous-statistics": True},
            given_by=GivenBy("guardian", "Ann", ""),
        )
    assert refused.value.field == "proxy_reason"


def test_a_form_refused_on_screen_keeps_her_answers_and_names_the_item(
    app: Flask, client: FlaskClient
) -> None:
    case = open_case(app)
    login(client, "examiner", PASSWORD)
    path = f"/cases/{case.id}/consent/exam-treatment/record?lang=fr"
    response = client.post(
        f"/cases/{case.id}/consent/exam-treatment/record",
        data={
            "csrf_token": csrf_token(client, path),
            "language": "fr",
            "item_general-exam": "agree",
            "free_choice": "y",
            "signature": "data:image/png;base64," + base64.b64encode(signature_png()).decode(),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#item_anogenital-exam"' in html
    assert re.search(r'<input checked id="item_general-exam-0"[^>]*value="agree"', html)
    assert _consents(app) == []


# -- enforcement: the same answer through the screens, the API and the CLI ---------------


def _cli(app_config: dict[str, Any], *args: str) -> Any:
    env = {
        "DATABASE_URL": app_config["DATABASE_URL"],
        "CLINIC_INSTANCE_PATH": str(Path(app_config["INSTANCE_PATH"])),
        "SECRET_KEY": "cli-test",
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _what_the_counsellor_sees(
    app: Flask, app_config: dict[str, Any], client: FlaskClient, world: Any, case: Any
) -> dict[str, bool]:
    token = world["counsellor"].token
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    read = api(client, "GET", f"/fhir/Patient/{case.patient_id}", token)
    search = api(client, "GET", f"/fhir/Patient?_id={case.patient_id}", token).get_json()
    exported = _cli(app_config, "fhir", "export", "--username", "counsellor", "--type", "Patient")
    assert exported.exit_code == 0, exported.output
    if read.status_code == 200:
        assert "text" not in read.get_json()  # access by consent leaves out the narrative
    return {
        "screen": "Amina Example" in page,
        "read": read.status_code == 200,
        "search": len(search.get("entry", [])) == 1,
        "export": case.patient_id in exported.output,
    }


def test_the_same_consent_gives_the_same_answer_on_screen_in_the_api_and_in_the_cli(
    app: Flask, app_config: dict[str, Any], client: FlaskClient, world: Any
) -> None:
    case = _identified_case(app)
    login(client, "counsellor", PASSWORD)
    nothing = dict.fromkeys(("screen", "read", "search", "export"), False)
    everything = dict.fromkeys(("screen", "read", "search", "export"), True)
    assert _what_the_counsellor_sees(app, app_config, client, world, case) == nothing

    consent_id = record(
        app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
    )
    assert _what_the_counsellor_sees(app, app_config, client, world, case) == everything

    withdraw(app, case.id, consent_id, items=("counselling-contact",))
    assert _what_the_counsellor_sees(app, app_config, client, world, case) == nothing
    # Another site's counsellor never sees her, consent or not.
    other = api(client, "GET", f"/fhir/Patient/{case.patient_id}", world["counsellor.south"].token)
    assert other.status_code == 404


def test_the_exam_report_is_shared_with_counselling_item_by_item(
    app: Flask, client: FlaskClient, world: Any
) -> None:
    from clinic.exam.services import sign_off
    from clinic.fhir.services import EMPTY_REASON_WITHHELD, NARRATIVE_WITHHELD_TEXT
    from clinic.fhir.validation import validate_resource
    from tests.exam.helpers import call, complete_exam

    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", sign_off, exam_id=exam_id)
    token = world["counsellor"].token

    def visible() -> dict[str, Any]:
        found = api(
            client, "GET", f"/fhir/Observation?encounter={exam_id}&_count=100", token
        ).get_json()
        report = api(client, "GET", f"/fhir/Composition?encounter={exam_id}", token).get_json()
        return {
            "sections": sorted(
                {
                    c["code"]
                    for e in found.get("entry", [])
                    for cat in e["resource"].get("category", [])
                    for c in cat["coding"]
                    if c["system"].endswith("exam-section")
                }
            ),
            "report": [e["resource"] for e in report.get("entry", [])],
            "encounter": api(client, "GET", f"/fhir/Encounter/{exam_id}", token).status_code,
        }

    assert visible() == {"sections": [], "report": [], "encounter": 404}
    consent_id = record(
        app,
        case.id,
        "information-sharing/v1",
        {**all_items(app, "information-sharing/v1"), "counselling-report-account": False},
    )
    shared = visible()
    assert "history" not in shared["sections"]  # her account: the nested exception
    assert {"injuries", "timing", "guidance"} <= set(shared["sections"])
    assert shared["encounter"] == 200
    [report] = shared["report"]
    assert "text" not in report
    # No section keeps its narrative; one that held nothing else says it is withheld,
    # so every section still holds text, entries or sub-sections (cmp-1) and the
    # report validates as served.
    for section in report["section"]:
        if section.get("entry") or section.get("section"):
            assert "text" not in section
            assert "emptyReason" not in section
        else:
            assert NARRATIVE_WITHHELD_TEXT in section["text"]["div"]
            assert section["emptyReason"]["coding"] == [EMPTY_REASON_WITHHELD]
    assert any("emptyReason" in section for section in report["section"])
    # Every entry leads to a record she shares with the counsellor: none says that
    # her account exists, nor how many records it holds.
    references = [e["reference"] for s in report["section"] for e in s.get("entry", [])]
    assert references
    for reference in references:
        found = api(client, "GET", f"/fhir/{reference}", token)
        assert found.status_code == 200, reference
        assert "history" not in json.dumps(found.get_json().get("category", []))
    validate_resource(report, app.extensions["clinic.profiles"])  # raises on any issue
    # The same report read by id, and by its version, holds the same entries: no path
    # to it is left unfiltered.
    for path in (
        f"/fhir/Composition/{report['id']}",
        f"/fhir/Composition/{report['id']}/_history/{report['meta']['versionId']}",
    ):
        read = api(client, "GET", path, token)
        assert read.status_code == 200, path
        assert [
            e["reference"] for s in read.get_json()["section"] for e in s.get("entry", [])
        ] == references, path
    # The exam screens stay with the care team, whatever she shares; the counsellor
    # reads what she shares on the case's "shared with you" page.
    login(client, "counsellor", PASSWORD)
    assert client.get(f"/exams/{exam_id}/report").status_code in (403, 404)
    page = client.get(f"/cases/{case.id}/consent/shared").get_data(as_text=True)
    assert "Medical-forensic exam report" in page
    assert "Bruise" in page or "bruise" in page
    assert 'data-type="Observation"' in page
    assert "held me down" not in page  # her account: she kept it back
    # She decides to share her account too: a new decision replaces the old one.
    consent_id = record(
        app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
    )
    page = client.get(f"/cases/{case.id}/consent/shared").get_data(as_text=True)
    assert "held me down" in page

    withdraw(app, case.id, consent_id)
    assert visible() == {"sections": [], "report": [], "encounter": 404}
    page = client.get(f"/cases/{case.id}/consent/shared").get_data(as_text=True)
    assert 'id="nothing-shared"' in page


def test_never_share_with_overrides_a_release_in_another_consent(app: Flask, world: Any) -> None:
    case = open_case(app)
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    river = f"Organization/{world.organizations['RIVERPOL']}"
    asked = ConsentRequest(
        frozenset({Recipient("police", river)}),
        "disclose",
        "HLEGAL",
        frozenset({"exam-report"}),
        frozenset(),
        utcnow(),
    )

    def permitted() -> bool:
        with app.app_context(), unit_of_work() as uow:
            return evaluate(
                consent_book(uow).directives(f"Patient/{case.patient_id}"), asked
            ).permitted

    assert permitted()
    record(
        app,
        case.id,
        "information-sharing/v1",
        all_items(app, "information-sharing/v1"),
        never_share_organizations=((world.organizations["RIVERPOL"], "Riverside Police"),),
    )
    assert not permitted()


def test_every_decision_by_consent_is_audited_with_its_reasons(
    app: Flask, client: FlaskClient, world: Any
) -> None:
    case = _identified_case(app)
    consent_id = record(
        app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
    )
    assert (
        api(
            client, "GET", f"/fhir/Patient/{case.patient_id}", world["counsellor"].token
        ).status_code
        == 200
    )
    events = api(
        client, "GET", "/fhir/AuditEvent?subtype=read&altid=counsellor", world["auditor"].token
    ).get_json()
    reasons = json.dumps(events)
    assert f"Consent/{consent_id}" in reasons
    assert "counselling-contact" in reasons


def test_the_consent_dashboard_shows_answers_effects_and_history(
    app: Flask, client: FlaskClient, world: Any
) -> None:
    case = open_case(app)
    release_to(app, case.id, "RIVERPOL", {**all_items(app, "police-release/v1"), "identity": False})
    login(client, "counsellor", PASSWORD)
    page = client.get(f"/cases/{case.id}/consent").get_data(as_text=True)
    assert "Riverside Police may receive: the exam report and its findings" in page
    assert "until 20" in page
    assert "Declined" in page
    assert "Agreed" in page
    assert "Not recorded: nothing is permitted under this form." in page
    # Other sites and roles without consent access get nothing.
    for other in ("examiner.south", "custodian", "officer"):
        other_client = app.test_client()
        login(other_client, other, PASSWORD)
        assert other_client.get(f"/cases/{case.id}/consent").status_code in (403, 404)


def test_recording_and_withdrawal_are_for_the_care_team_of_her_site(app: Flask, world: Any) -> None:
    from clinic.access import AccessDenied
    from clinic.consent.services import ConsentNotFound

    case = open_case(app)
    for username in ("custodian", "admin", "auditor", "officer"):
        with pytest.raises((AccessDenied, ConsentNotFound)):
            record(app, case.id, "statistics/v1", {"anonymous-statistics": True}, username=username)
    with pytest.raises(ConsentNotFound):
        record(
            app, case.id, "statistics/v1", {"anonymous-statistics": True}, username="examiner.south"
        )
    consent_id = record(
        app, case.id, "statistics/v1", {"anonymous-statistics": True}, username="counsellor"
    )
    with pytest.raises(ConsentNotFound):
        withdraw(app, case.id, consent_id, username="counsellor.south")
    assert all(c["status"] == "active" for c in _consents(app))


def test_police_cannot_read_consents_or_what_they_release(
    app: Flask, client: FlaskClient, world: Any
) -> None:
    case = open_case(app)
    consent_id = release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    token = world["officer"].token
    missing = api(client, "GET", "/fhir/Consent/no-such-id", token)
    hidden = api(client, "GET", f"/fhir/Consent/{consent_id}", token)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["issue"][0]["code"] == missing.get_json()["issue"][0]["code"]
    assert api(client, "GET", f"/fhir/Patient/{case.patient_id}", token).status_code == 404
    search = api(client, "GET", f"/fhir/Consent?patient={case.patient_id}", token).get_json()
    assert search.get("entry", []) == []
    assert "total" not in search


def test_evidence_she_declined_is_not_collected_but_can_be_recorded_as_declined(app: Flask) -> None:
    from clinic.evidence.services import CustodyRefused
    from tests.helpers import collect_kit

    case = open_case(app)
    record(
        app,
        case.id,
        "evidence-collection/v1",
        {**all_items(app, "evidence-collection/v1"), "blood": False},
    )
    with pytest.raises(
        CustodyRefused, match="Item 2: she declined the collection of blood samples"
    ):
        collect_kit(app, "examiner", case.id, ("swab", "blood"))
    kit = collect_kit(app, "examiner", case.id, ("swab", "urine"))
    assert [item.kind for item in kit.items] == ["swab", "urine"]


def test_a_form_read_in_english_for_want_of_her_language_needs_an_interpreter(
    app: Flask, tmp_path: Path
) -> None:
    import hashlib
    import shutil

    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.consent.definitions import FORMS_DIR, FormLibrary
    from clinic.consent.services import record_consent
    from tests.consent.helpers import answers

    # A form that has no Spanish text: shown in English, visibly.
    forms = tmp_path / "consent_forms"
    shutil.copytree(FORMS_DIR, forms)
    path = forms / "statistics/v1.toml"
    text = path.read_text().replace('languages = ["en", "fr", "es"]', 'languages = ["en", "fr"]')
    text = "\n".join(
        line for line in text.splitlines() if not line.startswith(("es =", "text.es", "help.es"))
    )
    path.write_text(text + "\n")
    sums = (forms / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (forms / "SHA256SUMS").write_text(
        "\n".join(
            f"{digest}  statistics/v1.toml" if "statistics" in line else line for line in sums
        )
        + "\n"
    )
    library = FormLibrary(forms)
    assert library.get("statistics/v1").language("es") == ("en", True)

    case = open_case(app)

    def attempt(**changes: Any) -> Any:
        with app.app_context(), unit_of_work() as uow:
            user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
            return record_consent(
                uow,
                app.extensions["clinic.profiles"],
                library,
                actor=actor_for(user),
                case_id=case.id,
                form_key="statistics/v1",
                answers=answers(agreed={"anonymous-statistics": True}, **changes),
            )

    with pytest.raises(ConsentRefused) as refused:
        attempt(language="es")
    assert refused.value.field == "language"
    with pytest.raises(ConsentRefused) as refused:
        attempt(language="en", requested_language="es")
    assert refused.value.field == "interpreter"
    assert "no Spanish version" in refused.value.message
    recorded = attempt(language="en", requested_language="es", interpreter="Language Line, no. 7")
    assert recorded.content["language"] == "en"


def test_the_exam_screens_show_what_she_declined_about_her_care(
    app: Flask, client: FlaskClient
) -> None:
    from tests.exam.helpers import start

    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert "Not yet recorded: Consent to examination and treatment" in page
    record(
        app,
        case.id,
        "exam-treatment/v1",
        {**all_items(app, "exam-treatment/v1"), "speculum-exam": False},
    )
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert "She declined:</strong> An internal examination with a speculum." in page
    assert "Not yet recorded: Consent to examination and treatment" not in page
