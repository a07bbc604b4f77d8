"""The follow-up screens through the Flask client: the examiner agrees the plan with
her after sign-off, the counsellor carries it; a bad answer is shown next to its
field with nothing written."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.core.clock import utcnow
from tests.conftest import PASSWORD, World
from tests.followup.helpers import signed_exam
from tests.helpers import csrf_token, login, open_case


def _form(page: str) -> dict[str, str]:
    """The proposal's fields as the browser would send them, every item kept."""
    data: dict[str, str] = {}
    for name, value in re.findall(r'name="(items-\d+-(?:code|due_on))"[^>]*value="([^"]*)"', page):
        data[name] = value
    for name in re.findall(r'name="(items-\d+-keep)"', page):
        data[name] = "y"
    for name, value in re.findall(
        r'<select[^>]*name="(items-\d+-responsible)"[^>]*>.*?<option selected value="([^"]*)"',
        page,
        flags=re.S,
    ):
        data[name] = value
    return data


def test_examiner_agrees_the_plan_and_the_counsellor_sees_it(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = signed_exam(app, case.id)
    login(client, "examiner", PASSWORD)
    overview = client.get(f"/exams/{exam_id}").get_data(as_text=True)
    assert f"/exams/{exam_id}/followup" in overview
    page = client.get(f"/exams/{exam_id}/followup").get_data(as_text=True)
    assert "HIV test (6 weeks after the assault)" in page
    assert "PEP check: side effects and adherence" in page
    assert 'Source: <cite lang="en">BHIVA/BASHH' in page  # cited in its own language
    form = _form(page)
    assert any(key.endswith("-responsible") for key in form)
    token = csrf_token(client, f"/exams/{exam_id}/followup")

    # Not agreed with her: refused, the reason shown, nothing written.
    refused = client.post(f"/exams/{exam_id}/followup", data=form | {"csrf_token": token})
    assert refused.status_code == 422
    assert "she agrees to it" in refused.get_data(as_text=True)
    # A due date before the exam: refused next to that item's date.
    past = (utcnow() - timedelta(days=2)).date().isoformat()
    refused = client.post(
        f"/exams/{exam_id}/followup",
        data=form | {"items-0-due_on": past, "agreed_with_her": "y", "csrf_token": token},
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "cannot fall due before the day of the exam" in body
    assert 'href="#items-0-due_on"' in body
    # A date that is not a date.
    refused = client.post(
        f"/exams/{exam_id}/followup",
        data=form | {"items-0-due_on": "31/02/2027", "agreed_with_her": "y", "csrf_token": token},
    )
    assert refused.status_code == 422
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM followup_plans").scalar() == 0

    agreed = client.post(
        f"/exams/{exam_id}/followup",
        data=form | {"agreed_with_her": "y", "referrals": "refuge", "csrf_token": token},
    )
    assert agreed.status_code == 302
    plan_url = agreed.headers["Location"]
    assert "/followup/plans/" in plan_url
    # Going back to the proposal now leads to her plan.
    assert client.get(f"/exams/{exam_id}/followup").headers["Location"] == plan_url
    shown = client.get(plan_url).get_data(as_text=True)
    assert "Referral: Refuge or shelter" in shown
    assert "/items/0" not in shown  # examiners read the plan; counsellors carry it

    counsellor = app.test_client()
    login(counsellor, "counsellor", PASSWORD)
    shown = counsellor.get(plan_url).get_data(as_text=True)
    assert "HIV test (6 weeks after the assault)" in shown
    token = csrf_token(counsellor, plan_url)
    done = counsellor.post(f"{plan_url}/items/0", data={"status": "completed", "csrf_token": token})
    assert done.status_code == 302
    assert "Done" in counsellor.get(plan_url).get_data(as_text=True)
    bad = counsellor.post(f"{plan_url}/items/0", data={"status": "lost", "csrf_token": token})
    assert bad.status_code == 303
    assert "Choose what became of the item" in counsellor.get(plan_url).get_data(as_text=True)


def test_an_unsigned_exam_has_no_plan_yet(app: Flask, client: FlaskClient, world: World) -> None:
    from tests.exam.helpers import complete_exam

    exam_id = complete_exam(app, open_case(app).id)
    login(client, "examiner", PASSWORD)
    response = client.get(f"/exams/{exam_id}/followup")
    assert response.status_code == 409
    assert "sign the exam off first" in response.get_data(as_text=True)
