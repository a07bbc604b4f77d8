"""Small helpers for talking to the app as a real client would."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

FHIR_JSON = "application/fhir+json"
SDV = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SDV"}


def api(
    client: FlaskClient, method: str, path: str, token: str | None, body: Any = None, **headers: str
) -> TestResponse:
    all_headers = {"Accept": FHIR_JSON, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        all_headers.setdefault("Content-Type", FHIR_JSON)
    return client.open(path, method=method, data=data, headers=all_headers)


def patient(case_reference: str = "SA-TEST-0001", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": "https://forensic-care.org/fhir/sid/case-reference", "value": case_reference}
        ],
        "gender": "female",
        **extra,
    }


def observation(patient_id: str, value: float = 92) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-20T14:05:00Z",
        "valueQuantity": {
            "value": value,
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def create(client: FlaskClient, token: str, resource: dict[str, Any]) -> dict[str, Any]:
    response = api(client, "POST", f"/fhir/{resource['resourceType']}", token, resource)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: dict[str, Any] = response.get_json()
    return created


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str) -> TestResponse:
    """Sign in with the password, then the second factor as the person would: a code
    from their app (the World's people have `totp_secret`), or, for an account with
    none yet, enrolment with the key the page shows. Answers the last response."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return second_step(client, username, response)


def signed_in(app: Flask, username: str, language: str) -> FlaskClient:
    """A client signed in as `username` (with the test world's password), its
    screens in `language`."""
    from tests.conftest import PASSWORD

    client = app.test_client()
    login(client, username, PASSWORD)
    token = csrf_token(client, "/account/password")
    client.post("/language", data={"language": language, "csrf_token": token})
    return client


def session_opened(response: TestResponse) -> bool:
    """Whether the answer `login` gave opened a session: a redirect on to where the
    person was going, or, for an account that had to set up its app first, the
    page of its recovery codes (shown once, with the way on)."""
    return response.status_code == 302 or (
        response.status_code == 200 and "Your recovery codes" in response.get_data(as_text=True)
    )


def second_step(client: FlaskClient, username: str, response: TestResponse) -> TestResponse:
    """After a password `response` that leads to the second step: give the code
    (or enrol); else answer `response` as it is."""
    where = response.headers.get("Location", "")
    if response.status_code != 302 or not where.startswith("/login/code"):
        return response
    codes = client.application.extensions.setdefault("tests.totp", {})
    username = username.strip().casefold()
    page = client.get("/login/code", follow_redirects=True)
    text = page.get_data(as_text=True)
    passkey_only = "data-passkey-options" in text and 'name="code"' not in text
    if passkey_only or page.request.path == "/login/passkey/enrol":
        return passkey_step(client, username, page)
    enrolling = page.request.path == "/login/enrol"
    if enrolling:
        found = re.search(
            r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)
        )
        assert found, "no key on the enrolment page"
        codes[username] = (found.group(1).replace(" ", ""), codes.get(username, (None, -1))[1])
    code = factor_code(client, username)
    path = "/login/enrol" if enrolling else "/login/code"
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)})


def passkey_step(client: FlaskClient, username: str, page: TestResponse) -> TestResponse:
    """For a role that needs a passkey (PASSKEY_REQUIRED_ROLES on): the person's
    software authenticator (one per app and username, tests/soft_authenticator.py)
    makes one at the first sign-in, then answers with it."""
    from tests.soft_authenticator import SoftAuthenticator, page_options

    devices = client.application.extensions.setdefault("tests.passkeys", {})
    device = devices.setdefault(username, SoftAuthenticator())
    text = page.get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
    assert found, "no CSRF token on the passkey step"
    options = page_options(text)
    if page.request.path == "/login/passkey/enrol":
        data = {"name": "Tests", "credential": device.create(options)}
        if 'name="code"' in text:  # she has the app: its code too
            data["code"] = factor_code(client, username)
        return client.post("/login/passkey/enrol", data={**data, "csrf_token": found.group(1)})
    answer = {"credential": device.get(options), "csrf_token": found.group(1)}
    return client.post("/login/passkey", data=answer)


def factor_code(client: FlaskClient, username: str) -> str:
    """A code of `username`'s app not yet used with this app (each step is good once)."""
    codes = client.application.extensions.setdefault("tests.totp", {})
    username = username.strip().casefold()
    secret, last = codes.get(username, (totp_secret(username), -1))
    code, step = totp_code(secret, after_step=last)
    codes[username] = (secret, step)
    return code


def totp_secret(username: str) -> str:
    """The authenticator-app key the test World gives `username` (tests/conftest.py)."""
    digest = hashlib.sha256(f"clinic tests {username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def totp_code(secret: str, *, after_step: int = -1) -> tuple[str, int]:
    """A code of the app with `secret` and its time step: the current step, or the
    next one when the current was used already (the server accepts one step of
    drift and each step once); waits for time to move on when both were used."""
    import pyotp

    while True:
        now = int(time.time()) // 30
        step = max(now, after_step + 1)
        if step <= now + 1:
            return pyotp.TOTP(secret).at(step * 30), step
        time.sleep(max(0.2, (step - 1) * 30 - time.time() + 0.2))


@dataclass(frozen=True)
class OpenedCase:
    id: str
    reference: str
    patient_id: str


def open_case(app: Any, username: str = "examiner", **registration: Any) -> OpenedCase:
    """Register a survivor through the cases service, as an examiner does (anonymous
    adult, unreported-anonymous, unless told otherwise)."""
    import sqlalchemy as sa

    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.cases.models import ReportingMode
    from clinic.cases.services import Registration, register_survivor
    from clinic.cli import unit_of_work

    fields: dict[str, Any] = {
        "is_anonymous": True,
        "reporting_mode": ReportingMode.ANONYMOUS,
        "age_years": 30,
    } | registration
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        case = register_survivor(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            registration=Registration(**fields),
        )
        return OpenedCase(case.id, case.reference, case.patient_id)


def collect_kit(
    app: Any, username: str, case_id: str, kinds: tuple[str, ...] = ("swab", "swab", "blood")
) -> Any:
    """Collect a kit through the evidence service, as an examiner does at the exam:
    her evidence-collection consent is recorded first (every item agreed) unless
    one is already in force."""
    import sqlalchemy as sa

    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.cases.models import Case
    from clinic.cli import unit_of_work
    from clinic.consent.book import consent_book
    from clinic.evidence.models import EvidenceKind
    from clinic.evidence.services import ItemSpec
    from clinic.evidence.services import collect_kit as collect
    from tests.consent.helpers import all_items, record

    with app.app_context(), unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        in_force = case is not None and any(
            d.form.startswith("evidence-collection/")
            for d in consent_book(uow).directives(f"Patient/{case.patient_id}")
        )
    if case is not None and not in_force:
        form = "evidence-collection/v1"
        record(app, case_id, form, all_items(app, form), username=username)
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        specs = [
            ItemSpec(
                EvidenceKind(kind),
                f"{kind.title()} {n}",
                container="tube",
                body_site="oral" if kind == "swab" else None,
            )
            for n, kind in enumerate(kinds, start=1)
        ]
        kit = collect(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            kit_name="Sexual assault evidence kit",
            items=specs,
        )
        uow.session.expunge_all()
        return kit


def signature_png(width: int = 300, height: int = 90) -> bytes:
    """A real signature-like PNG drawn with Pillow."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line(
        [(10, height - 20), (60, 15), (110, height - 25), (170, 20), (width - 20, height // 2)],
        fill=(0, 0, 0, 255),
        width=3,
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def refuse_audit_rows(connection: Any, backend: str) -> None:
    """Make the database refuse every new audit row (a trigger raising), as an
    unavailable audit store would: what needs an audit record must then fail."""
    if backend == "postgresql":
        connection.exec_driver_sql(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events"
            " FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
        )
    else:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events"
            " BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
        )
