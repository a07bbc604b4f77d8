"""A referral of NORTH's counsellor to a NORTH refuge, through the screens."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, World
from tests.followup.referral_helpers import add_service, named_case_with_plan, shares
from tests.helpers import csrf_token, login


def referred(app: Flask, client: FlaskClient, world: World, engine: sa.Engine):
    refuge = add_service(app, world, "NORTH", "refuge", "Harbour House")
    case_id, plan_id = named_case_with_plan(app)
    shares(app, case_id, advocate=True)
    login(client, "counsellor", PASSWORD)
    path = f"/followup/plans/{plan_id}/referrals"
    made = client.post(
        path, data={"csrf_token": csrf_token(client, path), "service": refuge, "reason": "Tonight"}
    )
    assert made.status_code == 302
    with engine.connect() as connection:
        referral_id, patient_id = connection.execute(
            sa.text(
                "SELECT r.id, p.patient_id FROM followup_referrals r "
                "JOIN followup_plans p ON p.id = r.plan_id"
            )
        ).one()
    return case_id, plan_id, refuge, referral_id, patient_id
