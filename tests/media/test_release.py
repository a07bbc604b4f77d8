"""Released photographs: the bundle lists each non-intimate original (Media with size,
SHA-256 and the custody proof of its intake), the officer downloads it through an
audited link that works while the release stands, `clinic-verify --release
--photo` checks the files offline; an intimate image never appears, whatever her
consent says."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.exam.services import sign_off
from clinic.ledger.services import create_checkpoint, generate_key, log_origin, trusted_keys
from clinic.ledger.standalone import VerificationError, main, verify_release
from clinic.release.bundle import ORIGINAL_URL, release_key_name
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, release_to, withdraw
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, csrf_token, login, open_case
from tests.media.helpers import camera_jpeg, record_photo_consent, take
from tests.release.helpers import file


@dataclass
class Released:
    request_id: str
    case_id: str
    consent_id: str
    plain: str
    intimate: str
    plain_bytes: bytes


def _approve(app: Flask, request_id: str) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    response = client.post(
        f"/releases/incoming/{request_id}/approve",
        data={"csrf_token": csrf_token(client, f"/releases/incoming/{request_id}")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def _release_keys_and_checkpoint(app: Flask) -> None:
    """The release signing key, and a signed custody checkpoint the proofs rest on."""
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
        origin = log_origin(app.config, "custody")
        signer = generate_key(uow.session, Path(app.instance_path), origin)
        create_checkpoint(uow.session, "custody", origin, signer)


@pytest.fixture
def released(app: Flask, client: FlaskClient, world: World) -> Released:
    case = open_case(app)
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    plain_bytes = camera_jpeg(seed=21)
    (plain,) = take(app, exam_id, [("plain.jpg", plain_bytes)])
    (intimate,) = take(
        app, exam_id, [("i.jpg", camera_jpeg(seed=22))], intimate=True, region="other", site="x"
    )
    call(app, "examiner", sign_off, exam_id=exam_id)
    _release_keys_and_checkpoint(app)
    filed = file(
        client,
        world["officer"].token,
        case.reference,
        requested=("report", "non-intimate-photos", "identity"),
    ).get_json()
    # Everything agreed: still, never an intimate image.
    consent_id = release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    _approve(app, filed["id"])
    return Released(filed["id"], case.id, consent_id, plain, intimate, plain_bytes)


def _keys(app: Flask) -> list[Any]:
    with app.app_context():
        return trusted_keys()


def _bundle(client: FlaskClient, world: World, request_id: str) -> dict[str, Any]:
    response = api(client, "GET", f"/fhir/Task/{request_id}/$release", world["officer"].token)
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle: dict[str, Any] = response.get_json()
    return bundle


def _officer(app: Flask, username: str = "officer") -> FlaskClient:
    browser = app.test_client()
    assert login(browser, username, PASSWORD).status_code == 302
    return browser


def test_the_bundle_lists_each_released_original_and_never_an_intimate_image(
    app: Flask, client: FlaskClient, world: World, released: Released
) -> None:
    bundle = _bundle(client, world, released.request_id)
    assert released.intimate not in json.dumps(bundle)
    media = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Media"]
    assert [e["resource"]["id"] for e in media] == [released.plain]
    (entry,) = media
    content = entry["resource"]["content"]
    assert content["size"] == len(released.plain_bytes)
    # No number that counts the photographs withheld (an intimate image among them).
    assert not any(ch.isdigit() for ch in content.get("title", ""))
    extensions = {e["url"].rsplit("/", 1)[1]: e["valueString"] for e in entry["extension"]}
    leaf = json.loads(base64.b64decode(extensions["fc-custody-leaf"]))
    assert leaf["action"] == "photographed"
    assert leaf["size"] == len(released.plain_bytes)
    assert "fc-custody-proof" in extensions
    assert extensions["fc-release-original"] == (
        f"releases/{released.request_id}/photos/{released.plain}"
    )
    checked = verify_release(bundle, _keys(app), [("plain.jpg", released.plain_bytes)])
    assert f"plain.jpg is Media/{released.plain}, byte for byte as photographed" in checked
    assert any("custody events proven" in line for line in checked)


def test_the_approval_page_and_the_release_report_name_the_photographs(
    app: Flask, released: Released
) -> None:
    clinic = _officer(app, "examiner")
    page = clinic.get(f"/releases/incoming/{released.request_id}").get_data(as_text=True)
    assert "Photographs of her injuries, not intimate (1)" in page
    report = _officer(app).get(f"/releases/{released.request_id}/report").get_data(as_text=True)
    assert f"/releases/{released.request_id}/photos/{released.plain}" in report
    assert released.intimate not in report


def test_the_officer_downloads_the_original_and_it_verifies_offline(
    app: Flask,
    client: FlaskClient,
    world: World,
    released: Released,
    tmp_path: Path,
    engine: sa.Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = _bundle(client, world, released.request_id)
    (entry,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Media"]
    link = next(e["valueString"] for e in entry["extension"] if e["url"] == ORIGINAL_URL)
    download = _officer(app).get(f"/{link}")
    assert download.status_code == 200
    assert download.get_data() == released.plain_bytes
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment")
    with engine.connect() as connection:
        reasons = [
            json.loads(row[0])
            for row in connection.exec_driver_sql("SELECT reasons FROM audit_events")
        ]
    assert any("released photograph downloaded" in found for found in reasons)

    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "keys.txt").write_text("\n".join(str(k) for k in _keys(app)))
    (tmp_path / "photo.jpg").write_bytes(download.get_data())
    args = ["--key", str(tmp_path / "keys.txt"), "--release", str(tmp_path / "bundle.json")]
    assert main([*args, "--photo", str(tmp_path / "photo.jpg")]) == 0
    assert "byte for byte as photographed" in capsys.readouterr().out
    changed = bytearray(download.get_data())
    changed[-3] ^= 1
    (tmp_path / "changed.jpg").write_bytes(bytes(changed))
    assert main([*args, "--photo", str(tmp_path / "changed.jpg")]) == 1
    assert "changed.jpg is not one of the photographs" in capsys.readouterr().out


def test_a_photograph_whose_leaf_was_altered_does_not_verify(
    app: Flask, client: FlaskClient, world: World, released: Released
) -> None:
    bundle = _bundle(client, world, released.request_id)
    (entry,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Media"]
    for extension in entry["extension"]:
        if extension["url"].endswith("fc-custody-leaf"):
            leaf = json.loads(base64.b64decode(extension["valueString"]))
            leaf["sha256"] = "0" * 64
            extension["valueString"] = base64.b64encode(json.dumps(leaf).encode()).decode()
    with pytest.raises(VerificationError):
        verify_release(bundle, _keys(app))


def test_only_the_force_reaches_the_link_and_never_for_an_intimate_image(
    app: Flask, released: Released
) -> None:
    base = f"/releases/{released.request_id}/photos"
    officer = _officer(app)
    assert officer.get(f"{base}/{released.intimate}").status_code == 404
    assert officer.get(f"{base}/00000000-0000-4000-8000-000000000000").status_code == 404
    assert _officer(app, "officer.hill").get(f"{base}/{released.plain}").status_code == 404
    for username in ("counsellor", "custodian", "examiner"):
        assert _officer(app, username).get(f"{base}/{released.plain}").status_code == 403


def test_withdrawal_stops_the_links(app: Flask, released: Released) -> None:
    link = f"/releases/{released.request_id}/photos/{released.plain}"
    officer = _officer(app)
    assert officer.get(link).status_code == 200
    withdraw(app, released.case_id, released.consent_id)
    stopped = officer.get(link)
    assert stopped.status_code == 409
    assert "consent withdrawn on" in stopped.get_data(as_text=True)


def test_a_corrected_photo_goes_to_the_police_without_the_correction_note(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Who reclassified a photo and why (a reason that may describe her body) stays
    in the clinic: the officer's bundle has the photo, not the note."""
    case = open_case(app)
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)
    (neck,) = take(app, exam_id, [("n.jpg", camera_jpeg(seed=23))], intimate=True, region="neck")
    examiner = app.test_client()
    assert login(examiner, "examiner", PASSWORD).status_code == 302
    path = f"/photos/{neck}/correct"
    corrected = examiner.post(
        path,
        data={
            "csrf_token": csrf_token(examiner, path),
            "change": "not-intimate",
            "reason": "CORRECTION-REASON the neck, not the labia",
        },
    )
    assert corrected.status_code == 302, corrected.get_data(as_text=True)
    call(app, "examiner", sign_off, exam_id=exam_id)
    _release_keys_and_checkpoint(app)
    filed = file(
        client, world["officer"].token, case.reference, requested=("non-intimate-photos",)
    ).get_json()
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    _approve(app, filed["id"])
    bundle = _bundle(client, world, filed["id"])
    media = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Media"]
    assert [m["id"] for m in media] == [neck]
    assert "note" not in media[0]
    assert "CORRECTION-REASON" not in json.dumps(bundle)
