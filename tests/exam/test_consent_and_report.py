"""Her consent governs the exam (issue 12, point 3) and the printed report reads
in words (point 9): sign-off needs her examination and treatment consent or the
examiner's record of why she could not consent (which flags the case until
another examiner reviews it); findings of a part she declined are refused in the
step, in an amendment and through the API; the report shows local times in
words, displays rather than codes, "Not recorded", and who signed it."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access.roles import Role
from clinic.accounts.models import User
from clinic.accounts.services import AccountError, actor_for, create_user
from clinic.cli import unit_of_work
from clinic.exam import services
from clinic.exam.resources import EXAM_OBSERVATION
from tests.conftest import PASSWORD, World
from tests.exam.helpers import (
    call,
    complete_exam,
    decide_every_window,
    read,
    record_exam_consent,
    start,
)
from tests.helpers import api, csrf_token, login, open_case

WHAT_TO_DO = "record her new consent first (Her consent > Examination and treatment)"


def second_examiner(app: Flask, world: World) -> str:
    with app.app_context(), unit_of_work() as uow:
        create_user(
            uow,
            actor=None,
            username="examiner.two",
            display_name="Second Examiner",
            role=Role.EXAMINER,
            organization_id=world.organizations["NORTH"],
            password=PASSWORD,
        )
    return "examiner.two"


# -- sign-off needs her consent --------------------------------------------------


def test_sign_off_is_refused_without_her_consent_and_says_what_to_do(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id, consent=False)
    with pytest.raises(services.ExamRefused) as refused:
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    assert refused.value.field == "sign"
    assert "Her consent to examination and treatment is not recorded" in refused.value.message
    assert "Her consent > Examination and treatment" in refused.value.message
    assert not read(app, exam_id).is_signed

    login(client, "examiner", PASSWORD)
    token = csrf_token(client, f"/exams/{exam_id}")
    response = client.post(f"/exams/{exam_id}/sign", data={"confirm": "y", "csrf_token": token})
    assert response.status_code == 422
    assert "Her consent to examination and treatment is not recorded" in response.get_data(
        as_text=True
    )
    assert not read(app, exam_id).is_signed


def test_sign_off_is_allowed_once_her_consent_is_recorded(app: Flask, world: World) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id, consent=False)
    with pytest.raises(services.ExamRefused, match="Her consent > Examination and treatment"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    record_exam_consent(app, case.id)
    assert call(app, "examiner", services.sign_off, exam_id=exam_id).status == "signed"


def test_could_not_consent_allows_sign_off_and_flags_the_case_until_another_examiner_reviews(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id, consent=False)
    with pytest.raises(services.ExamRefused) as refused:
        call(app, "examiner", services.record_consent_absent, exam_id=exam_id, why="other")
    assert refused.value.field == "details"
    with pytest.raises(services.ExamRefused):
        call(app, "examiner", services.record_consent_absent, exam_id=exam_id, why="asleep")
    call(
        app,
        "examiner",
        services.record_consent_absent,
        exam_id=exam_id,
        why="unconscious",
        details="GCS 8 on arrival by ambulance; bleeding wound treated at once.",
    )
    assert call(app, "examiner", services.sign_off, exam_id=exam_id).status == "signed"
    record = read(app, exam_id)
    assert record.awaits_review
    absent = record.entries["consent-absent"].content
    assert absent["code"]["coding"][0] == {
        "system": EXAM_OBSERVATION,
        "code": "consent-not-obtained",
        "display": "She could not consent to the exam",
    }
    assert absent["valueCodeableConcept"]["coding"][0]["code"] == "unconscious"

    login(client, "examiner", PASSWORD)
    flag = "flagged for review"
    assert flag in client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Flagged for review" in client.get(f"/exams/{exam_id}").get_data(as_text=True)

    # She wakes and consents: her consent is recorded; the flag stays until reviewed.
    record_exam_consent(app, case.id)
    assert read(app, exam_id).awaits_review
    # The examiner who recorded it cannot review it.
    with pytest.raises(services.ExamRefused, match="Another examiner reviews this"):
        call(app, "examiner", services.review_consent_absent, exam_id=exam_id, note="Fine.")
    reviewer = second_examiner(app, world)
    call(
        app,
        reviewer,
        services.review_consent_absent,
        exam_id=exam_id,
        note="Emergency care could not wait; consent taken when she woke.",
    )
    record = read(app, exam_id)
    assert not record.awaits_review
    review = record.entries["consent-review"].content
    assert review["derivedFrom"] == [
        {"reference": record.entries["consent-absent"].versioned_reference}
    ]
    assert not record.amendments  # a review adds a record; it amends nothing
    assert flag not in client.get(f"/cases/{case.id}").get_data(as_text=True)
    with pytest.raises(services.ExamRefused, match="already reviewed"):
        call(app, reviewer, services.review_consent_absent, exam_id=exam_id, note="Again.")
    # The signed report (what a release would carry) says who reviewed it too.
    signed = api(
        client, "GET", f"/fhir/Composition/{record.exam.report_id}", world["examiner"].token
    ).get_json()
    consent_text = " ".join(
        str(section.get("text", {}).get("div", "")) for section in signed["section"]
    )
    assert "Awaiting review" not in consent_text
    assert "Reviewed by" in consent_text
    # The reviewed record can no longer be changed under the review.
    with pytest.raises(services.ExamRefused, match="reviewed") as refused:
        call(
            app,
            "examiner",
            services.record_consent_absent,
            exam_id=exam_id,
            why="lacks-capacity",
            reason="Correction",
        )
    assert refused.value.field == "why"


def test_could_not_consent_and_its_review_through_the_screens(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    page = client.get(f"/exams/{exam_id}/consent").get_data(as_text=True)
    assert "Her consent to examination and treatment is not recorded" in page
    token = csrf_token(client, f"/exams/{exam_id}/consent")
    refused = client.post(
        f"/exams/{exam_id}/consent", data={"why": "other", "details": "", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Say, in words, why she could not consent." in refused.get_data(as_text=True)
    saved = client.post(
        f"/exams/{exam_id}/consent",
        data={"why": "lacks-capacity", "details": "Heavily intoxicated.", "csrf_token": token},
    )
    assert saved.status_code == 302
    page = client.get(f"/exams/{exam_id}/consent").get_data(as_text=True)
    assert "Lacks capacity (incapacitated): Heavily intoxicated." in page
    assert "awaiting review" in page


# -- findings of a part she declined ----------------------------------------------


def test_anogenital_and_speculum_findings_are_refused_when_she_declined_them(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id, anogenital_exam=False)
    exam_id = start(app, case.id)
    with pytest.raises(services.ExamRefused) as refused:
        call(app, "examiner", services.record_anogenital, exam_id=exam_id, findings="Tear.")
    assert refused.value.field == "findings"
    assert refused.value.message.startswith(
        "She declined the anogenital examination in her examination and treatment consent."
    )
    assert WHAT_TO_DO in refused.value.message
    assert "anogenital" not in read(app, exam_id).entries

    login(client, "examiner", PASSWORD)
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert "Declined: anogenital examination" in page
    assert 'name="findings"' not in page
    token = csrf_token(client, f"/exams/{exam_id}/history")
    response = client.post(
        f"/exams/{exam_id}/anogenital", data={"findings": "Tear.", "csrf_token": token}
    )
    assert response.status_code == 422
    assert WHAT_TO_DO in html.unescape(response.get_data(as_text=True))
    assert "anogenital" not in read(app, exam_id).entries

    # Speculum only: the anogenital findings are recorded, the speculum's are not.
    record_exam_consent(app, case.id, speculum_exam=False)
    with pytest.raises(services.ExamRefused) as refused:
        call(
            app,
            "examiner",
            services.record_anogenital,
            exam_id=exam_id,
            findings="No injuries seen.",
            speculum="Cervix normal.",
        )
    assert refused.value.field == "speculum"
    assert refused.value.message.startswith(
        "She declined the internal examination with a speculum in her examination and "
        "treatment consent."
    )
    assert WHAT_TO_DO in refused.value.message
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert "Declined: internal examination with a speculum" in page
    assert 'name="speculum"' not in page
    assert 'name="findings"' in page
    call(app, "examiner", services.record_anogenital, exam_id=exam_id, findings="No injuries seen.")
    assert "speculum" not in read(app, exam_id).entries


def test_an_amendment_cannot_add_findings_of_a_part_she_declined(app: Flask, world: World) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    record_exam_consent(app, case.id, anogenital_exam=False)
    with pytest.raises(services.ExamRefused) as refused:
        call(
            app,
            "examiner",
            services.record_anogenital,
            exam_id=exam_id,
            findings="Tear at 6 o'clock.",
            reason="Left out at sign-off.",
        )
    assert WHAT_TO_DO in refused.value.message
    record = read(app, exam_id)
    assert "anogenital" not in record.entries
    assert not record.amendments


def test_findings_recorded_before_she_declined_block_sign_off_until_removed(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.record_anogenital, exam_id=exam_id, findings="Tear.")
    record_exam_consent(app, case.id, anogenital_exam=False)
    with pytest.raises(services.ExamRefused, match="she has since declined this part"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(app, "examiner", services.remove_declined_findings, exam_id=exam_id)
    assert "anogenital" not in read(app, exam_id).entries
    # Her declining the anogenital exam changed the guidance on the samples it needs.
    decide_every_window(app, exam_id)
    assert call(app, "examiner", services.sign_off, exam_id=exam_id).status == "signed"


def test_the_api_refuses_exam_findings_without_an_encounter_too(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The exam is not written through the API: an anogenital or speculum finding
    posted on its own (no encounter) is refused like one inside an exam."""
    case = open_case(app)
    record_exam_consent(app, case.id, anogenital_exam=False)
    for code in ("anogenital-findings", "speculum-findings"):
        finding = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": EXAM_OBSERVATION, "code": code}]},
            "subject": {"reference": f"Patient/{case.patient_id}"},
            "effectiveDateTime": "2026-12-05T23:40:00Z",
            "valueString": "Tear at 6 o'clock.",
        }
        response = api(client, "POST", "/fhir/Observation", world["examiner"].token, finding)
        assert response.status_code == 422, (code, response.get_data(as_text=True))
        assert "recorded in the exam itself" in response.get_data(as_text=True)


# -- the printed report ---------------------------------------------------------------


def test_the_report_reads_in_words_in_the_clinics_time_zone_and_names_who_signed(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.app_context(), unit_of_work() as uow:
        from clinic.accounts.services import set_professional_registration

        admin = uow.session.scalar(sa.select(User).where(User.username == "admin"))
        examiner = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        assert admin is not None
        assert examiner is not None
        set_professional_registration(
            uow, examiner, actor=actor_for(admin), registration="NMC 12A3456B"
        )
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(app, "examiner", services.sign_off, exam_id=exam_id)
    app.config["CLINIC_TIMEZONE"] = "Asia/Tokyo"  # UTC+9: local times differ from UTC
    try:
        login(client, "examiner", PASSWORD)
        page = client.get(f"/exams/{exam_id}/report").get_data(as_text=True)
    finally:
        app.config["CLINIC_TIMEZONE"] = "UTC"
    record = read(app, exam_id)
    assert record.exam.signed_at is not None
    from zoneinfo import ZoneInfo

    local = record.exam.signed_at.astimezone(ZoneInfo("Asia/Tokyo"))
    in_words = f"{local:%A} {local.day} {local:%B} {local.year}, {local:%H:%M} (Asia/Tokyo)"
    assert f"Signed off {in_words}" in page
    assert not re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", page), "an ISO time on the report"
    # Coded values by their display.
    assert "Oral penetration: No" in page
    assert "Emergency contraception: within the window; confirmed" in page
    assert "Bruise, left forearm, inner side, 30 mm x 12 mm (Forearm)" in page
    # Sections not recorded say so.
    general = page.split("General examination and vital signs</h2>")[1].split("</section>")[0]
    assert "Not recorded." in general
    anogenital = page.split("Anogenital findings</h2>")[1].split("</section>")[0]
    assert "Not recorded." in anogenital
    # Who signed, as a witness would be named, and where to sign on paper.
    signer = page.split('id="section-signature"')[1]
    assert "<dd>Examiner</dd>" in signer
    assert "<dd>Forensic examiner</dd>" in signer
    assert "<dd>NMC 12A3456B</dd>" in signer
    assert 'class="signature-line">Signature:' in signer
    # The signed Composition keeps the signer as signed.
    report = api(
        client, "GET", f"/fhir/Composition/{record.exam.report_id}", world["examiner"].token
    ).get_json()
    assert report["attester"][0]["party"] == {
        "display": "Examiner, Forensic examiner",
        "identifier": {"type": {"text": "Professional registration"}, "value": "NMC 12A3456B"},
    }


def test_an_administrator_records_a_professional_registration(
    app: Flask, client: FlaskClient, world: World
) -> None:
    login(client, "admin", PASSWORD)
    user_id = world["examiner"].user_id
    path = f"/admin/users/{user_id}"
    token = csrf_token(client, path)
    bad = client.post(
        path,
        data={"change": "registration", "professional_registration": "<b>", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "Write the registration as the register shows it" in bad.get_data(as_text=True)
    saved = client.post(
        path,
        data={
            "change": "registration",
            "professional_registration": "GMC 7654321",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 302
    assert "GMC 7654321" in client.get(path).get_data(as_text=True)
    with (
        app.app_context(),
        unit_of_work() as uow,
        pytest.raises(AccountError, match="Police accounts"),
    ):
        create_user(
            uow,
            actor=None,
            username="officer.two",
            display_name="Officer Two",
            role=Role.POLICE,
            organization_id=world.organizations["RIVERPOL"],
            password=PASSWORD,
            professional_registration="NMC 1",
        )
