"""Every route x every role x own site / other site -> the expected answer.

The table is checked against the app's URL map: a new route without an entry
here fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import io
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic import create_app
from clinic.access.policy import DECISION_LISTENERS
from clinic.followup import referrals
from tests.conftest import PASSWORD, DatabaseFactory, World, bind_expert
from tests.consent.helpers import all_items
from tests.consent.helpers import record as record_consent
from tests.exam import helpers as exam_helpers
from tests.exam.helpers import INJURY, complete_exam, start
from tests.followup.helpers import agreed_plan, signed_exam
from tests.followup.helpers import call as followup_call
from tests.followup.referral_helpers import add_service
from tests.followup.test_appointments import book as book_appointment
from tests.helpers import (
    api,
    collect_kit,
    create,
    csrf_token,
    login,
    observation,
    open_case,
    patient,
)
from tests.media.helpers import camera_jpeg, record_photo_consent
from tests.media.helpers import take as take_photos
from tests.release.helpers import file as file_release_request

SESSION_COOKIE = "clinic_session"

# "expert": the medical expert her own case's photo consent names (bound to it).
ROLES = ("examiner", "counsellor", "custodian", "officer", "admin", "auditor", "expert")


@dataclass
class Setup:
    """Records the requests act on: at the examiner's site (NORTH) and another (SOUTH)."""

    own_patient: str
    other_patient: str
    own_observation: str
    organization: str
    audit_event: str
    token_ids: dict[str, str]
    south_counsellor: str
    own_specimen: str = ""
    other_specimen: str = ""
    own_kit: str = ""
    other_kit: str = ""
    own_case: str = ""
    other_case: str = ""
    own_location: str = ""
    other_location: str = ""
    own_exam: str = ""
    other_exam: str = ""
    own_consent: str = ""  # the own case's information sharing: all agreed
    other_consent: str = ""
    shared_patient: str = ""  # the own case's Patient, shared with counselling
    river_request: str = ""  # a release request by Riverside, citing the own case
    own_photo: str = ""  # a photograph in the own exam
    own_intimate: str = ""  # an intimate image in the own exam (she permits examiners)
    other_photo: str = ""  # a photograph in SOUTH's exam
    own_signed_exam: str = ""  # signed, no follow-up plan yet
    own_plan: str = ""  # a follow-up plan agreed at another signed exam of NORTH
    own_appointment: str = ""  # booked for the own plan's first item
    own_service: str = ""  # a refuge in NORTH's partner directory
    other_service: str = ""  # a refuge in SOUTH's
    own_referral: str = ""  # the own plan's referral to the refuge, sent
    # Each role's signed-in browser session (the cookie), made once in the built
    # database: signing in costs a password hash, which would dominate the walk.
    sessions: dict[str, str] = field(default_factory=dict)


@dataclass
class Built:
    """The matrix's records, built once: each endpoint's test works on a copy of this
    database and instance folder (photographs and keys), so what one endpoint
    changes never reaches another."""

    database_url: str
    instance: Path
    setup: Setup


@pytest.fixture(scope="module")
def built(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from clinic.core.db import db

    url = databases.new_database()
    instance = tmp_path_factory.mktemp("matrix") / "instance"
    application = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "test-secret",
            "SESSION_COOKIE_SECURE": False,
            "TESTING": True,
            "PASSKEY_REQUIRED_ROLES": (),  # as tests/conftest.py: police sign in with a code
        }
    )
    try:
        made = build_setup(
            application, application.test_client(), databases.world, db.engine(application)
        )
        for role in ROLES:
            browser = application.test_client()
            assert login(browser, role, PASSWORD).status_code == 302
            cookie = browser.get_cookie(SESSION_COOKIE)
            assert cookie is not None
            made.sessions[role] = cookie.value
    finally:
        db.dispose(application)  # closes every connection, so the database can be copied
    yield Built(url, instance, made)
    databases.drop(url)


@pytest.fixture
def database_url(databases: DatabaseFactory, built: Built) -> Iterator[str]:
    url = databases.new_database(copy_of=built.database_url)
    yield url
    databases.drop(url)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, built: Built) -> dict[str, Any]:
    shutil.copytree(built.instance, tmp_path / "instance")
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": tmp_path / "instance",
        "SECRET_KEY": "test-secret",
        "SESSION_COOKIE_SECURE": False,
        "TESTING": True,
        "PASSKEY_REQUIRED_ROLES": (),
        # The sessions were opened when the records were built; the walk may take
        # longer than the idle timeout, which this matrix does not test.
        "SESSION_IDLE_TIMEOUT": timedelta(hours=11),
        # Likewise the password typed at sign-in, which sensitive actions ask for
        # again after a few minutes (tests/accounts/test_reauthentication.py).
        "REAUTHENTICATE_AFTER": timedelta(hours=11),
    }


@pytest.fixture
def setup(built: Built) -> Setup:
    return built.setup


def build_setup(app: Flask, client: FlaskClient, world: World, engine: sa.Engine) -> Setup:
    own = create(client, world["examiner"].token, patient("SA-OWN-0001"))
    other = create(client, world["examiner.south"].token, patient("SA-OTHER-0001"))
    obs = create(client, world["examiner"].token, observation(own["id"]))
    with engine.connect() as connection:
        audit_id = connection.exec_driver_sql("SELECT min(id) FROM audit_events").scalar()
        tokens = dict(
            connection.exec_driver_sql(
                "SELECT u.username, t.id FROM api_tokens t JOIN users u ON u.id = t.user_id"
            ).all()
        )
    own_case, other_case = open_case(app, "examiner"), open_case(app, "examiner.south")
    own_kit = collect_kit(app, "examiner", own_case.id, ("swab",))
    other_kit = collect_kit(app, "examiner.south", other_case.id, ("swab",))
    with engine.connect() as connection:
        locations = dict(connection.exec_driver_sql("SELECT name, id FROM storage_locations").all())
    record_photo_consent(app, own_case.id)
    record_photo_consent(app, other_case.id, "examiner.south")
    bind_expert(app, own_case.id)
    own_exam = complete_exam(app, own_case.id)
    other_exam = complete_exam_south(app, other_case.id)
    own_photo, own_intimate = take_photos(
        app, own_exam, [("a.jpg", camera_jpeg(seed=1))]
    ) + take_photos(app, own_exam, [("b.jpg", camera_jpeg(seed=2))], intimate=True)
    (other_photo,) = take_photos(
        app, other_exam, [("c.jpg", camera_jpeg(seed=3))], username="examiner.south"
    )
    return Setup(
        own["id"],
        other["id"],
        obs["id"],
        world.organizations["NORTH"],
        str(audit_id),
        tokens,
        world["counsellor.south"].user_id,
        own_kit.items[0].id,
        other_kit.items[0].id,
        own_kit.kit.id,
        other_kit.kit.id,
        own_case.id,
        other_case.id,
        str(locations["Fridge 1"]),
        str(locations["South store"]),
        own_exam,
        other_exam,
        own_consent=record_consent(
            app, own_case.id, "information-sharing/v1", all_items(app, "information-sharing/v1")
        ),
        other_consent=record_consent(
            app, other_case.id, "statistics/v1", {"anonymous-statistics": True}, "examiner.south"
        ),
        shared_patient=own_case.patient_id,
        river_request=file_release_request(
            client, world["officer"].token, own_case.reference
        ).get_json()["id"],
        own_photo=own_photo,
        own_intimate=own_intimate,
        other_photo=other_photo,
        own_signed_exam=signed_exam(app, open_case(app).id, pep=False),
        own_plan=(plan := agreed_plan(app, signed_exam(app, open_case(app).id, pep=False))),
        own_appointment=book_appointment(app, plan, "visit-2-weeks"),
        own_service=(service := add_service(app, world, "NORTH", "refuge", "Harbour House")),
        other_service=add_service(app, world, "SOUTH", "refuge", "Southgate"),
        own_referral=_referral(app, engine, plan, service),
    )


def _referral(app: Flask, engine: sa.Engine, plan_id: str, service_id: str) -> str:
    """The plan's referral to the refuge, made once she agreed to share everything."""
    with engine.connect() as connection:
        case_id = connection.execute(
            sa.text("SELECT case_id FROM followup_plans WHERE id = :plan"), {"plan": plan_id}
        ).scalar_one()
    record_consent(app, case_id, "information-sharing/v1", all_items(app, "information-sharing/v1"))
    made = followup_call(
        app, "counsellor", referrals.make_referral, plan_id=plan_id, service_id=service_id
    )
    return str(made.id)


def complete_exam_south(app: Flask, case_id: str) -> str:
    from clinic.exam.services import add_injury

    exam_id = start(app, case_id, "examiner.south")
    exam_helpers.call(app, "examiner.south", add_injury, exam_id=exam_id, injury=INJURY)
    return exam_id


# Expected status per role, for each call. "other" variants act on SOUTH's record.
Expect = dict[str, int]


def everyone(status: int) -> Expect:
    return dict.fromkeys(ROLES, status)


def only(role_status: dict[str, int], default: int) -> Expect:
    return {role: role_status.get(role, default) for role in ROLES}


@dataclass
class Call:
    method: str
    path: Callable[[Setup], str]
    expect: Expect
    api: bool = False
    form: Callable[[Setup, str], dict[str, str]] | None = None
    body: Callable[[Setup], Any] | None = None


P = "/fhir/Patient"
# The exam: examiners of the site only; police as if nothing existed; other staff
# are refused the whole kind, whatever the id.
EXAMINERS_ONLY = only({"examiner": 200, "officer": 404}, 403)
HIDDEN = only({"examiner": 404, "officer": 404}, 403)
# Reading an exam is a kind counsellors may be granted by her consent, but the
# exam screens are the care team's: a counsellor finds nothing there.
EXAM_READ = EXAMINERS_ONLY | {"counsellor": 404}
EXAM_READ_HIDDEN = HIDDEN | {"counsellor": 404}
# Her consent: the care team of her site (examiners and counsellors).
CARE_TEAM = only({"examiner": 200, "counsellor": 200, "officer": 404}, 403)
CARE_TEAM_HIDDEN = only({"examiner": 404, "counsellor": 404, "officer": 404}, 403)
PHOTO_FORM = {"view": "overview", "region": "neck", "site": "left side", "intimate": "no"}
INTIMATE_UNOPENED = only({"examiner": 403, "officer": 404}, 403)
# The expert of the own case sees its intimate image (her consent names them) and
# nothing else: not its other photographs (her consent gives the expert only
# intimate images), no photograph of another case, no original (an export).
EXPERT_SEES = {"expert": 200}
EXPERT_HIDDEN = {"expert": 404}
GUESSED_ID = "00000000-0000-4000-8000-000000000000"
EXPERT_FORM = {
    "display_name": "Dr Ada Lovelace",
    "password": PASSWORD,
    "ends_on": (datetime.now(UTC).date() + timedelta(days=5)).isoformat(),
}
INJURY_FORM = {"kind": "bruise", "region": "neck", "site": "left side", "length_mm": "10"}
# A medical expert (bound to the own case) is refused every kind but Media (403);
# where the default below is not a refusal, the row names the expert itself.
MATRIX: dict[str, list[Call]] = {
    # -- browser pages ----------------------------------------------------------
    "home.index": [Call("GET", lambda s: "/", everyone(200))],
    "home.health": [Call("GET", lambda s: "/healthz", everyone(200))],
    "home.log_keys": [Call("GET", lambda s: "/.well-known/transparency-log-keys", everyone(200))],
    # Her own language for the screens: anyone, signed in or not (CSRF applies).
    "i18n.choose_language": [
        Call("POST", lambda s: "/language", everyone(302), form=lambda s, r: {"language": "en"})
    ],
    "accounts.login": [Call("GET", lambda s: "/login", everyone(302))],  # signed in: sent home
    "accounts.logout": [Call("POST", lambda s: "/logout", everyone(302), form=lambda s, r: {})],
    "accounts.password": [Call("GET", lambda s: "/account/password", everyone(200))],
    # The second step of signing in and the first enrolment: only between the
    # password and the code; anyone signed in is sent home.
    "accounts.second_factor": [Call("GET", lambda s: "/login/code", everyone(302))],
    "accounts.enrol": [Call("GET", lambda s: "/login/enrol", everyone(302))],
    "accounts.passkey_sign_in": [
        Call("POST", lambda s: "/login/passkey", everyone(302), form=lambda s, r: {})
    ],
    "accounts.passkey_enrol": [Call("GET", lambda s: "/login/passkey/enrol", everyone(302))],
    # Her own passkeys: listed, added (an unreadable browser answer: 400, nothing
    # kept), removed (a guessed id: refused).
    "accounts.passkeys_page": [Call("GET", lambda s: "/account/passkeys", everyone(200))],
    "accounts.add_passkey": [
        Call(
            "POST",
            lambda s: "/account/passkeys",
            everyone(400),
            form=lambda s, r: {"name": "matrix", "credential": "{}"},
        )
    ],
    "accounts.remove_passkey": [
        Call(
            "POST",
            lambda s: f"/account/passkeys/{GUESSED_ID}/remove",
            everyone(409),
            form=lambda s, r: {},
        )
    ],
    # A lost second factor: one administrator asks, a different one confirms.
    "accounts.factor_resets": [
        Call("GET", lambda s: "/account/factor-resets", only({"admin": 200, "officer": 404}, 403))
    ],
    "accounts.request_factor_reset": [
        Call(
            "POST",
            lambda s: "/account/factor-resets",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {"username": "counsellor", "reason": "Lost phone, seen in person"},
        )
    ],
    "accounts.confirm_factor_reset": [
        Call(
            "POST",
            lambda s: f"/account/factor-resets/{GUESSED_ID}/confirm",
            only({"admin": 409, "officer": 404}, 403),
            form=lambda s, r: {},
        )
    ],
    # The password typed again before a sensitive action.
    "accounts.confirm_password_view": [Call("GET", lambda s: "/account/confirm", everyone(200))],
    # Every session of the signed-in person ends; sent to sign in.
    "accounts.sign_out_everywhere": [
        Call("POST", lambda s: "/account/sessions/end", everyone(302), form=lambda s, r: {})
    ],
    # The session's own time left (asking does not extend it) and "Stay signed in".
    "accounts.session_status": [Call("GET", lambda s: "/session", everyone(200))],
    "accounts.extend_session": [
        Call("POST", lambda s: "/session/extend", everyone(200), form=lambda s, r: {})
    ],
    "accounts.tokens": [Call("GET", lambda s: "/account/tokens", everyone(200))],
    "accounts.create_token_view": [
        Call(
            "POST",
            lambda s: "/account/tokens",
            everyone(201),
            form=lambda s, r: {"name": "matrix", "days": "7"},
        )
    ],
    "accounts.revoke_token_view": [
        # Own token: revoked. Someone else's: answered as if it did not exist.
        Call("POST", lambda s: "/account/tokens/{own}/revoke", everyone(302), form=lambda s, r: {}),
        Call(
            "POST",
            lambda s: f"/account/tokens/{s.token_ids['examiner.south']}/revoke",
            everyone(404),
            form=lambda s, r: {},
        ),
    ],
    "admin.organizations": [
        Call("GET", lambda s: "/admin/organizations", only({"admin": 200, "officer": 404}, 403))
    ],
    "admin.create_organization_view": [
        Call(
            "POST",
            lambda s: "/admin/organizations",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {"kind": "lab", "name": f"Lab {r}", "code": f"LAB-{r.upper()}"},
        )
    ],
    "admin.edit_organization": [
        Call(
            "GET",
            lambda s: f"/admin/organizations/{s.organization}",
            only({"admin": 200, "officer": 404}, 403),
        ),
    ],
    "admin.users": [
        Call("GET", lambda s: "/admin/users", only({"admin": 200, "officer": 404}, 403))
    ],
    "admin.create_user_view": [
        Call(
            "POST",
            lambda s: "/admin/users",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {
                "username": f"new.{r}",
                "display_name": "New Person",
                "role": "counsellor",
                "organization_id": s.organization,
                "password": PASSWORD,
            },
        )
    ],
    "admin.user": [
        Call(
            "GET",
            lambda s: f"/admin/users/{s.south_counsellor}",
            only({"admin": 200, "officer": 404}, 403),
        ),
        Call(
            "POST",
            lambda s: f"/admin/users/{s.south_counsellor}",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {"new_password": "another long private phrase"},
        ),
    ],
    "admin.set_active": [
        Call(
            "POST",
            lambda s: f"/admin/users/{s.south_counsellor}/active",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {},
        )
    ],
    # Account hygiene (tests/admin): unused accounts, renewed; the access review.
    "admin.unused": [
        Call("GET", lambda s: "/admin/unused", only({"admin": 200, "officer": 404}, 403))
    ],
    "admin.renew": [
        Call(
            "POST",
            lambda s: f"/admin/users/{s.south_counsellor}/renew",
            only({"admin": 302, "officer": 404}, 403),
            form=lambda s, r: {},
        ),
        Call(
            "POST",
            lambda s: f"/admin/users/{GUESSED_ID}/renew",
            only({"admin": 404, "officer": 404}, 403),
            form=lambda s, r: {},
        ),
    ],
    "admin.access_review_page": [
        Call("GET", lambda s: "/admin/access-review", only({"admin": 200, "officer": 404}, 403))
    ],
    "admin.confirm_access_review_view": [
        # A digest that is not the list's: refused, nothing recorded.
        Call(
            "POST",
            lambda s: "/admin/access-review",
            only({"admin": 409, "officer": 404}, 403),
            form=lambda s, r: {"digest": "0" * 64},
        )
    ],
    "evidence.items": [
        Call(
            "GET",
            lambda s: "/evidence/",
            only({"examiner": 200, "custodian": 200, "officer": 404}, 403),
        ),
    ],
    "evidence.collect": [
        Call("GET", lambda s: "/evidence/collect", only({"examiner": 200, "officer": 404}, 403)),
    ],
    "evidence.labels": [
        Call(
            "GET",
            lambda s: f"/evidence/kits/{s.own_kit}/labels",
            only({"examiner": 200, "custodian": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/evidence/kits/{s.other_kit}/labels",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
        ),
    ],
    "evidence.item": [
        Call(
            "GET",
            lambda s: f"/evidence/items/{s.own_specimen}",
            only({"examiner": 200, "custodian": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/evidence/items/{s.other_specimen}",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
        ),
    ],
    "evidence.signature": [
        # Who may see a real signature is tested with the custody tests; here, an unknown one.
        Call(
            "GET",
            lambda s: "/evidence/signatures/" + "0" * 64,
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
        ),
    ],
    "evidence.custody": [
        # In role order: the examiner seals; the custodian then finds it sealed already.
        Call(
            "POST",
            lambda s: f"/evidence/items/{s.own_specimen}/custody",
            only({"examiner": 302, "custodian": 422, "officer": 404}, 403),
            form=lambda s, r: {"action": "sealed", "seal_number": "MATRIX-SEAL-1"},
        ),
        Call(
            "POST",
            lambda s: f"/evidence/items/{s.other_specimen}/custody",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
            form=lambda s, r: {"action": "sealed", "seal_number": "MATRIX-SEAL-2"},
        ),
    ],
    "evidence.bench": [
        # In role order: the examiner seals the whole kit; the custodian must then say where.
        Call(
            "POST",
            lambda s: f"/evidence/kits/{s.own_kit}/bench",
            only({"examiner": 302, "custodian": 422, "officer": 404}, 403),
            form=lambda s, r: {
                "seals-0-item_id": s.own_specimen,
                "seals-0-seal_number": "MATRIX-KIT-1",
                "seals-1-item_id": s.own_kit,
                "seals-1-seal_number": "MATRIX-KIT-2",
            },
        ),
        Call(
            "POST",
            lambda s: f"/evidence/kits/{s.other_kit}/bench",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
            form=lambda s, r: {
                "seals-0-item_id": s.other_specimen,
                "seals-0-seal_number": "MATRIX-KIT-3",
            },
        ),
    ],
    "evidence.find": [
        Call(
            "GET",
            lambda s: "/evidence/find?label=NORTH-KNOSUCHLABEL",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
        ),
    ],
    "evidence.extend": [
        # The kit is not sealed yet, so it has no disposal date to extend.
        Call(
            "POST",
            lambda s: f"/evidence/kits/{s.own_kit}/retention",
            only({"examiner": 422, "custodian": 422, "officer": 404}, 403),
            form=lambda s, r: {"reason": "she phoned on 1 March and objects"},
        ),
        Call(
            "POST",
            lambda s: f"/evidence/kits/{s.other_kit}/retention",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
            form=lambda s, r: {"reason": "she phoned on 1 March and objects"},
        ),
    ],
    "evidence.due": [
        Call(
            "GET",
            lambda s: "/evidence/due",
            only({"examiner": 200, "custodian": 200, "officer": 404}, 403),
        ),
    ],
    "evidence.locations": [
        Call(
            "GET",
            lambda s: "/evidence/locations",
            only({"custodian": 200, "officer": 404}, 403),
        ),
        Call(
            "POST",
            lambda s: "/evidence/locations",
            only({"custodian": 302, "officer": 404}, 403),
            form=lambda s, r: {"name": f"Matrix shelf {r}", "condition": "ambient"},
        ),
    ],
    "evidence.retire": [
        Call(
            "POST",
            lambda s: "/evidence/locations/retire",
            only({"custodian": 404, "officer": 404}, 403),
            form=lambda s, r: {"location_id": s.other_location},
        ),
        Call(
            "POST",
            lambda s: "/evidence/locations/retire",
            only({"custodian": 302, "officer": 404}, 403),
            form=lambda s, r: {"location_id": s.own_location},
        ),
    ],
    **{
        f"exam.{name}": [
            Call(
                "GET",
                lambda s, p=path: f"/exams/{s.own_exam}{p}",
                EXAM_READ if name in ("overview", "report") else EXAMINERS_ONLY,
            ),
            Call(
                "GET",
                lambda s, p=path: f"/exams/{s.other_exam}{p}",
                EXAM_READ_HIDDEN if name in ("overview", "report") else HIDDEN,
            ),
        ]
        for name, path in (
            ("overview", ""),
            ("consent", "/consent"),
            ("history", "/history"),
            ("general", "/general"),
            ("anogenital", "/anogenital"),
            ("guidance", "/guidance"),
            ("treatment", "/treatment"),
            ("injury", "/injuries/1"),
            ("report", "/report"),
            ("structured", "/steps/baseline"),
            ("laboratory", "/laboratory"),
        )
    },
    # Photographs: the examiners of her site, by her photo consent. An intimate
    # image shows only blurred (its thumbnail) until opened on purpose with a reason
    # (POST); its display copy and original are never served at an address of
    # their own. Nobody else reaches any photo, whatever the id.
    "media.photos": [
        Call("GET", lambda s: f"/exams/{s.own_exam}/photos", EXAMINERS_ONLY),
        Call("GET", lambda s: f"/exams/{s.other_exam}/photos", HIDDEN),
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/photos",
            EXAMINERS_ONLY | {"examiner": 302},
            form=lambda s, r: PHOTO_FORM | {"photos": (io.BytesIO(camera_jpeg(seed=7)), "m.jpg")},
        ),
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/photos",
            HIDDEN,
            form=lambda s, r: PHOTO_FORM | {"photos": (io.BytesIO(camera_jpeg(seed=8)), "n.jpg")},
        ),
    ],
    **{
        f"media.{name}": [
            Call(
                "GET",
                lambda s, v=name: f"/photos/{s.own_photo}/{v}",
                EXAMINERS_ONLY | ({} if name == "original" else EXPERT_HIDDEN),
            ),
            Call(
                "GET",
                lambda s, v=name: f"/photos/{s.own_intimate}/{v}",
                EXAMINERS_ONLY | EXPERT_SEES if name == "thumbnail" else INTIMATE_UNOPENED,
            ),
            Call(
                "GET",
                lambda s, v=name: f"/photos/{s.other_photo}/{v}",
                HIDDEN | ({} if name == "original" else EXPERT_HIDDEN),
            ),
            Call(
                "GET",
                lambda s, v=name: f"/photos/{GUESSED_ID}/{v}",
                HIDDEN | ({} if name == "original" else EXPERT_HIDDEN),
            ),
        ]
        for name in ("thumbnail", "display", "original")
    },
    # The medical expert's own gallery (her one case); others have the exam's.
    "expert.photos": [
        Call(
            "GET",
            lambda s: "/expert/photos",
            only({"expert": 200, "examiner": 404, "officer": 404}, 403),
        )
    ],
    # Break-glass (tests/emergency): examiners only state why and open a case; the
    # case's care team reads its list of break-glass accesses; auditors review.
    "emergency.start": [Call("GET", lambda s: "/emergency/", EXAMINERS_ONLY)],
    "emergency.open_case": [
        Call(
            "POST",
            lambda s: "/emergency/",
            EXAMINERS_ONLY | {"examiner": 422},
            form=lambda s, r: {
                "reference": "SA-ZZZZ-ZZZZ",
                "reason": "A matrix walk: no case has this reference.",
            },
        )
    ],
    "emergency.case_accesses": [
        Call("GET", lambda s: f"/emergency/cases/{s.own_case}", CARE_TEAM),
        Call("GET", lambda s: f"/emergency/cases/{s.other_case}", CARE_TEAM_HIDDEN),
        Call("GET", lambda s: f"/emergency/cases/{GUESSED_ID}", CARE_TEAM_HIDDEN),
    ],
    "emergency.reviews": [
        Call("GET", lambda s: "/emergency/reviews", only({"auditor": 200, "officer": 404}, 403))
    ],
    "emergency.review": [
        Call(
            "GET",
            lambda s: f"/emergency/reviews/{GUESSED_ID}",
            only({"auditor": 404, "officer": 404}, 403),
        )
    ],
    "emergency.record_review": [
        Call(
            "POST",
            lambda s: f"/emergency/reviews/{GUESSED_ID}",
            only({"auditor": 404, "officer": 404}, 403),
            form=lambda s, r: {"outcome": "justified", "note": "A matrix walk."},
        )
    ],
    # Opening a medical expert's account: the examiners of her site, from her case.
    "expert.appoint": [
        Call("GET", lambda s: f"/cases/{s.own_case}/expert", EXAMINERS_ONLY),
        Call("GET", lambda s: f"/cases/{s.other_case}/expert", HIDDEN),
        Call(
            "POST",
            lambda s: f"/cases/{s.own_case}/expert",
            EXAMINERS_ONLY | {"examiner": 302},
            form=lambda s, r: EXPERT_FORM | {"username": f"matrix.{r}"},
        ),
        Call(
            "POST",
            lambda s: f"/cases/{s.other_case}/expert",
            HIDDEN,
            form=lambda s, r: EXPERT_FORM | {"username": f"matrix.{r}"},
        ),
    ],
    "media.open_photo": [
        Call(
            "POST",
            lambda s: f"/photos/{s.own_intimate}/open",
            EXAMINERS_ONLY | EXPERT_SEES,
            form=lambda s, r: {"reason": "Peer review of the findings"},
        ),
        Call(
            "POST",
            lambda s: f"/photos/{s.own_intimate}/open",
            EXAMINERS_ONLY | {"examiner": 422, "expert": 422},
            form=lambda s, r: {"reason": ""},
        ),
        Call(
            "POST",
            lambda s: f"/photos/{s.other_photo}/open",
            HIDDEN | EXPERT_HIDDEN,
            form=lambda s, r: {"reason": "curious"},
        ),
        Call(
            "POST",
            lambda s: f"/photos/{GUESSED_ID}/open",
            HIDDEN | EXPERT_HIDDEN,
            form=lambda s, r: {"reason": "curious"},
        ),
    ],
    # Correcting a photograph (marked intimate or not, or retired with a reason): the
    # examiners of her site; an empty reason changes nothing.
    "media.correct": [
        Call("GET", lambda s: f"/photos/{s.own_photo}/correct", EXAMINERS_ONLY),
        Call("GET", lambda s: f"/photos/{s.other_photo}/correct", HIDDEN),
        Call("GET", lambda s: f"/photos/{GUESSED_ID}/correct", HIDDEN),
        Call(
            "POST",
            lambda s: f"/photos/{s.own_photo}/correct",
            EXAMINERS_ONLY | {"examiner": 422},
            form=lambda s, r: {"change": "intimate", "reason": ""},
        ),
        Call(
            "POST",
            lambda s: f"/photos/{s.other_photo}/correct",
            HIDDEN,
            form=lambda s, r: {"change": "retire", "reason": "curious"},
        ),
    ],
    # A released photograph's original: officers of the force, while the release
    # stands (this one is not approved: as if it did not exist); nobody else.
    "release.photo": [
        Call(
            "GET",
            lambda s: f"/releases/{s.river_request}/photos/{s.own_photo}",
            only({"officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/releases/{s.river_request}/photos/{s.own_intimate}",
            only({"officer": 404}, 403),
        ),
    ],
    "exam.start": [
        Call("POST", lambda s: f"/cases/{s.own_case}/exams", EXAMINERS_ONLY | {"examiner": 302}),
        Call("POST", lambda s: f"/cases/{s.other_case}/exams", HIDDEN),
    ],
    "exam.timing": [
        Call("GET", lambda s: f"/exams/{s.other_exam}/timing", HIDDEN),
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/timing",
            HIDDEN,
            form=lambda s, r: {"exam_time": "2026-01-01T10:00", "timing_kind": "unknown"},
        ),
        Call("GET", lambda s: f"/exams/{s.own_exam}/timing", EXAMINERS_ONLY),
    ],
    "exam.injuries": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/injuries",
            HIDDEN,
            form=lambda s, r: INJURY_FORM,
        ),
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/injuries",
            EXAMINERS_ONLY | {"examiner": 302},
            form=lambda s, r: INJURY_FORM,
        ),
        Call("GET", lambda s: f"/exams/{s.own_exam}/injuries", EXAMINERS_ONLY),
    ],
    "exam.lab_result": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/laboratory/hiv/result",
            HIDDEN,
            form=lambda s, r: {"result-hiv-result": "negative"},
        ),
        # No HIV test was requested in this exam: there is nothing to add a result to.
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/laboratory/hiv/result",
            HIDDEN,
            form=lambda s, r: {"result-hiv-result": "negative"},
        ),
    ],
    "exam.retract_injury": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/injuries/1/retract",
            HIDDEN,
            form=lambda s, r: {"why": "Recorded twice."},
        ),
        # Refused by the form before any service: no reason given.
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/injuries/1/retract",
            EXAMINERS_ONLY | {"examiner": 422},
            form=lambda s, r: {"why": ""},
        ),
    ],
    "exam.consent_review": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/consent/review",
            HIDDEN,
            form=lambda s, r: {"note": "x"},
        ),
        # Her consent is recorded in this exam: there is nothing to review.
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/consent/review",
            EXAMINERS_ONLY | {"examiner": 422},
            form=lambda s, r: {"note": "Checked."},
        ),
    ],
    "exam.remove_declined": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/anogenital/remove",
            HIDDEN,
            form=lambda s, r: {},
        ),
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/anogenital/remove",
            EXAMINERS_ONLY | {"examiner": 302},
            form=lambda s, r: {},
        ),
    ],
    "exam.sign": [
        Call(
            "POST",
            lambda s: f"/exams/{s.other_exam}/sign",
            HIDDEN,
            form=lambda s, r: {"confirm": "y"},
        ),
        Call(
            "POST",
            lambda s: f"/exams/{s.own_exam}/sign",
            EXAMINERS_ONLY | {"examiner": 302},
            form=lambda s, r: {"confirm": "y"},
        ),
    ],
    # Follow-up: examiners of her site propose the plan from the signed exam and read
    # it; counsellors of her site carry it (they cannot read the exam, so they find no
    # proposal); police as if nothing existed; other roles refused the kind.
    "followup.propose": [
        Call(
            "GET",
            lambda s: f"/exams/{s.own_signed_exam}/followup",
            only({"examiner": 200, "counsellor": 404, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/exams/{s.other_exam}/followup",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
        # Not agreed with her: refused with the reason, nothing written.
        Call(
            "POST",
            lambda s: f"/exams/{s.own_signed_exam}/followup",
            only({"examiner": 422, "counsellor": 404, "officer": 404}, 403),
            form=lambda s, r: {},
        ),
    ],
    "followup.plan": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "followup.item_status": [
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/items/0",
            only({"counsellor": 302, "officer": 404}, 403),
            form=lambda s, r: {"status": "completed"},
        ),
    ],
    "followup.book": [
        # A time in the past: refused with the reason, nothing written.
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/items/1/appointments",
            only({"counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {"starts_at": "2020-01-01T10:00", "minutes": "30"},
        ),
        Call(
            "POST",
            lambda s: "/followup/plans/guessed-id/items/1/appointments",
            only({"counsellor": 404, "officer": 404}, 403),
            form=lambda s, r: {"starts_at": "2020-01-01T10:00", "minutes": "30"},
        ),
    ],
    "followup.appointment_outcome": [
        # Not happened yet: refused and sent back to the plan with the reason.
        Call(
            "POST",
            lambda s: f"/followup/appointments/{s.own_appointment}",
            only({"counsellor": 303, "officer": 404}, 403),
            form=lambda s, r: {"outcome": "fulfilled"},
        ),
        Call(
            "POST",
            lambda s: "/followup/appointments/guessed-id",
            only({"counsellor": 404, "officer": 404}, 403),
            form=lambda s, r: {"outcome": "fulfilled"},
        ),
    ],
    "followup.contact": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/contact",
            only({"counsellor": 200, "officer": 404}, 403),
        ),
        # She allows calls only: a text is refused with the reason, nothing written.
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/contact",
            only({"counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {"channel": "text", "outcome": "no-answer"},
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/contact",
            only({"counsellor": 404, "officer": 404}, 403),
        ),
    ],
    # Her contact wishes: counsellors of her site change them (narrowing always;
    # nothing changed is refused with the reason); police as if nothing existed.
    "followup.contact_wishes": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/contact-wishes",
            only({"counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/contact-wishes",
            only({"counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {
                "channels": "call",
                "safe_times": "Weekday mornings",
                "asks_code_word": "y",
            },
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/contact-wishes",
            only({"counsellor": 404, "officer": 404}, 403),
        ),
    ],
    # Counselling notes: the counsellors of her care team only; examiners are refused
    # the kind (therapeutic records), police as if nothing existed.
    "followup.notes": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/notes",
            only({"counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/notes",
            only({"counsellor": 302, "officer": 404}, 403),
            form=lambda s, r: {"text": f"Session note by {r}."},
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/notes",
            only({"counsellor": 404, "officer": 404}, 403),
        ),
    ],
    # Referrals: counsellors (and examiners, to make one at her plan) of her site; a
    # service of another site's directory is refused with the reason; police as if
    # nothing existed. The directory: administrators only.
    "referrals.plan_referrals": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/referrals",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/referrals",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/referrals",
            only({"examiner": 422, "counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {"service": s.other_service},
        ),
    ],
    "referrals.referral_status": [
        # Sent cannot be attended yet: refused and sent back with the reason.
        Call(
            "POST",
            lambda s: f"/followup/referrals/{s.own_referral}/status",
            only({"counsellor": 303, "officer": 404}, 403),
            form=lambda s, r: {"status": "attended"},
        ),
        Call(
            "POST",
            lambda s: "/followup/referrals/guessed-id/status",
            only({"counsellor": 404, "officer": 404}, 403),
            form=lambda s, r: {"status": "accepted"},
        ),
    ],
    # Safety: counsellors of her site assess and read, examiners of her site read (a
    # POST is refused them); the take-home prints: counsellors and examiners of her
    # site; police as if nothing existed; other roles refused the kind.
    "safety.assessment": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/safety",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/safety",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
        # Nothing answered: refused with the reasons, nothing written.
        Call(
            "POST",
            lambda s: f"/followup/plans/{s.own_plan}/safety",
            only({"counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {},
        ),
    ],
    "safety.appointment_card": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/appointment-card",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/appointment-card",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "safety.aftercare": [
        Call(
            "GET",
            lambda s: f"/followup/plans/{s.own_plan}/aftercare",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/plans/guessed-id/aftercare",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "referrals.letter": [
        Call(
            "GET",
            lambda s: f"/followup/referrals/{s.own_referral}/letter",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: "/followup/referrals/guessed-id/letter",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "referrals.partner_services": [
        Call("GET", lambda s: "/admin/partner-services", only({"admin": 200, "officer": 404}, 403)),
        Call(
            "POST",
            lambda s: "/admin/partner-services",
            only({"admin": 422, "officer": 404}, 403),
            form=lambda s, r: {"site": s.organization, "kind": "refuge", "name": ""},
        ),
    ],
    "referrals.partner_service_active": [
        Call(
            "POST",
            lambda s: "/admin/partner-services/guessed-id/active",
            only({"admin": 404, "officer": 404}, 403),
            form=lambda s, r: {},
        ),
    ],
    "followup.caseload": [
        Call(
            "GET",
            lambda s: "/followup/caseload",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
    ],
    "cases.cases": [
        Call(
            "GET",
            lambda s: "/cases/",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
    ],
    "cases.register": [
        Call("GET", lambda s: "/cases/new", only({"examiner": 200, "officer": 404}, 403)),
        Call(
            "POST",
            lambda s: "/cases/new",
            only({"examiner": 302, "officer": 404}, 403),
            form=lambda s, r: {
                "identity": "anonymous",
                "reporting_mode": "anonymous",
                "age_years": "25",
            },
        ),
    ],
    "cases.case": [
        Call(
            "GET",
            lambda s: f"/cases/{s.own_case}",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/cases/{s.other_case}",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "cases.card": [
        Call(
            "GET",
            lambda s: f"/cases/{s.own_case}/card",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call(
            "GET",
            lambda s: f"/cases/{s.other_case}/card",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
        ),
    ],
    "cases.reporting_mode": [
        Call(
            "POST",
            lambda s: f"/cases/{s.other_case}/reporting-mode",
            only({"examiner": 404, "officer": 404}, 403),
            form=lambda s, r: {"mode": "unreported", "reason": "in person, at follow-up"},
        ),
        Call(
            "POST",
            lambda s: f"/cases/{s.own_case}/reporting-mode",
            only({"examiner": 302, "officer": 404}, 403),
            form=lambda s, r: {"mode": "unreported", "reason": "in person, at follow-up"},
        ),
    ],
    # The language she reads: as the reporting mode, examiners of her site only.
    "cases.survivor_language": [
        Call(
            "POST",
            lambda s: f"/cases/{s.other_case}/language",
            only({"examiner": 404, "officer": 404}, 403),
            form=lambda s, r: {"language": "es"},
        ),
        Call(
            "POST",
            lambda s: f"/cases/{s.own_case}/language",
            only({"examiner": 302, "officer": 404}, 403),
            form=lambda s, r: {"language": "es"},
        ),
    ],
    "admin.retention": [
        Call(
            "GET",
            lambda s: f"/admin/organizations/{s.organization}/retention",
            only({"admin": 200, "officer": 404}, 403),
        ),
    ],
    "audit.events": [Call("GET", lambda s: "/audit/", only({"auditor": 200, "officer": 404}, 403))],
    "audit.verify": [
        Call("GET", lambda s: "/audit/verify", only({"auditor": 200, "officer": 404}, 403))
    ],
    # Release requests: each force its own; the clinic's care team sees all, and
    # the matched case only where it is theirs.
    "release.requests": [Call("GET", lambda s: "/releases/", only({"officer": 200}, 403))],
    "release.file": [
        Call(
            "POST",
            lambda s: "/releases/",
            only({"officer": 302}, 403),
            form=lambda s, r: {
                "cited_reference": "SA-0000-0000",
                "crime_reference": "RP/1",
                "requested": "report",
            },
        )
    ],
    "release.request": [
        Call("GET", lambda s: f"/releases/{s.river_request}", only({"officer": 200}, 403)),
        Call("GET", lambda s: "/releases/no-such-request", only({"officer": 404}, 403)),
    ],
    "fhir.release": [
        # Not approved: the force's own request says why (409); others as unknown.
        Call(
            "GET",
            lambda s: f"/fhir/Task/{s.river_request}/$release",
            only({"officer": 409}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: "/fhir/Task/no-such-request/$release",
            only({"officer": 404}, 403),
            api=True,
        ),
    ],
    "release.bundle": [
        Call(
            "GET", lambda s: f"/releases/{s.river_request}/bundle.json", only({"officer": 409}, 403)
        ),
        Call("GET", lambda s: "/releases/no-such/bundle.json", only({"officer": 404}, 403)),
    ],
    "release.report": [
        Call("GET", lambda s: f"/releases/{s.river_request}/report", only({"officer": 409}, 403)),
        Call("GET", lambda s: "/releases/no-such/report", only({"officer": 404}, 403)),
    ],
    "release.exam_report": [
        Call(
            "GET",
            lambda s: f"/releases/{s.river_request}/exam-report",
            only({"officer": 409}, 403),
        ),
        Call("GET", lambda s: "/releases/no-such/exam-report", only({"officer": 404}, 403)),
    ],
    "release.incoming": [Call("GET", lambda s: "/releases/incoming", CARE_TEAM)],
    "release.incoming_request": [
        Call("GET", lambda s: f"/releases/incoming/{s.river_request}", CARE_TEAM),
        Call("GET", lambda s: "/releases/incoming/no-such-request", CARE_TEAM_HIDDEN),
    ],
    "release.approve": [
        # Her consent permits nothing yet: refused, with the reason, for her care team.
        Call(
            "POST",
            lambda s: f"/releases/incoming/{s.river_request}/approve",
            only({"examiner": 422, "counsellor": 422, "officer": 404}, 403),
        ),
    ],
    "consent.dashboard": [
        Call("GET", lambda s: f"/cases/{s.own_case}/consent", CARE_TEAM),
        Call("GET", lambda s: f"/cases/{s.other_case}/consent", CARE_TEAM_HIDDEN),
    ],
    "consent.record": [
        Call("GET", lambda s: f"/cases/{s.own_case}/consent/statistics/record?lang=fr", CARE_TEAM),
        Call("GET", lambda s: f"/cases/{s.own_case}/consent/no-such-form/record", CARE_TEAM_HIDDEN),
    ],
    "consent.record_post": [
        # Unsigned: refused by the service for her care team, as 422.
        Call(
            "POST",
            lambda s: f"/cases/{s.own_case}/consent/statistics/record",
            only({"examiner": 422, "counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {"language": "en", "item_anonymous-statistics": "agree"},
        ),
        Call(
            "POST",
            lambda s: f"/cases/{s.other_case}/consent/statistics/record",
            CARE_TEAM_HIDDEN,
            form=lambda s, r: {"language": "en", "item_anonymous-statistics": "agree"},
        ),
    ],
    "consent.shared": [
        Call(
            "GET",
            lambda s: f"/cases/{s.own_case}/consent/shared",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
        ),
        Call("GET", lambda s: f"/cases/{s.other_case}/consent/shared", CARE_TEAM_HIDDEN),
    ],
    "consent.show": [
        Call("GET", lambda s: f"/cases/{s.own_case}/consent/c/{s.own_consent}", CARE_TEAM),
        Call(
            "GET", lambda s: f"/cases/{s.other_case}/consent/c/{s.other_consent}", CARE_TEAM_HIDDEN
        ),
        Call("GET", lambda s: f"/cases/{s.own_case}/consent/c/{s.other_consent}", CARE_TEAM_HIDDEN),
    ],
    "consent.signature": [
        Call(
            "GET",
            lambda s: f"/cases/{s.own_case}/consent/c/{s.own_consent}/signature.png",
            CARE_TEAM,
        ),
        Call(
            "GET",
            lambda s: f"/cases/{s.other_case}/consent/c/{s.other_consent}/signature.png",
            CARE_TEAM_HIDDEN,
        ),
    ],
    "consent.withdraw": [
        Call(
            "GET",
            lambda s: f"/cases/{s.own_case}/consent/c/{s.own_consent}/withdraw?item=gp",
            CARE_TEAM,
        ),
        Call(
            "GET",
            lambda s: f"/cases/{s.other_case}/consent/c/{s.other_consent}/withdraw",
            CARE_TEAM_HIDDEN,
        ),
    ],
    "consent.withdraw_post": [
        # Not confirmed: nothing changes, and the form says why.
        Call(
            "POST",
            lambda s: f"/cases/{s.own_case}/consent/c/{s.own_consent}/withdraw",
            only({"examiner": 422, "counsellor": 422, "officer": 404}, 403),
            form=lambda s, r: {"item": "gp", "method": "in-person", "by": "the survivor"},
        ),
        Call(
            "POST",
            lambda s: f"/cases/{s.other_case}/consent/c/{s.other_consent}/withdraw",
            CARE_TEAM_HIDDEN,
            form=lambda s, r: {"method": "in-person", "by": "the survivor", "confirm": "y"},
        ),
    ],
    # -- FHIR API -----------------------------------------------------------------
    "fhir.metadata": [Call("GET", lambda s: "/fhir/metadata", everyone(200), api=True)],
    "fhir.package": [Call("GET", lambda s: "/fhir/package.tgz", everyone(200), api=True)],
    "fhir.read": [
        # A published definition: every role (the decision point's DEFINITION_KINDS).
        Call("GET", lambda s: "/fhir/StructureDefinition/fc-patient", everyone(200), api=True),
        Call(
            "GET",
            lambda s: f"{P}/{s.own_patient}",
            only({"examiner": 200, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.shared_patient}",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Consent/{s.own_consent}",
            CARE_TEAM,
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Consent/{s.other_consent}",
            CARE_TEAM_HIDDEN,
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.other_patient}",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Observation/{s.own_observation}",
            only({"examiner": 200, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Organization/{s.organization}",
            only({"admin": 200, "officer": 404, "expert": 403}, 200),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/AuditEvent/{s.audit_event}",
            only({"auditor": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Specimen/{s.own_specimen}",
            only({"examiner": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Specimen/{s.other_specimen}",
            only({"examiner": 404, "officer": 404}, 403),
            api=True,
        ),
    ],
    "fhir.custody": [
        Call(
            "GET",
            lambda s: f"/fhir/Specimen/{s.own_specimen}/$custody",
            only({"examiner": 200, "custodian": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"/fhir/Specimen/{s.other_specimen}/$custody",
            only({"examiner": 404, "custodian": 404, "officer": 404}, 403),
            api=True,
        ),
    ],
    # Hashes and sizes of a whole log, no record: the custody log's for those who
    # handle or receive custody proofs, the audit log's for auditors.
    "fhir.log_consistency": [
        Call(
            "GET",
            lambda s: "/fhir/$log-consistency?log=custody&old=1&new=1",
            only({"examiner": 200, "custodian": 200, "officer": 200, "auditor": 200}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: "/fhir/$log-consistency?log=audit&old=1&new=2",
            only({"auditor": 200, "officer": 404}, 403),  # police refusals look like absence
            api=True,
        ),
    ],
    "fhir.vread": [
        Call(
            "GET",
            lambda s: f"{P}/{s.own_patient}/_history/1",
            only({"examiner": 200, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.shared_patient}/_history/1",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.other_patient}/_history/1",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
    ],
    "fhir.history_instance": [
        Call(
            "GET",
            lambda s: f"{P}/{s.own_patient}/_history",
            only({"examiner": 200, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.shared_patient}/_history",
            only({"examiner": 200, "counsellor": 200, "officer": 404}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: f"{P}/{s.other_patient}/_history",
            only({"examiner": 404, "counsellor": 404, "officer": 404}, 403),
            api=True,
        ),
    ],
    "fhir.history_type": [
        Call(
            "GET",
            lambda s: f"{P}/_history",
            only({"examiner": 200, "counsellor": 200, "officer": 200}, 403),
            api=True,
        ),
    ],
    "fhir.search": [
        Call(
            "GET",
            lambda s: P,
            only({"examiner": 200, "counsellor": 200, "officer": 200}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: "/fhir/Observation",
            only({"examiner": 200, "counsellor": 200, "officer": 200}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: "/fhir/Consent",
            only({"examiner": 200, "counsellor": 200, "officer": 200}, 403),
            api=True,
        ),
        Call(
            "GET",
            lambda s: "/fhir/AuditEvent",
            only({"auditor": 200, "officer": 200}, 403),
            api=True,
        ),
        # A label lookup: custodians too (their own site's items, without clinical detail).
        Call(
            "GET",
            lambda s: "/fhir/Specimen?identifier=NORTH-KNOSUCHLABEL",
            only({"examiner": 200, "custodian": 200, "officer": 200}, 403),
            api=True,
        ),
        Call("GET", lambda s: "/fhir/CodeSystem?name=Consent", everyone(200), api=True),
    ],
    "fhir.search_post": [
        Call(
            "POST",
            lambda s: f"{P}/_search",
            only({"examiner": 200, "counsellor": 200, "officer": 200}, 403),
            api=True,
            form=lambda s, r: {"_count": "5"},
        ),
    ],
    "fhir.create": [
        Call(
            "POST",
            lambda s: P,
            only({"examiner": 201}, 403),
            api=True,
            body=lambda s: patient("SA-MATRIX-0001"),
        ),
    ],
    "fhir.update": [
        Call(
            "PUT",
            lambda s: f"{P}/{s.own_patient}",
            only({"examiner": 200, "officer": 404}, 403),
            api=True,
            body=lambda s: patient("SA-OWN-0001", id=s.own_patient),
        ),
        Call(
            "PUT",
            lambda s: f"{P}/{s.other_patient}",
            only({"examiner": 404, "officer": 404}, 403),
            api=True,
            body=lambda s: patient("SA-OTHER-0001", id=s.other_patient),
        ),
    ],
    "fhir.transaction": [
        Call(
            "POST",
            lambda s: "/fhir",
            only({"examiner": 200}, 403),
            api=True,
            body=lambda s: {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": patient("SA-MATRIX-TX"),
                        "request": {"method": "POST", "url": "Patient"},
                    }
                ],
            },
        ),
    ],
}


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    routes = {endpoint for endpoint in app.view_functions if endpoint != "static"}
    assert routes == set(MATRIX), (
        f"add these to MATRIX: {sorted(routes - set(MATRIX))}; stale: {sorted(set(MATRIX) - routes)}"
    )


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_route_answers_each_role_as_the_matrix_says(
    app: Flask, world: World, setup: Setup, endpoint: str
) -> None:
    failures = []
    asked: list[tuple[str, str]] = []
    listener = lambda actor, action, kind, resource, decision: asked.append((action, kind))  # noqa: E731
    DECISION_LISTENERS.append(listener)
    try:
        _walk(app, world, setup, endpoint, failures, asked)
    finally:
        DECISION_LISTENERS.remove(listener)
    assert not failures, "\n".join(failures)


# Routes that answer without asking the decision point about any record: public
# pages and the signed-in user's own session and password.
ASKS_NOTHING = {
    "accounts.login",
    "accounts.second_factor",
    "accounts.enrol",
    "accounts.passkey_sign_in",
    "accounts.passkey_enrol",
    "accounts.passkeys_page",  # her own passkeys, as her own password page
    "accounts.logout",
    "accounts.password",
    "accounts.sign_out_everywhere",
    "accounts.confirm_password_view",
    "accounts.session_status",
    "accounts.extend_session",
    "home.health",
    "home.log_keys",
    "i18n.choose_language",
    "fhir.metadata",
    "fhir.package",
}


def _walk(
    app: Flask,
    world: World,
    setup: Setup,
    endpoint: str,
    failures: list[str],
    asked: list[tuple[str, str]],
) -> None:
    """Call every route of the endpoint as every role. Besides the status the
    matrix expects, every answer that is not a refusal must have asked the
    decision point: no read or export path skips it."""
    for role in ROLES:
        for call in MATRIX[endpoint]:
            asked.clear()
            client = app.test_client()
            path = call.path(setup).replace(
                "{own}", setup.token_ids[role if role != "officer" else "officer"]
            )
            if call.api:
                if call.form is not None:
                    response = client.post(
                        path,
                        data=call.form(setup, role),
                        headers={
                            "Authorization": f"Bearer {world[role].token}",
                            "Accept": "application/fhir+json",
                        },
                    )
                else:
                    response = api(
                        client,
                        call.method,
                        path,
                        world[role].token,
                        call.body(setup) if call.body else None,
                    )
            else:
                client.set_cookie(SESSION_COOKIE, setup.sessions[role])
                if call.method == "GET":
                    asked.clear()
                    response = client.get(path)
                else:
                    data = dict(call.form(setup, role) if call.form else {})
                    data["csrf_token"] = csrf_token(client, "/account/password")
                    asked.clear()
                    response = client.open(path, method=call.method, data=data)
            if response.status_code != call.expect[role]:
                failures.append(
                    f"{role} {call.method} {path}: {response.status_code} != {call.expect[role]}"
                )
            if response.status_code < 400 and endpoint not in ASKS_NOTHING and not asked:
                failures.append(f"{role} {call.method} {path}: answered without a decision")


def test_anonymous_browser_requests_are_sent_to_login(client: FlaskClient) -> None:
    for endpoint, calls in MATRIX.items():
        for call in calls:
            if call.api or endpoint in {
                "accounts.login",
                "accounts.session_status",
                "home.health",
                "home.log_keys",
                "i18n.choose_language",
            }:
                continue
            placeholder = Setup(
                "p",
                "q",
                "o",
                "org",
                "1",
                defaultdict(lambda: "t"),
                "u",
                "s",
                "s2",
                "k",
                "k2",
                "c",
                "c2",
                "1",
                "2",
                "e",
                "e2",
                own_consent="cs",
                other_consent="cs2",
                shared_patient="sp",
                river_request="rr",
                own_photo="p",
                own_intimate="pi",
                other_photo="p2",
                own_signed_exam="se",
                own_plan="fp",
                own_appointment="ap",
                own_service="sv",
                other_service="sv2",
                own_referral="rf",
            )
            response = client.open(call.path(placeholder).replace("{own}", "t"), method=call.method)
            if call.method == "GET":
                assert response.status_code == 302, endpoint
                assert "/login" in response.headers["Location"], endpoint
            else:
                # Without a session there is no CSRF token either: refused before anything runs.
                assert response.status_code in (302, 400), endpoint
