"""The release bundle (promise 3) and its offline verification: exactly the
approved, still-permitted records, nothing that leads to anything else, signed;
any tampering detected. Tried as a force would."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask import Flask
from flask.testing import FlaskClient

from clinic.cli import unit_of_work
from clinic.exam.services import sign_off
from clinic.fhir.validation import validate_resource
from clinic.ledger.services import (
    active_signer,
    create_checkpoint,
    generate_key,
    log_origin,
    trusted_keys,
)
from clinic.ledger.standalone import VerificationError, main, verify_release
from clinic.release.bundle import (
    _b64url,
    canonical,
    release_key_name,
    release_provenance,
    withheld_count,
)
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record, release_to, withdraw
from tests.exam.helpers import call, complete_exam
from tests.helpers import api, collect_kit, csrf_token, login, open_case
from tests.release.helpers import file
from tests.validator import errors, validate


@dataclass
class Release:
    case_id: str
    reference: str
    request_id: str
    consent_id: str
    swabs: set[str]
    kit: Any


def _keys(app: Flask) -> list[Any]:
    with app.app_context():
        return trusted_keys()


def _approve(app: Flask, request_id: str) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    page = f"/releases/incoming/{request_id}"
    response = client.post(
        f"/releases/incoming/{request_id}/approve", data={"csrf_token": csrf_token(client, page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def release(app: Flask, client: FlaskClient, world: World) -> Release:
    case = open_case(app)
    call(app, "examiner", sign_off, exam_id=complete_exam(app, case.id))
    kit = collect_kit(app, "examiner", case.id, ("swab", "swab", "clothing"))
    with app.app_context(), unit_of_work() as uow:
        generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
        origin = log_origin(app.config, "custody")
        signer = generate_key(uow.session, Path(app.instance_path), origin)
        create_checkpoint(uow.session, "custody", origin, signer)
    filed = file(
        client, world["officer"].token, case.reference, requested=("report", "swabs", "identity")
    ).get_json()
    consent_id = release_to(
        app,
        case.id,
        "RIVERPOL",
        all_items(app, "police-release/v1", agree=False)
        | {"report": True, "report-account": False, "swabs": True},
    )
    _approve(app, filed["id"])
    swabs = {item.id for item in kit.items if item.kind == "swab"}
    return Release(case.id, case.reference, filed["id"], consent_id, swabs, kit)


def _download(client: FlaskClient, token: str, release: Release) -> Any:
    return api(client, "GET", f"/fhir/Task/{release.request_id}/$release", token)


def test_the_bundle_holds_exactly_what_she_permits_and_nothing_that_leads_further(
    app: Flask, client: FlaskClient, world: World, release: Release, tmp_path: Path
) -> None:
    response = _download(client, world["officer"].token, release)
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle = response.get_json()
    resources = [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"] for r in resources}
    assert "Patient" not in kinds  # identity declined, though asked for
    specimens = {r["id"] for r in resources if r["resourceType"] == "Specimen"}
    assert specimens == release.swabs  # not the clothing, not the kit
    text = json.dumps(bundle)
    for resource in resources:
        assert "text" not in resource
        assert "contained" not in resource
    # Her account is withheld, and nothing points at anything not released.
    released = {f"{r['resourceType']}/{r['id']}" for r in resources}
    # Every fullUrl is absolute, under the API's base, so that a relative reference
    # inside resolves to the entry beside it (FHIR's rules for resolving in a bundle).
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"http://localhost/fhir/{r['resourceType']}/{r['id']}" for r in resources
    ]
    assert "held me down" not in text
    # What it releases is said by its Provenance, whose source is the request.
    provenance = release_provenance(bundle)
    assert bundle["entry"][0]["resource"] == provenance
    assert provenance["entity"][0]["what"]["reference"] == f"Task/{release.request_id}"
    targets = {"/".join(t["reference"].split("/")[:2]) for t in provenance["target"]}
    assert targets == released - {f"Provenance/{provenance['id']}"}
    for reference in _references(bundle["entry"]):
        if reference == f"Task/{release.request_id}":
            continue  # the force's own request
        assert "/".join(reference.split("/")[:2]) in released, reference
    assert withheld_count(bundle) > 0
    # Valid FHIR: one Signature, no Bundle.extension; each record claims a profile
    # it meets, the released profile of its type where a reference was replaced.
    assert isinstance(bundle["signature"], dict)
    assert "extension" not in bundle
    Bundle.model_validate(bundle)
    registry = app.extensions["clinic.profiles"]
    for resource in resources:
        validate_resource(resource, registry, released=True)
    subjects = [r for r in resources if r["resourceType"] in ("Observation", "Specimen")]
    assert subjects
    assert all(
        r["meta"]["profile"][0].endswith(
            ("fc-released-observation", "fc-released-evidence-specimen")
        )
        for r in subjects
    )
    assert release.reference in text  # her case reference stands in for her identity
    # Custody events of each released swab, with proofs; none of the clothing.
    tasks = [r for r in resources if r["resourceType"] == "Task"]
    assert {t["focus"]["reference"].split("/")[1] for t in tasks} == release.swabs
    assert all(
        any(x["url"].endswith("fc-custody-proof") for x in e["extension"])
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Task"
    )
    # An independent validator agrees: valid R4 and R4B, entries included.
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    assert errors(validate([tmp_path])) == []
    # And it verifies offline.
    checked = verify_release(bundle, _keys(app))
    assert "entries match their SHA-256" in checked[1]
    assert checked[2].startswith(f"{len(tasks)} custody events proven")


def _references(node: Any) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item))
    return found


@pytest.mark.parametrize(
    "tamper",
    [
        "a resource",
        "a hash",
        "a proof",
        "the signature",
        "a custody leaf",
        "an entry removed",
    ],
)
def test_tampering_is_detected_offline(
    app: Flask, client: FlaskClient, world: World, release: Release, tamper: str, tmp_path: Path
) -> None:
    bundle = _download(client, world["officer"].token, release).get_json()
    keys = _keys(app)
    changed = copy.deepcopy(bundle)
    entry = next(e for e in changed["entry"] if e["resource"]["resourceType"] == "Task")
    if tamper == "a resource":
        changed["entry"][0]["resource"]["status"] = "preliminary"
    elif tamper == "a hash":
        changed["entry"][0]["extension"][0]["valueString"] = "0" * 64
    elif tamper == "a proof":
        proof = next(x for x in entry["extension"] if x["url"].endswith("fc-custody-proof"))
        lines = proof["valueString"].split("\n")
        lines[2] = base64.b64encode(b"\x00" * 32).decode()
        proof["valueString"] = "\n".join(lines)
    elif tamper == "the signature":
        jws = base64.b64decode(changed["signature"]["data"]).decode()
        head, _, sig = jws.split(".")
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
        changed["signature"]["data"] = base64.b64encode(f"{head}..{sig}".encode()).decode()
    elif tamper == "a custody leaf":
        leaf = next(x for x in entry["extension"] if x["url"].endswith("fc-custody-leaf"))
        event = json.loads(base64.b64decode(leaf["valueString"]))
        event["action"] = "destroyed"
        leaf["valueString"] = base64.b64encode(json.dumps(event).encode()).decode()
    else:
        changed["entry"].pop()
    with pytest.raises(VerificationError):
        verify_release(changed, keys)
    # The command line says so too, and accepts the untouched bundle.
    key_file = tmp_path / "keys.txt"
    key_file.write_text("\n".join(str(k) for k in keys))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    bad.write_text(json.dumps(changed))
    assert main(["--key", str(key_file), "--release", str(good)]) == 0
    assert main(["--key", str(key_file), "--release", str(bad)]) == 1


def test_only_the_force_may_download_and_every_download_is_recorded(
    app: Flask, client: FlaskClient, world: World, release: Release
) -> None:
    other = _download(client, world["officer.hill"].token, release)
    unknown = api(client, "GET", "/fhir/Task/no-such-request/$release", world["officer.hill"].token)
    assert other.status_code == unknown.status_code == 404
    assert other.get_json()["issue"][0]["code"] == unknown.get_json()["issue"][0]["code"]
    for staff in ("examiner", "counsellor", "custodian", "admin", "auditor"):
        assert _download(client, world[staff].token, release).status_code == 403
    assert _download(client, world["officer"].token, release).status_code == 200
    assert _download(client, world["officer"].token, release).status_code == 200
    from clinic.release.models import ReleaseRequest

    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, release.request_id)
        assert request is not None
        assert [d["by"] for d in request.delivered or []] == ["officer", "officer"]
    audit = api(
        client, "GET", "/fhir/AuditEvent?subtype=export&altid=officer", world["auditor"].token
    )
    assert len(audit.get_json()["entry"]) == 2
    # Her care team can show her what was released, to whom and when.
    staff = app.test_client()
    login(staff, "counsellor", PASSWORD)
    page = staff.get(f"/releases/incoming/{release.request_id}").get_data(as_text=True)
    assert page.count("release bundle downloaded by officer") == 2
    dashboard = staff.get(f"/cases/{release.case_id}/consent").get_data(as_text=True)
    assert "Riverside Police" in dashboard
    assert "bundle to officer" in dashboard


def test_withdrawal_stops_further_downloads_and_the_delivered_ones_stay_recorded(
    app: Flask, client: FlaskClient, world: World, release: Release
) -> None:
    token = world["officer"].token
    assert _download(client, token, release).status_code == 200
    withdraw(app, release.case_id, release.consent_id)
    refused = _download(client, token, release)
    assert refused.status_code == 409
    assert "consent withdrawn on" in refused.get_data(as_text=True)
    assert "swab" not in refused.get_data(as_text=True).lower()
    from clinic.release.models import ReleaseRequest

    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, release.request_id)
        assert request is not None
        assert len(request.delivered or []) == 1


def test_after_her_end_date_nothing_more_is_delivered(
    app: Flask, client: FlaskClient, world: World, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clinic.core import clock
    from clinic.release import bundle

    later = clock.utcnow() + timedelta(days=31)
    monkeypatch.setattr(bundle, "utcnow", lambda: later)
    refused = _download(client, world["officer"].token, release)
    assert refused.status_code == 409
    assert "no longer covers" in refused.get_data(as_text=True)


def test_after_her_end_date_the_officer_is_not_told_it_is_released(
    app: Flask, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the officer's page and report say is decided now, as the download is."""
    from clinic.core import clock
    from clinic.release import services
    from clinic.release.models import ReleaseRequest

    def released() -> dict[str, bool]:
        with app.app_context(), unit_of_work() as uow:
            request = uow.session.get(ReleaseRequest, release.request_id)
            assert request is not None
            return {o.item: o.released for o in services.release_outcome(uow, request)}

    assert released() == {"report": True, "swabs": True, "identity": False}
    later = clock.utcnow() + timedelta(days=31)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    assert released() == {"report": False, "swabs": False, "identity": False}


def test_released_evidence_is_handed_only_to_a_named_officer_of_that_force(
    app: Flask, world: World, release: Release
) -> None:
    from clinic.evidence.models import CustodyState
    from clinic.evidence.services import CustodyRefused
    from clinic.release.models import ReleaseRequest
    from tests.evidence.test_custody import act, bring_to, valid_details

    first, second = sorted(release.swabs)
    clothing = next(i.id for i in release.kit.items if i.kind == "clothing")
    for item_id in (first, second, clothing):
        bring_to(app, world, item_id, CustodyState.STORED)

    def hand(item_id: str, force: str, officer: str) -> Any:
        details = valid_details(app, world, item_id, "transferred") | {
            "receiver_organization_id": world.organizations[force],
            "receiver_name": officer,
        }
        return act(app, "custodian", item_id, "transferred", **details)

    refusals = [
        (clothing, "RIVERPOL", "Officer", "receiver_organization_id"),  # not released
        (first, "HILLPOL", "Officer.Hill", "receiver_organization_id"),  # another force
        (first, "RIVERPOL", "Officer.Hill", "receiver_name"),  # not their officer
        (first, "RIVERPOL", "Dr Ana Lee", "receiver_name"),
    ]
    for item_id, force, officer, field in refusals:
        with pytest.raises(CustodyRefused) as refused:
            hand(item_id, force, officer)
        assert refused.value.field == field, (item_id, force, officer)
    event = hand(first, "RIVERPOL", "Officer")
    assert event.receiver_name == "Officer"
    assert event.receiver_signature  # the officer signed
    with app.app_context(), unit_of_work() as uow:
        request = uow.session.get(ReleaseRequest, release.request_id)
        assert request is not None
        assert [d.get("to") for d in request.delivered or [] if "handover" in d] == ["Officer"]
    # She withdraws: what was handed over stays recorded; nothing more goes.
    withdraw(app, release.case_id, release.consent_id, items=("swabs",))
    with pytest.raises(CustodyRefused):
        hand(second, "RIVERPOL", "Officer")


def test_a_release_opens_no_direct_read_for_the_force(
    app: Flask, client: FlaskClient, world: World, release: Release
) -> None:
    """Released records still reach the force only in the signed bundle: every
    direct read, search, history, operation and parameter trick answers exactly as
    for an unknown id, with nothing of the record in the body."""
    token = world["officer"].token
    bundle = _download(client, token, release).get_json()
    released = [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle["entry"]
        if e["resource"]["resourceType"] != "Task"
    ]
    assert released
    unknown_id = "00000000-0000-4000-8000-000000000000"

    def probes(kind: str, logical_id: str) -> list[str]:
        return [
            f"/fhir/{kind}/{logical_id}",
            f"/fhir/{kind}/{logical_id}/_history/1",
            f"/fhir/{kind}/{logical_id}/_history",
            f"/fhir/{kind}?_id={logical_id}",
            f"/fhir/{kind}?_id={logical_id}&_summary=count",
            f"/fhir/{kind}?_id={logical_id}&_elements=id",
            f"/fhir/{kind}?_id={logical_id}&_include=*",
            f"/fhir/{kind}?_id={logical_id}&_revinclude=*",
            f"/fhir/{kind}/{logical_id}/$custody",
            f"/fhir/{kind}?subject:Patient._id={logical_id}",
        ]

    for kind, logical_id in released:
        for real, fake in zip(probes(kind, logical_id), probes(kind, unknown_id), strict=True):
            seen = api(client, "GET", real, token)
            blind = api(client, "GET", fake, token)
            assert seen.status_code == blind.status_code, real
            answer, unknown = seen.get_json() or {}, blind.get_json() or {}
            if seen.status_code >= 400:
                # The same OperationOutcome, the id they sent aside.
                assert json.dumps(answer).replace(logical_id, "ID") == json.dumps(unknown).replace(
                    unknown_id, "ID"
                ), real
            else:
                assert answer.get("entry", []) == unknown.get("entry", []) == [], real
                assert "total" not in answer, real
    # And the case reference the survivor gave them finds nothing directly either.
    for kind in ("Patient", "EpisodeOfCare"):
        found = api(client, "GET", f"/fhir/{kind}?identifier={release.reference}", token)
        assert found.get_json().get("entry", []) == []


def test_a_record_amended_after_approval_is_not_released_until_approved_again(
    app: Flask, client: FlaskClient, world: World, release: Release
) -> None:
    from dataclasses import replace
    from decimal import Decimal

    import sqlalchemy as sa

    from clinic.exam.models import Exam
    from clinic.exam.services import change_injury
    from tests.exam.helpers import INJURY

    token = world["officer"].token
    first = _download(client, token, release).get_json()
    with app.app_context(), unit_of_work() as uow:
        exam_id = uow.session.scalar(sa.select(Exam.id).where(Exam.case_id == release.case_id))
    # An amendment after sign-off: the injury measured again.
    call(
        app,
        "examiner",
        change_injury,
        exam_id=exam_id,
        slot="injury:1",
        injury=replace(INJURY, length_mm=Decimal(32)),
        reason="measured again in better light",
    )
    # A later, unrelated change of her consents is not a withdrawal of this release.
    record(app, release.case_id, "statistics/v1", {"anonymous-statistics": True})
    record(app, release.case_id, "statistics/v1", {"anonymous-statistics": False})
    assert (
        api(client, "GET", f"/fhir/Task/{release.request_id}", token).get_json()["status"]
        == "ready"
    )
    refused = _download(client, token, release)
    assert refused.status_code == 409
    assert "approve it again" in refused.get_data(as_text=True)
    _approve(app, release.request_id)
    second = _download(client, token, release).get_json()
    assert second["id"] != first["id"]
    injuries = [
        e["resource"]
        for e in second["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "injury"
    ]
    assert [c["valueQuantity"]["value"] for c in injuries[0]["component"][:1]] == [32]


def _resign(app: Flask, bundle: dict[str, Any], alg: str, *, as_list: bool) -> dict[str, Any]:
    """The bundle signed by the clinic's release key as `alg` says, the signature
    one Signature or (as bundles were signed before) a list of one."""
    unsigned = {key: value for key, value in bundle.items() if key != "signature"}
    with app.app_context(), unit_of_work() as uow:
        signer = active_signer(uow.session, Path(app.instance_path), release_key_name(app.config))
        header = {"alg": alg, "kid": str(signer.verifier)}
        protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
        signature = signer.private_key.sign(f"{protected}.{_b64url(canonical(unsigned))}".encode())
    signed = dict(bundle["signature"])
    signed["data"] = base64.b64encode(f"{protected}..{_b64url(signature)}".encode()).decode()
    return {**unsigned, "signature": [signed] if as_list else signed}


def test_the_signature_is_ed25519_and_bundles_signed_before_as_eddsa_still_verify(
    app: Flask, client: FlaskClient, world: World, release: Release
) -> None:
    bundle = _download(client, world["officer"].token, release).get_json()
    jws = base64.b64decode(bundle["signature"]["data"]).decode()
    assert json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))["alg"] == "Ed25519"
    keys = _keys(app)
    verify_release(bundle, keys)
    verify_release(_resign(app, bundle, "EdDSA", as_list=True), keys)  # as signed before
    verify_release(_resign(app, bundle, "Ed25519", as_list=False), keys)
    for alg in ("HS256", "none", "ES256"):
        with pytest.raises(VerificationError, match="not a detached Ed25519 JWS"):
            verify_release(_resign(app, bundle, alg, as_list=False), keys)
