"""Refusals of the release, draft and photo (media key) services reach a person on a
web page in her language, dates as her language writes them; the FHIR API's
OperationOutcome and the operator's commands keep the English. Measured values
(vital signs) are written with the reader's decimal separator; records keep
"36.8"."""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam import services as exam_services
from clinic.exam.services import sign_off
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to, withdraw
from tests.drafts.helpers import expire_sessions
from tests.exam.helpers import INJURY, call, complete_exam, record_vitals, start
from tests.helpers import api, csrf_token, login, open_case, signed_in
from tests.media.helpers import camera_jpeg, record_photo_consent, take
from tests.release.helpers import file

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _error_summary(page: str) -> str:
    found = re.search(r'<div class="error-summary" role="alert"><p>(.*?)</p>', page, re.S)
    assert found is not None, page
    return found[1]


def test_a_release_stopped_by_her_withdrawal_is_said_in_the_officers_language(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, case.id))
    filed = file(client, world["officer"].token, case.reference, requested=("report",)).get_json()
    consent_id = release_to(
        app,
        case.id,
        "RIVERPOL",
        all_items(app, "police-release/v1", agree=False)
        | {"report": True, "report-account": False},
    )
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = f"/releases/incoming/{filed['id']}"
    approved = staff.post(f"{page}/approve", data={"csrf_token": csrf_token(staff, page)})
    assert approved.status_code == 302, approved.get_data(as_text=True)
    withdraw(app, case.id, consent_id)

    for language, expected, wrong in (
        (
            "fr",
            "Aucune communication ne peut être téléchargée pour cette demande : "
            "consentement retiré le ",
            "No release can be downloaded",
        ),
        (
            "es",
            "No se puede descargar ninguna entrega para esta solicitud: "
            "consentimiento retirado el ",
            "consent withdrawn on",
        ),
    ):
        officer = signed_in(app, "officer", language)
        for path in ("bundle.json", "report", "exam-report"):
            response = officer.get(f"/releases/{filed['id']}/{path}")
            assert response.status_code == 409, response.get_data(as_text=True)
            said = _error_summary(response.get_data(as_text=True))
            assert said.startswith(expected), said
            assert wrong not in said
            # The day as her language writes it ("7 déc. 2026"), not ISO 8601.
            assert not ISO_DAY.search(said), said
            assert re.search(r"\d{1,2} [^\W\d_]{3,4}\.? \d{4}\.$", said), said  # "août" too

    # The FHIR API's OperationOutcome stays English, with the ISO day (machines).
    outcome = api(client, "GET", f"/fhir/Task/{filed['id']}/$release", world["officer"].token)
    assert outcome.status_code == 409
    diagnostics = outcome.get_json()["issue"][0]["diagnostics"]
    assert diagnostics.startswith(
        "No release can be downloaded for this request: consent withdrawn on "
    )
    assert ISO_DAY.search(diagnostics), diagnostics


def test_a_draft_that_cannot_be_kept_is_said_in_her_language(app: Flask) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    login(client, "examiner", PASSWORD)
    path = f"/exams/{start(app, open_case(app, 'examiner').id)}/history"
    token = csrf_token(client, path)
    expire_sessions(app, "examiner")
    app.config["DRAFT_MAX_BYTES"] = 1000
    response = client.post(path, data={"csrf_token": token, "narrative": "y" * 2000})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert (
        "Votre session avait expiré et ce que vous avez saisi sur cette page n&#39;a pas pu "
        "être gardé : Ce qui a été saisi est trop volumineux pour être gardé." in page
    ), page
    assert "could not be kept" not in page
    assert "too large" not in page


def test_a_damaged_media_key_is_said_in_the_examiners_language(app: Flask) -> None:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    (photo_id,) = take(app, exam_id)
    (Path(app.instance_path) / "keys" / "media.key").write_text("")
    examiner = signed_in(app, "examiner", "es")
    for path, status in ((f"/exams/{exam_id}/photos", 200), (f"/photos/{photo_id}/display", 503)):
        response = examiner.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == status, page
        assert "media.key está vacío: no contiene ninguna clave de medios" in page
        assert "is empty" not in page
        assert "holds no media key" not in page
    # The operator's command says it in English.
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from clinic.cli import cli

    status = CliRunner().invoke(
        cli, ["media-key", "status"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert "media.key is empty: it holds no media key" in status.output


def test_vital_signs_use_the_readers_decimal_separator(app: Flask, engine: sa.Engine) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    record_vitals(app, exam_id, heart_rate=88, temperature="36.8", systolic=128, diastolic=84)
    call(
        app,
        "examiner",
        exam_services.add_injury,
        exam_id=exam_id,
        injury=replace(INJURY, length_mm=Decimal("2.5"), width_mm=None),
    )
    reports = {}
    for language in ("en", "fr", "es"):
        examiner = signed_in(app, "examiner", language)
        response = examiner.get(f"/exams/{exam_id}/report")
        assert response.status_code == 200
        reports[language] = response.get_data(as_text=True)
    assert "36.8 °C" in reports["en"]
    assert "2.5 mm" in reports["en"]
    assert "36,8" not in reports["en"]
    for language in ("fr", "es"):
        assert "36,8 °C" in reports[language]
        assert "36.8" not in reports[language]
        assert "128/84 mmHg" in reports[language]
        assert "2,5 mm" in reports[language]
    # The record keeps the decimal point.
    with engine.connect() as connection:
        stored = [
            json.loads(row) if isinstance(row, str) else row
            for row in connection.execute(
                sa.text(
                    "SELECT content FROM fhir_resource_versions WHERE resource_type = 'Observation'"
                )
            ).scalars()
        ]
    assert any(str(content.get("valueQuantity", {}).get("value")) == "36.8" for content in stored)


def test_a_refused_photograph_link_is_said_in_the_officers_language(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The officer opens a released photograph's link after the clinic retired the
    photograph, after it was marked as an intimate image, and after her withdrawal:
    each refusal in the officer's language; a link that is not the force's is not
    found, in it too."""
    case = open_case(app)
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    retired, marked, kept = take(
        app, exam_id, [(f"{n}.jpg", camera_jpeg(seed=30 + n)) for n in range(3)]
    )
    call(app, "examiner", sign_off, exam_id=exam_id)
    filed = file(
        client, world["officer"].token, case.reference, requested=("non-intimate-photos",)
    ).get_json()
    consent_id = release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    staff = app.test_client()
    login(staff, "examiner", PASSWORD)
    page = f"/releases/incoming/{filed['id']}"
    approved = staff.post(f"{page}/approve", data={"csrf_token": csrf_token(staff, page)})
    assert approved.status_code == 302, approved.get_data(as_text=True)
    for photo, change in ((retired, "retire"), (marked, "intimate")):
        path = f"/photos/{photo}/correct"
        corrected = staff.post(
            path,
            data={
                "csrf_token": csrf_token(staff, path),
                "change": change,
                "reason": "Taken of the wrong view.",
            },
        )
        assert corrected.status_code == 302, corrected.get_data(as_text=True)
    link = f"/releases/{filed['id']}/photos/%s"
    english = {
        retired: "the clinic withdrew it from the record as entered in error",
        marked: "the survivor's permission no longer covers it",
    }
    said = {
        "fr": {
            retired: "Cette photographie ne peut plus être téléchargée : la clinique l'a "
            "retirée du dossier comme saisie par erreur.",
            marked: "Cette photographie ne peut plus être téléchargée : l'autorisation de la "
            "victime ne la couvre plus.",
            kept: "Cette photographie ne peut plus être téléchargée : consentement retiré le ",
        },
        "es": {
            retired: "Esta fotografía ya no se puede descargar: la clínica la retiró del "
            "registro como introducida por error.",
            marked: "Esta fotografía ya no se puede descargar: la autorización de la víctima "
            "ya no la cubre.",
            kept: "Esta fotografía ya no se puede descargar: consentimiento retirado el ",
        },
    }
    # The screens' language is the account's: each language in turn.
    for language in said:
        officer = signed_in(app, "officer", language)
        assert officer.get(link % kept).status_code == 200
        for photo in (retired, marked):
            response = officer.get(link % photo)
            assert response.status_code == 409, response.get_data(as_text=True)
            summary = html.unescape(_error_summary(response.get_data(as_text=True)))
            assert summary == said[language][photo]
            assert english[photo] not in response.get_data(as_text=True)
        # Another force's officer, or a photograph not in the release: not found.
        hill = signed_in(app, "officer.hill", language)
        for missing in (hill.get(link % kept), officer.get(link % uuid.uuid4())):
            assert missing.status_code == 404
            assert f'<html lang="{language}"' in missing.get_data(as_text=True)
    withdraw(app, case.id, consent_id)
    for language in said:
        response = signed_in(app, "officer", language).get(link % kept)
        assert response.status_code == 409
        summary = html.unescape(_error_summary(response.get_data(as_text=True)))
        assert summary.startswith(said[language][kept]), summary
        assert not ISO_DAY.search(summary), summary
        assert "consent withdrawn on" not in response.get_data(as_text=True)
