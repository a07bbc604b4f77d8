"""Break-glass through HTTP: who may break the glass, what it opens, for how long,
what is listed on the case, and the auditors' review (docs/design.md section 4a)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import UserSession
from clinic.audit.models import AuditEntry
from clinic.core.clock import utcnow
from clinic.emergency.models import BreakGlassGrant, BreakGlassRead
from tests.conftest import PASSWORD
from tests.helpers import OpenedCase, csrf_token, login, open_case

REASON = "Unconscious on arrival at the emergency department; allergies needed now."
GUESSED_ID = "00000000-0000-4000-8000-000000000000"


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def _break(client: FlaskClient, reference: str, reason: str = REASON):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/emergency/")
    return client.post(
        "/emergency/", data={"reference": reference, "reason": reason, "csrf_token": token}
    )


def _grants(engine: sa.Engine) -> list[BreakGlassGrant]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(BreakGlassGrant)).all())  # type: ignore[arg-type]


def _reads(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(sa.select(BreakGlassRead.entity)))


@pytest.fixture
def north_case(app: Flask) -> OpenedCase:
    return open_case(app, "examiner")


def test_an_examiner_of_another_site_breaks_the_glass_and_reads_the_case(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    client = _signed_in(app, "examiner.south")
    assert client.get(f"/cases/{north_case.id}").status_code == 404  # not hers to read
    answered = _break(client, north_case.reference.lower())
    assert answered.status_code == 302
    assert answered.headers["Location"] == f"/cases/{north_case.id}"
    page = client.get(f"/cases/{north_case.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="break-glass-banner"' in text
    [grant] = _grants(engine)
    assert grant.reason == REASON
    assert grant.username == "examiner.south"
    assert (
        timedelta(hours=3, minutes=59) < grant.expires_at - grant.granted_at <= timedelta(hours=4)
    )
    read = _reads(engine)
    assert f"EpisodeOfCare/{north_case.id}" in read
    assert f"Patient/{north_case.patient_id}" in read
    with engine.connect() as connection:
        trail = [
            (entry.reasons, entry.entities)
            for entry in connection.execute(
                sa.select(AuditEntry.reasons, AuditEntry.entities).where(
                    AuditEntry.username == "examiner.south"
                )
            ).all()
            if "break-glass" in entry.reasons
        ]
    # The grant (with its reason) and the reads are on the audit trail.
    assert any(REASON in reasons for reasons, _ in trail)
    assert any(f"Patient/{north_case.patient_id}" in entities for _, entities in trail)


def test_the_grant_ends_after_its_time_and_opens_nothing_more(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    client = _signed_in(app, "examiner.south")
    assert _break(client, north_case.reference).status_code == 302
    with engine.begin() as connection:
        connection.execute(
            sa.update(BreakGlassGrant).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert client.get(f"/cases/{north_case.id}").status_code == 404


def test_a_grant_for_one_case_does_not_open_another(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    other = open_case(app, "examiner")
    client = _signed_in(app, "examiner.south")
    assert _break(client, north_case.reference).status_code == 302
    assert client.get(f"/cases/{north_case.id}").status_code == 200
    assert client.get(f"/cases/{other.id}").status_code == 404
    assert client.get(f"/cases/{GUESSED_ID}").status_code == 404
    # Her case's list of break-glass accesses is the care team's, not the breaker's.
    assert client.get(f"/emergency/cases/{north_case.id}").status_code == 404


def test_a_reason_is_required_and_an_unknown_reference_refused(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    client = _signed_in(app, "examiner.south")
    short = _break(client, north_case.reference, reason="urgent")
    assert short.status_code == 422
    assert "at least 20 characters" in short.get_data(as_text=True)
    unknown = _break(client, "SA-ZZZZ-ZZZZ")
    assert unknown.status_code == 422
    assert "No case has this reference." in unknown.get_data(as_text=True)
    assert _grants(engine) == []


def test_breaking_the_glass_needs_the_password_typed_within_minutes(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    client = _signed_in(app, "examiner.south")
    with engine.begin() as connection:
        connection.execute(
            sa.update(UserSession).values(password_confirmed_at=utcnow() - timedelta(minutes=6))
        )
    asked = _break(client, north_case.reference)
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/account/confirm")
    assert _grants(engine) == []


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("counsellor", 403),
        ("counsellor.south", 403),
        ("custodian", 403),
        ("admin", 403),
        ("auditor", 403),
        ("officer", 404),  # police learn nothing, not even that the page exists
    ],
)
def test_only_examiners_may_break_the_glass(
    app: Flask, engine: sa.Engine, north_case: OpenedCase, username: str, status: int
) -> None:
    client = _signed_in(app, username)
    assert client.get("/emergency/").status_code == status
    token = csrf_token(client, "/account/tokens")
    answered = client.post(
        "/emergency/",
        data={"reference": north_case.reference, "reason": REASON, "csrf_token": token},
    )
    assert answered.status_code == status
    assert _grants(engine) == []


def test_the_care_team_sees_who_broke_the_glass_when_why_and_what_was_read(
    app: Flask, north_case: OpenedCase
) -> None:
    breaker = _signed_in(app, "examiner.south")
    assert _break(breaker, north_case.reference).status_code == 302
    breaker.get(f"/cases/{north_case.id}")
    examiner = _signed_in(app, "examiner")
    case_page = examiner.get(f"/cases/{north_case.id}").get_data(as_text=True)
    assert 'id="break-glass-flag"' in case_page
    listing = examiner.get(f"/emergency/cases/{north_case.id}")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "examiner.south" in text
    assert REASON in text
    assert f"Patient/{north_case.patient_id}" in text
    assert _signed_in(app, "counsellor").get(f"/emergency/cases/{north_case.id}").status_code == 200
    for username, status in (("counsellor.south", 404), ("officer", 404), ("auditor", 403)):
        client = _signed_in(app, username)
        assert client.get(f"/emergency/cases/{north_case.id}").status_code == status, username


def _review(client: FlaskClient, grant_id: str, outcome: str, note: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/account/tokens")
    return client.post(
        f"/emergency/reviews/{grant_id}",
        data={"outcome": outcome, "note": note, "csrf_token": token},
    )


def test_an_auditor_reviews_each_use_once(
    app: Flask, engine: sa.Engine, north_case: OpenedCase
) -> None:
    assert _break(_signed_in(app, "examiner.south"), north_case.reference).status_code == 302
    [grant] = _grants(engine)
    auditor = _signed_in(app, "auditor")
    queue = auditor.get("/emergency/reviews").get_data(as_text=True)
    assert REASON in queue
    assert f"/emergency/reviews/{grant.id}" in queue
    assert auditor.get(f"/emergency/reviews/{grant.id}").status_code == 200
    missing_note = _review(auditor, grant.id, "justified", "  ")
    assert missing_note.status_code == 422
    unknown_outcome = _review(auditor, grant.id, "fine", "Checked with the duty consultant.")
    assert unknown_outcome.status_code == 422
    assert _grants(engine)[0].outcome is None  # nothing changed
    done = _review(auditor, grant.id, "justified", "Checked with the duty consultant.")
    assert done.status_code == 302
    [reviewed] = _grants(engine)
    assert reviewed.outcome == "justified"
    assert reviewed.reviewed_by == "auditor"
    again = _review(auditor, grant.id, "not-justified", "Changing my mind.")
    assert again.status_code == 422
    assert "already been reviewed" in again.get_data(as_text=True)
    assert _grants(engine)[0].outcome == "justified"
    assert _review(auditor, GUESSED_ID, "justified", "A note.").status_code == 404
    assert auditor.get(f"/emergency/reviews/{GUESSED_ID}").status_code == 404


@pytest.mark.parametrize(
    ("username", "status"),
    [("examiner.south", 403), ("examiner", 403), ("admin", 403), ("officer", 404)],
)
def test_only_auditors_review(
    app: Flask, engine: sa.Engine, north_case: OpenedCase, username: str, status: int
) -> None:
    assert _break(_signed_in(app, "examiner.south"), north_case.reference).status_code == 302
    [grant] = _grants(engine)
    client = _signed_in(app, username)
    assert client.get("/emergency/reviews").status_code == status
    assert client.get(f"/emergency/reviews/{grant.id}").status_code == status
    assert _review(client, grant.id, "justified", "Looks fine to me.").status_code == status
    assert _grants(engine)[0].outcome is None
