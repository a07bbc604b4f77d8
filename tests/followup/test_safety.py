"""Safety for intimate-partner cases: the checklist, the total against the site's
threshold, professional judgement, what the exam carries over, the safety plan and
the high-risk flag; who may do what; bad input changes nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.access import AccessDenied, Action, decide
from clinic.access.policy import RELEASE
from clinic.accounts.models import Organization
from clinic.audit.models import AuditEntry
from clinic.cli import unit_of_work
from clinic.exam.resources import Answer
from clinic.fhir.store import ResourceStore
from clinic.fhir.validation import validate_resource
from clinic.followup import safety
from clinic.followup.safety_checklist import (
    CARRY_OVER,
    DEFAULT_HIGH_RISK_THRESHOLD,
    QUESTIONS,
)
from clinic.followup.safety_models import SafetyAssessment, SafetyFlag
from clinic.followup.services import PlanNotFound
from clinic.release.services import force_actor
from tests.conftest import World
from tests.followup.helpers import agreed_plan, signed_exam
from tests.followup.safety_helpers import answers, call, partner_plan
from tests.helpers import api, open_case


def _plan(app: Flask) -> str:
    return partner_plan(app, open_case(app).id)


def test_the_checklist_is_one_table_of_distinct_questions() -> None:
    assert len(QUESTIONS) == 27
    assert len({q.code for q in QUESTIONS}) == len(QUESTIONS)
    assert DEFAULT_HIGH_RISK_THRESHOLD == 14
    assert {rule.question for rule in CARRY_OVER} <= {q.code for q in QUESTIONS}


def test_the_vocabulary_files_match_the_table() -> None:
    from clinic.fhir.profiles import PROFILES_DIR
    from scripts.write_safety_definitions import render, vocabularies

    for name, content in vocabularies().items():
        assert (PROFILES_DIR / name).read_text(encoding="utf-8") == render(content), name


def test_her_exam_answers_carry_over_and_the_case_is_intimate_partner(app: Flask) -> None:
    plan_id = _plan(app)
    record = call(app, "counsellor", safety.read_safety, plan_id=plan_id)
    assert record.is_partner_case
    carried = {code: c.answer for code, c in record.carried.items()}
    assert carried == {
        # Not her "no" to self-harm (the checklist also asks about depression), nor the
        # examiner's judgement of risk as her own fear ("very-frightened").
        "strangled": "yes",  # the history's act
        "injured-this-time": "yes",  # an injury was recorded
        "sexual-abuse": "yes",  # a sexual assault by her partner
    }
    # "weapons: no" in this incident is not "never": nothing carried. Free text never is.
    assert "weapons" not in carried
    assert "threatened-to-kill" not in carried


def test_her_mental_state_carries_only_when_her_consent_lets_counsellors_read_it(
    app: Flask, engine: sa.Engine
) -> None:
    """Thoughts of harming herself (her mental state) are read as the rest of her exam
    is: without her consent to the counselling team nothing of it carries, and the
    refused read is on record; with it, her "yes" does."""
    from tests.consent.helpers import all_items
    from tests.consent.helpers import record as record_consent

    case = open_case(app)
    plan_id = partner_plan(app, case.id, self_harm=Answer.YES)

    def refused_reads() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(
                        "SELECT count(*) FROM audit_events WHERE username = 'counsellor' "
                        "AND outcome = '4' AND outcome_desc = 'refused'"
                    )
                ).scalar_one()
            )

    before = refused_reads()
    record = call(app, "counsellor", safety.read_safety, plan_id=plan_id)
    assert "self-harm-thoughts" not in record.carried
    assert "strangled" in record.carried  # her immediate-safety facts still carry
    assert refused_reads() == before + 1
    record_consent(app, case.id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    record = call(app, "counsellor", safety.read_safety, plan_id=plan_id)
    assert record.carried["self-harm-thoughts"].answer == "yes"


def test_a_stranger_case_is_not_offered_and_carries_no_partner_answer(app: Flask) -> None:
    case = open_case(app)
    plan_id = agreed_plan(app, signed_exam(app, case.id))
    record = call(app, "counsellor", safety.read_safety, plan_id=plan_id)
    assert not record.is_partner_case
    assert "sexual-abuse" not in record.carried
    # ...and yet it may be made on any plan.
    call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(2))


def test_the_total_against_the_threshold_raises_and_ends_the_flag(app: Flask) -> None:
    plan_id = _plan(app)
    below = call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(13))
    assert (below.yes_count, below.is_high_risk, below.threshold) == (13, False, 14)
    high = call(
        app,
        "counsellor",
        safety.record_assessment,
        plan_id=plan_id,
        answers=answers(14, rest="not-asked"),
    )
    assert (high.yes_count, high.is_high_risk) == (14, True)
    record = call(app, "counsellor", safety.read_safety, plan_id=plan_id)
    assert record.flag is not None
    assert record.flag.raised_by_assessment == high.id
    assert record.latest is not None
    assert record.latest.row.id == high.id
    assert [e.id for e in record.earlier] == [below.id]
    later = call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(3))
    assert not later.is_high_risk
    with app.app_context(), unit_of_work() as uow:
        flag = uow.session.scalar(sa.select(SafetyFlag).where(SafetyFlag.plan_id == plan_id))
        assert flag is not None
        assert flag.ended_at is not None
        stored = ResourceStore(uow.session, app.extensions["clinic.profiles"]).current(
            "Flag", flag.id
        )
        assert stored is not None
        assert stored.content["status"] == "inactive"
        assert stored.version_id == 2


def test_high_risk_on_professional_judgement_needs_the_reason(app: Flask) -> None:
    plan_id = _plan(app)
    with pytest.raises(safety.SafetyRefused) as refused:
        call(
            app,
            "counsellor",
            safety.record_assessment,
            plan_id=plan_id,
            answers=answers(2),
            high_on_judgement=True,
            judgement_reason="  ",
        )
    assert refused.value.field == "judgement_reason"
    judged = call(
        app,
        "counsellor",
        safety.record_assessment,
        plan_id=plan_id,
        answers=answers(2),
        high_on_judgement=True,
        judgement_reason="He has found out where she is staying.",
    )
    assert judged.is_high_risk
    assert judged.judgement_reason
    with app.app_context(), unit_of_work() as uow:
        store = ResourceStore(uow.session, app.extensions["clinic.profiles"])
        assessment = store.current("RiskAssessment", judged.id)
        assert assessment is not None
        validate_resource(assessment.content, app.extensions["clinic.profiles"])
        assert assessment.content["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "high"
        basis = [b["reference"] for b in assessment.content["basis"]]
        assert f"QuestionnaireResponse/{judged.answers_id}" in basis
        assert f"CarePlan/{plan_id}" in basis


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strangled": ""}, "answer-strangled"),  # a question left blank
        ({"strangled": "maybe"}, "answer-strangled"),
        ({"not-a-question": "yes"}, "answers"),
    ],
)
def test_an_unanswered_or_unknown_answer_is_refused_and_nothing_written(
    app: Flask, change: dict[str, str], field: str
) -> None:
    plan_id = _plan(app)
    given = answers(20) | change
    with pytest.raises(safety.SafetyRefused) as refused:
        call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=given)
    assert refused.value.field == field
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(SafetyAssessment)) == 0
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(SafetyFlag)) == 0


def test_the_safety_plan_is_recorded_on_her_care_plan(app: Flask, world: World) -> None:
    from tests.followup.referral_helpers import add_service, shares

    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    shares(app, case.id, advocate=True)
    service_id = add_service(app, world, "NORTH", "refuge", "Safe House")
    from clinic.followup import referrals
    from tests.followup.helpers import call as followup_call

    referral = followup_call(
        app, "counsellor", referrals.make_referral, plan_id=plan_id, service_id=service_id
    )
    given = safety.SafetyPlanInput(
        safe_places="Her sister's flat\n\nThe 24-hour pharmacy",
        people_to_call="Her sister\nHer neighbour",
        code_word="blue umbrella",
        keep_ready=("phone", "documents"),
        referrals=(referral.id,),
    )
    call(
        app,
        "counsellor",
        safety.record_assessment,
        plan_id=plan_id,
        answers=answers(15),
        safety_plan=given,
    )
    record = call(app, "examiner", safety.read_safety, plan_id=plan_id)
    plan = record.safety_plan
    assert plan is not None
    assert plan.safe_places == ("Her sister's flat", "The 24-hour pharmacy")
    assert plan.code_word == "blue umbrella"
    assert plan.keep_ready == ("phone", "documents")
    assert [rid for rid, _ in plan.referrals] == [referral.id]
    with app.app_context(), unit_of_work() as uow:
        care_plan = ResourceStore(uow.session, app.extensions["clinic.profiles"]).current(
            "CarePlan", plan_id
        )
        assert care_plan is not None
        validate_resource(care_plan.content, app.extensions["clinic.profiles"])
    # A referral that is not hers is refused.
    with pytest.raises(safety.SafetyRefused) as refused:
        call(
            app,
            "counsellor",
            safety.record_assessment,
            plan_id=plan_id,
            answers=answers(1),
            safety_plan=safety.SafetyPlanInput(referrals=("someone-elses",)),
        )
    assert refused.value.field == "referrals"


def test_who_may_assess_and_read(app: Flask) -> None:
    plan_id = _plan(app)
    call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(16))
    # Examiners of her site read, never write.
    assert call(app, "examiner", safety.read_safety, plan_id=plan_id).flag is not None
    with pytest.raises(AccessDenied):
        call(app, "examiner", safety.record_assessment, plan_id=plan_id, answers=answers(1))
    # Another site's staff: as if there were no such plan.
    for username in ("counsellor.south", "examiner.south"):
        with pytest.raises(PlanNotFound):
            call(app, username, safety.read_safety, plan_id=plan_id)
    with pytest.raises(PlanNotFound):
        call(app, "counsellor.south", safety.record_assessment, plan_id=plan_id, answers=answers(1))
    for username in ("custodian", "officer", "admin", "auditor"):
        with pytest.raises(AccessDenied):
            call(app, username, safety.read_safety, plan_id=plan_id)


def test_every_read_is_audited(app: Flask) -> None:
    plan_id = _plan(app)
    made = call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(16))
    with app.app_context(), unit_of_work() as uow:
        before = uow.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    call(app, "examiner", safety.read_safety, plan_id=plan_id)
    with app.app_context(), unit_of_work() as uow:
        entries = uow.session.scalars(
            sa.select(AuditEntry).order_by(AuditEntry.id).offset(before)
        ).all()
        text = json.dumps([e.entities for e in entries])
        assert f"RiskAssessment/{made.id}" in text
        assert f"QuestionnaireResponse/{made.answers_id}" in text


def test_none_of_it_reaches_police(app: Flask, world: World) -> None:
    from tests.consent.helpers import all_items, release_to

    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    made = call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(16))
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    with app.app_context(), unit_of_work() as uow:
        from clinic.accounts.models import User
        from clinic.accounts.services import actor_for
        from clinic.release.services import releasable

        examiner = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        force = uow.session.get(Organization, world.organizations["RIVERPOL"])
        assert force is not None
        released = releasable(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(examiner),
            case_id=case.id,
            force_id=force.id,
        )
        assert released
        kinds = {version.resource_type for version in released}
        assert not kinds & {"RiskAssessment", "QuestionnaireResponse", "Flag"}
        assert made.id not in json.dumps([version.content for version in released])
        officer = force_actor(force)
        for kind in ("RiskAssessment", "QuestionnaireResponse", "Flag"):
            assert not decide(officer, Action.EXPORT, kind, operation=RELEASE).permitted
            assert not decide(officer, Action.READ, kind).permitted


def test_the_fhir_api_serves_them_to_her_site_and_no_one_else(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    plan_id = partner_plan(app, case.id)
    made = call(app, "counsellor", safety.record_assessment, plan_id=plan_id, answers=answers(16))
    with app.app_context(), unit_of_work() as uow:
        flag_id = uow.session.scalar(sa.select(SafetyFlag.id).where(SafetyFlag.plan_id == plan_id))
    records = {
        "RiskAssessment": made.id,
        "QuestionnaireResponse": made.answers_id,
        "Flag": flag_id,
    }
    for username in ("examiner", "counsellor"):
        token = world[username].token
        for kind, logical_id in records.items():
            read = api(client, "GET", f"/fhir/{kind}/{logical_id}", token)
            assert read.status_code == 200, (username, kind)
            validate_resource(read.get_json(), app.extensions["clinic.profiles"])
            found = api(client, "GET", f"/fhir/{kind}?patient={case.patient_id}", token).get_json()
            assert [e["resource"]["id"] for e in found["entry"]] == [logical_id], (username, kind)
        # Not written through the API.
        body = api(client, "GET", f"/fhir/Flag/{flag_id}", token).get_json()
        assert api(client, "PUT", f"/fhir/Flag/{flag_id}", token, body).status_code in (403, 405)
    for username in ("examiner.south", "counsellor.south", "officer", "officer.hill"):
        token = world[username].token
        for kind, logical_id in records.items():
            assert api(client, "GET", f"/fhir/{kind}/{logical_id}", token).status_code == 404
            found = api(client, "GET", f"/fhir/{kind}?patient={case.patient_id}", token)
            assert logical_id not in found.get_data(as_text=True), (username, kind)
    for username in ("custodian", "admin", "auditor"):
        for kind, logical_id in records.items():
            response = api(client, "GET", f"/fhir/{kind}/{logical_id}", world[username].token)
            assert response.status_code == 403
            assert logical_id not in response.get_data(as_text=True)


def test_the_carry_over_table_reads_only_what_the_decision_point_grants() -> None:
    from clinic.access.terms import SAFETY_CARRY_OVER_ANSWERS
    from clinic.exam.lists import INCIDENT, STRUCTURED_STEPS
    from clinic.followup.safety_checklist import CARRY_OVER

    sheets = {s.key: s for step in STRUCTURED_STEPS.values() for s in step.sheets}
    sheets.update({s.key: s for s in INCIDENT.sheets})
    read = {
        "history/acts-described"
        if rule.exam_sheet == "acts"
        else f"{sheets[rule.exam_sheet].section}/{sheets[rule.exam_sheet].code}"
        for rule in CARRY_OVER
    }
    read |= {f"{sheets['assailant'].section}/{sheets['assailant'].code}", "injuries/injury"}
    assert read == SAFETY_CARRY_OVER_ANSWERS
