"""The structured anogenital examination by site (TEARS findings, how each site was
examined) and guidance that reads the history and her consent, through HTTP."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam import services
from clinic.exam.resources import Answer
from clinic.exam.timing import WindowStatus
from clinic.fhir.validation import validate_resource
from tests.conftest import PASSWORD, World
from tests.exam.helpers import call, complete_exam, history, read, record_exam_consent, start
from tests.helpers import csrf_token, login, open_case


def count_versions(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.exec_driver_sql("SELECT count(*) FROM fhir_resource_versions").scalar() or 0
        )


def post(client: FlaskClient, exam_id: str, data: dict[str, object]) -> tuple[int, str]:
    token = csrf_token(client, f"/exams/{exam_id}/anogenital")
    response = client.post(f"/exams/{exam_id}/anogenital", data=data | {"csrf_token": token})
    return response.status_code, html.unescape(response.get_data(as_text=True))


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error"[^>]*>([^<]+)</p>', page)
    assert found, f"no error next to {field_id}"
    return found.group(1)


def test_sites_are_recorded_with_findings_and_methods_validated_and_printed_in_order(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    login(client, "examiner", PASSWORD)
    status, _ = post(
        client,
        exam_id,
        {
            "site_posterior_fourchette_findings": ["tear", "redness"],
            "site_posterior_fourchette_methods": ["direct-view", "colposcope"],
            "site_posterior_fourchette_note": "Tear at 6 o'clock, 4 mm",
            "site_hymen_findings": ["none"],
            "site_hymen_methods": ["direct-view"],
            "findings": "Small amount of blood at the introitus.",
        },
    )
    assert status == 302
    record = read(app, exam_id)
    assert list(record.anogenital_sites) == ["posterior-fourchette", "hymen"]  # list order
    registry = app.extensions["clinic.profiles"]
    for slot in ("anogenital-site:posterior-fourchette", "anogenital-site:hymen"):
        content = record.entries[slot].content
        assert content["meta"]["profile"][0].endswith("fc-anogenital-site")
        validate_resource(content, registry)
    lines = next(s.lines for s in services.report_sections(record) if s.code == "anogenital")
    assert lines[0] == (
        "Posterior fourchette: Tear (laceration), Redness (examined by: Direct view, "
        "Colposcope); Tear at 6 o'clock, 4 mm"
    )
    assert lines[1] == "Hymen: No injury seen (examined by: Direct view)"
    assert lines[-1] == "In words: Small amount of blood at the introitus."
    # Resumable: the page shows what was saved.
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert re.search(r'value="tear"[^>]*checked|checked[^>]*value="tear"', page)
    # Clearing a site takes it back (entered-in-error, kept in its history).
    status, _ = post(
        client,
        exam_id,
        {"site_hymen_findings": ["none"], "site_hymen_methods": ["direct-view"]},
    )
    assert status == 302
    assert list(read(app, exam_id).anogenital_sites) == ["hymen"]


def test_bad_site_input_is_refused_next_to_its_field_and_nothing_is_written(
    app: Flask, client: FlaskClient, world: World, engine: sa.Engine
) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id, speculum_exam=False)
    exam_id = start(app, case.id)
    login(client, "examiner", PASSWORD)
    before = count_versions(engine)
    for data, field_id, message in (
        (
            {"site_vagina_findings": ["tear"]},
            "site_vagina_methods",
            "Vagina: say how the site was examined.",
        ),
        (
            {"site_vagina_methods": ["direct-view"]},
            "site_vagina_findings",
            "Vagina: choose what was seen, or “No injury seen”.",
        ),
        (
            {"site_hymen_findings": ["none", "tear"], "site_hymen_methods": ["direct-view"]},
            "site_hymen_findings",
            "Hymen: “No injury seen” cannot go with a finding.",
        ),
        (
            {"site_vagina_findings": ["none"], "site_vagina_methods": ["speculum"]},
            "site_vagina_methods",
            "She declined the internal examination with a speculum",
        ),
        (
            {"site_cervix_findings": ["none"], "site_cervix_methods": ["colposcope"]},
            "site_cervix_findings",
            "Cervix: seen only with a speculum, which she declined.",
        ),
        ({}, "findings", "Record the findings of at least one site"),
    ):
        status, page = post(client, exam_id, data)
        assert status == 422, data
        assert error_of(page, field_id).startswith(message), (data, error_of(page, field_id))
    assert count_versions(engine) == before
    # She declined the speculum: no speculum to tick, the cervix shown as declined.
    page = client.get(f"/exams/{exam_id}/anogenital").get_data(as_text=True)
    assert 'value="speculum"' not in page
    assert "Declined: seen only with a speculum, which she declined." in page
    assert 'name="site_cervix_findings"' not in page


def test_a_site_recorded_before_she_declined_blocks_sign_off_until_removed(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    exam_id = complete_exam(app, case.id)
    call(
        app,
        "examiner",
        services.record_anogenital,
        exam_id=exam_id,
        sites={"cervix": services.SiteFinding(frozenset({"none"}), frozenset({"speculum"}))},
    )
    record_exam_consent(app, case.id, speculum_exam=False)
    with pytest.raises(services.ExamRefused, match="she has since declined this part"):
        call(app, "examiner", services.sign_off, exam_id=exam_id)
    call(app, "examiner", services.remove_declined_findings, exam_id=exam_id)
    assert read(app, exam_id).anogenital_sites == {}


def test_guidance_reads_the_history_and_her_consent_and_can_be_overridden(
    app: Flask, client: FlaskClient, world: World
) -> None:
    case = open_case(app)
    record_exam_consent(app, case.id, speculum_exam=False)
    exam_id = complete_exam(app, case.id, consent=False)
    call(
        app,
        "examiner",
        services.record_history,
        exam_id=exam_id,
        history=history(vaginal_penetration=Answer.YES, drugs_alcohol_suspected=Answer.UNKNOWN),
    )
    statuses = {g.window.code: g.status for g in read(app, exam_id).guidance}
    assert statuses["forensic-oral"] is WindowStatus.NOT_INDICATED  # no oral act
    assert statuses["forensic-anal"] is WindowStatus.NOT_INDICATED
    assert statuses["forensic-vaginal"] is WindowStatus.WITHIN
    assert statuses["forensic-endocervical"] is WindowStatus.NOT_POSSIBLE  # no speculum
    assert statuses["toxicology-blood"] is WindowStatus.WITHIN  # "not known" is no "no"
    assert statuses["hiv-pep"] is WindowStatus.WITHIN
    # The history changed after the decisions: decide again before sign-off.
    assert any("guidance changed" in m for m in read(app, exam_id).missing_for_sign_off())
    login(client, "examiner", PASSWORD)
    page = html.unescape(client.get(f"/exams/{exam_id}/guidance").get_data(as_text=True))
    assert "Not indicated by the history." in page
    assert "Not possible: she declined the part needed." in page
    # The examiner still decides: an override with a reason is kept.
    call(
        app,
        "examiner",
        services.decide_window,
        exam_id=exam_id,
        window_code="forensic-oral",
        overridden=True,
        override_reason="She later said he forced his penis into her mouth.",
    )
    item = next(g for g in read(app, exam_id).guidance if g.window.code == "forensic-oral")
    assert item.is_current
    assert item.decision is not None
    assert item.decision.overridden
    saved = read(app, exam_id).entries["guidance:forensic-oral"].content
    assert saved["valueCodeableConcept"]["coding"][0] == {
        "system": "https://forensic-care.org/fhir/CodeSystem/window-status",
        "code": "not-indicated",
        "display": "Not indicated by the history",
    }
    assert json.dumps(saved).count("She later said") == 1
