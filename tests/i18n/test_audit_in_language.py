"""The auditor's audit list says what the trail recorded in her language (the
decision point's reasons, an outcome's description, a query in words), offers the
record's exact English words beside them, and shows what it has no known shape
for as recorded, marked as English: never dropped, never a failure. The trail
itself keeps the English, byte for byte."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.access import Actor, Role
from clinic.audit.models import AuditEntry
from clinic.audit.services import AuditRecord, EventKind, Outcome, append_records
from tests.conftest import World
from tests.helpers import signed_in

REASONS = (
    "role examiner may read Patient (own-site)",
    "consent Consent/0a83685f-4cba-4978-9345-b9f821cf3d19 (information-sharing/v1, item gp) "
    "says deny",
    "break-glass access 5f0c2f4e until 2026-12-07T22:00:00+00:00",
    # No known shape: an older record's words.
    "reviewed by the night shift for the monthly report",
)
SAID = {
    "fr": (
        "le rôle Médecin légiste examinateur peut lire Patient (son site)",
        "consentement 0a83685f-4cba-4978-9345-b9f821cf3d19 (information-sharing/v1, point gp)"
        " : refuse",
        "accès d'urgence 5f0c2f4e jusqu'au 7 déc. 2026, 22:00:00 (UTC)",
        "introuvable",
        "communiqué au rôle Médecin légiste examinateur pour le dossier SA-0042",
    ),
    "es": (
        "el rol Examinador forense puede leer Patient (su centro)",
        "consentimiento 0a83685f-4cba-4978-9345-b9f821cf3d19 (information-sharing/v1, punto gp)"
        ": deniega",
        "acceso de emergencia 5f0c2f4e hasta el 7 dic 2026, 22:00:00 (UTC)",
        "no encontrado",
        "compartido con el rol Examinador forense para el caso SA-0042",
    ),
}


def _record(app: Flask, world: World) -> None:
    from clinic.core.db import db

    with app.app_context():
        person = world["examiner"]
        examiner = Actor(
            person.user_id, person.username, Role.EXAMINER, world.organizations["NORTH"]
        )
        append_records(
            db.session,
            [
                AuditRecord(
                    EventKind.READ,
                    "web",
                    examiner,
                    outcome=Outcome.MINOR_FAILURE,
                    entities=("Patient/p1",),
                    reasons=REASONS,
                    outcome_desc="not found",
                    query="shared with examiner for case SA-0042",
                ),
                AuditRecord(
                    EventKind.SEARCH,
                    "fhir",
                    examiner,
                    reasons=("role examiner may search Patient (own-site)",),
                    outcome_desc="a step the night shift took",
                    query="Patient?identifier=[redacted]",
                ),
            ],
        )
        db.session.commit()


def _cells(page: str) -> str:
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return html.unescape(re.sub(r"\s+", " ", body))


@pytest.mark.parametrize("language", ["fr", "es"])
def test_the_audit_list_says_the_record_in_the_auditors_language(
    app: Flask, world: World, language: str
) -> None:
    _record(app, world)
    auditor = signed_in(app, "auditor", language)
    response = auditor.get("/audit/")
    assert response.status_code == 200
    cells = _cells(response.get_data(as_text=True))
    for words in SAID[language]:
        assert words in cells
    # The record's exact words, offered beside, marked as English.
    assert '<details class="as-recorded" data-record>' in cells
    assert f'<small lang="en" data-as-recorded>{"; ".join(REASONS)}</small>' in cells
    assert (
        '<small lang="en" data-as-recorded>shared with examiner for case SA-0042</small>' in cells
    )
    # What has no known shape is shown as recorded, marked as English.
    assert (
        '<small lang="en" data-as-recorded>reviewed by the night shift for the monthly report'
        "</small>" in cells
    )
    assert '<small lang="en" data-as-recorded>a step the night shift took</small>' in cells
    # A machine query is code.
    assert "<code>Patient?identifier=[redacted]</code>" in cells
    # Outside the record's exact words, no recognised reason is left in English.
    outside = re.sub(r'<details class="as-recorded" data-record>.*?</details>', " ", cells)
    assert "role examiner may" not in outside
    assert "not found" not in outside


def test_the_trail_keeps_the_english(app: Flask, world: World) -> None:
    from clinic.core.db import db

    _record(app, world)
    signed_in(app, "auditor", "fr").get("/audit/")
    with app.app_context():
        kept = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.query == "shared with examiner for case SA-0042")
        ).one()
        assert kept.reasons == list(REASONS)
        assert kept.outcome_desc == "not found"


def _break_glass(app: Flask, reason: str) -> None:
    """An examiner of another site opens her case in an emergency, typing `reason`."""
    from tests.conftest import PASSWORD
    from tests.helpers import csrf_token, login, open_case

    case = open_case(app, "examiner")
    client = app.test_client()
    assert login(client, "examiner.south", PASSWORD).status_code == 302
    opened = client.post(
        "/emergency/",
        data={
            "reference": case.reference,
            "reason": reason,
            "csrf_token": csrf_token(client, "/emergency/"),
        },
    )
    assert opened.status_code == 302, opened.get_data(as_text=True)


def test_a_typed_justification_is_never_said_as_the_systems_words(app: Flask) -> None:
    """A break-glass justification is what she typed: shown as written, even when it
    reads like a decision of the policy, so that no typed words pass for the
    system's own in another language."""
    typed = "role examiner may read Patient (all)"
    _break_glass(app, typed)
    page = html.unescape(signed_in(app, "auditor", "fr").get("/audit/").get_data(as_text=True))
    row = next(r for r in re.findall(r"<tr class=.*?</tr>", page, re.S) if "break-glass" in r)
    why = re.findall(r"<td>.*?</td>", row, re.S)[7]
    assert f'<small lang="en" data-as-recorded>{typed}</small>' in why
    assert "peut lire Patient" not in why


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_moment_at_the_calendars_end_is_shown_as_recorded(app: Flask, language: str) -> None:
    """Typed text that reads as a moment no zone can hold does not break the list."""
    _break_glass(app, "until 9999-12-31T23:59:59-14:00")
    response = signed_in(app, "auditor", language).get("/audit/")
    assert response.status_code == 200
    assert "until 9999-12-31T23:59:59-14:00" in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("recorded", "french"),
    [
        ("her language fr -> es", "sa langue est passée de français à espagnol"),
        ("her language not recorded -> fr", "sa langue est passée de non enregistrée à français"),
        (
            "reporting mode unreported -> reported",
            "mode de signalement passé de « non signalé » à « signalé »",
        ),
        (
            "contact attempt by call: no-answer",
            "tentative de contact (appel téléphonique) : pas de réponse",
        ),
        ("photograph corrected: retire", "photographie corrigée : retirée, prise par erreur"),
        ("why: wrong person", "motif : wrong person"),
        ("sha256 9f86d081", "SHA-256 9f86d081"),
        ("appointments shown", "rendez-vous affichés"),
        # How attempts went (outcome descriptions).
        (
            "throttled by address: 3 attempts refused during back-offs in this window "
            "(recorded at 1, 2, 4, 8, ...)",
            "limité (par adresse réseau) : 3 tentatives refusées pendant les temps d\u2019attente"
            " de cette période (enregistré à 1, 2, 4, 8, …)",
        ),
        ("Method Not Allowed", "Méthode non autorisée"),
    ],
)
def test_what_services_record_is_said_in_the_auditors_language(
    app: Flask, recorded: str, french: str
) -> None:
    from clinic.audit.said import outcome, reason

    with app.test_request_context(headers={"Accept-Language": "fr"}):
        said = reason(recorded).said or outcome(recorded).said
        assert said is not None, recorded
        assert said.said() == french


@pytest.mark.parametrize(
    "recorded",
    [
        "her language xx -> es",  # no such language
        "reporting mode sometimes -> reported",  # no such mode
        "contact attempt by pigeon: reached",  # no such channel
        "photograph corrected: painted",  # no such change
    ],
)
def test_a_value_of_no_known_code_is_shown_as_recorded(app: Flask, recorded: str) -> None:
    from clinic.audit.said import reason

    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert reason(recorded).said is None
