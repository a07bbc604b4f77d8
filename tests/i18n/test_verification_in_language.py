"""When a log does not verify, the auditor reads why in her language: the verifier
reports in English (what the command line prints and the audit trail records), and
the screen reads it back by its shapes, nested where one problem wraps another.
What has no known shape (the operating system's words) is shown as it is."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.ledger.said import problem
from tests.audit.test_audit_trail import _tamper, _verify
from tests.helpers import signed_in
from tests.i18n.test_pages_in_language import english_words_on

SAID = [
    (
        "entry 3 does not match its recorded leaf hash",
        "l\u2019entrée 3 ne correspond pas à son hachage de feuille enregistré",
    ),
    (
        "entry 2 is missing or out of order (found index 3)",
        "l\u2019entrée 2 manque ou n\u2019est pas à sa place (index trouvé : 3)",
    ),
    (
        "the signed checkpoint at size 40 covers 40 entries but only 12 are stored",
        "le point de contrôle signé de taille 40 couvre 40 entrées, mais seules 12 sont stockées",
    ),
    (
        "exported checkpoint 2 in /var/lib/clinic/audit.checkpoints (size 9) does not match the"
        " entries before it: an entry up to index 8 was changed, or the log was rewritten",
        "le point de contrôle exporté n° 2 dans /var/lib/clinic/audit.checkpoints (taille 9) ne"
        " correspond pas aux entrées qui le précèdent : une entrée jusqu\u2019à l\u2019index 8 a"
        " été modifiée, ou le journal a été réécrit",
    ),
    (
        "the checkpoint at size 40 does not verify: the note carries no signature by a trusted key",
        "le point de contrôle de taille 40 ne se vérifie pas : la note ne porte aucune signature"
        " d\u2019une clé de confiance",
    ),
    (
        "the inclusion proof does not lead to the checkpoint's root hash",
        "la preuve d\u2019inclusion ne mène pas au hachage racine du point de contrôle",
    ),
    # The operating system's words are shown as they are, inside the sentence.
    (
        "cannot read /etc/clinic/keys: [Errno 2] No such file or directory",
        "impossible de lire /etc/clinic/keys : [Errno 2] No such file or directory",
    ),
]


@pytest.mark.parametrize(("recorded", "french"), SAID)
def test_a_verification_problem_is_said_in_the_readers_language(
    app: Flask, recorded: str, french: str
) -> None:
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        said = problem(recorded)
        assert said is not None, recorded
        assert said.said() == french


def test_a_problem_of_no_known_shape_is_shown_as_written(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert problem("the moon is in the wrong phase") is None
        # A nested source that is not one of the verifier's is no known shape either.
        assert problem("someone covers 4 entries but only 3 are stored") is None


@pytest.mark.parametrize("language", ["fr", "es"])
def test_a_broken_audit_log_is_reported_in_the_auditors_language(
    app: Flask, engine: sa.Engine, language: str
) -> None:
    assert _verify(app) == (0, "")
    _tamper(engine, "UPDATE audit_events SET outcome = '8' WHERE log_index = 3")
    status, recorded = _verify(app)
    assert (status, recorded) == (1, "entry 3 does not match its recorded leaf hash")
    auditor = signed_in(app, "auditor", language)
    page = html.unescape(auditor.get("/audit/verify").get_data(as_text=True))
    assert {"fr": "l\u2019entrée 3 ne correspond pas", "es": "la entrada 3 no corresponde"}[
        language
    ] in page
    assert english_words_on(page, language) == []
    # The audit list says the verification's outcome in her language too.
    listed = html.unescape(auditor.get("/audit/").get_data(as_text=True))
    assert {"fr": "vérification : l\u2019entrée 3", "es": "verificación: la entrada 3"}[
        language
    ] in listed
