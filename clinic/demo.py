"""Demo data for trying the clinic out: two sites, a police force, a laboratory,
one user per role and a few survivors. Idempotent.

Passwords are random, generated on first load and kept (mode 0600) in
instance/demo-logins.txt so that later runs can print them again. Each demo
account has its second factor set up already: the key of its authenticator app is
kept beside its password (demo accounts only; `clinic demo-code USERNAME` prints
the current code).
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import Flask

from clinic.access.roles import OrganizationKind, Role
from clinic.accounts.factors import enrol_known_secret, has_factor
from clinic.accounts.models import Organization, User
from clinic.accounts.services import _hasher, actor_for, create_organization, create_user
from clinic.cases.models import ReportingMode
from clinic.cases.services import SafeContact
from clinic.core.unit_of_work import UnitOfWork

ORGANIZATIONS = (
    (OrganizationKind.SITE, "NORTH", "North Sexual Assault Referral Centre"),
    (OrganizationKind.SITE, "SOUTH", "South Hospital SANE Programme"),
    (OrganizationKind.POLICE, "RIVERPOL", "Riverside Police Service"),
    (OrganizationKind.LAB, "FORLAB", "Central Forensic Laboratory"),
)

USERS = (
    ("examiner", "Nadia Examiner", Role.EXAMINER, "NORTH"),
    ("counsellor", "Carmen Counsellor", Role.COUNSELLOR, "NORTH"),
    ("custodian", "Kofi Custodian", Role.CUSTODIAN, "NORTH"),
    ("police", "Pat Officer", Role.POLICE, "RIVERPOL"),
    ("admin", "Ada Administrator", Role.ADMIN, "NORTH"),
    ("auditor", "Aud Auditor", Role.AUDITOR, "NORTH"),
    ("examiner.south", "Sam South", Role.EXAMINER, "SOUTH"),
)

# Each site's directory of partner services (kept by site administrators afterwards):
# (site, kind, name, organisation, phone, email, languages, accepts, has an account).
PARTNER_SERVICES = (
    (
        "NORTH",
        "refuge",
        "Harbour House refuge",
        "Harbour Women's Aid",
        "+44 20 7946 0101",
        "referrals@harbour.example",
        "en fr",
        "Women and their children; 24 hours",
        False,
    ),
    (
        "NORTH",
        "independent-advocate",
        "North ISVA service",
        "Northside Rape Crisis",
        "+44 20 7946 0102",
        "isva@northside.example",
        "en es",
        "Anyone aged 13 and over",
        False,
    ),
    (
        "NORTH",
        "legal-aid",
        "Family law clinic",
        "Riverside Law Centre",
        "+44 20 7946 0103",
        None,
        "en",
        "Protective orders, family law",
        False,
    ),
    (
        "NORTH",
        "housing",
        "Emergency housing team",
        "Riverside Council",
        "+44 20 7946 0104",
        None,
        "en",
        "Residents of the borough",
        False,
    ),
    (
        "NORTH",
        "mental-health",
        "Trauma therapy service",
        "North Mental Health Trust",
        "+44 20 7946 0105",
        None,
        "en fr es",
        "Adults, self-referral or by the clinic",
        False,
    ),
    (
        "NORTH",
        "sexual-health",
        "Sexual health clinic",
        "North Hospital",
        "+44 20 7946 0106",
        None,
        "en",
        "Anyone",
        False,
    ),
    (
        "NORTH",
        "childrens-services",
        "Children's social care",
        "Riverside Council",
        "+44 20 7946 0107",
        None,
        "en",
        "Children and young people under 18",
        False,
    ),
    (
        "NORTH",
        "substance-use",
        "Recovery service",
        "Northside Recovery",
        "+44 20 7946 0108",
        None,
        "en",
        "Adults",
        False,
    ),
    (
        "NORTH",
        "immigration-advice",
        "Immigration advice desk",
        "Migrant Help North",
        "+44 20 7946 0109",
        None,
        "en fr es",
        "Anyone, whatever her status",
        False,
    ),
    (
        "SOUTH",
        "refuge",
        "Southgate refuge",
        "Southgate Women's Aid",
        "+44 20 7946 0201",
        None,
        "en es",
        "Women and their children",
        False,
    ),
)

LOGINS_FILE = "demo-logins.txt"


def load_demo(uow: UnitOfWork, app: Flask) -> list[tuple[str, str, str, str, str]]:
    registry = app.extensions["clinic.profiles"]
    organizations: dict[str, Organization] = {}
    for kind, code, name in ORGANIZATIONS:
        existing = uow.session.scalar(sa.select(Organization).where(Organization.code == code))
        organizations[code] = existing or create_organization(
            uow, registry, actor=None, kind=kind, name=name, code=code
        )
    known = _read_logins(Path(app.instance_path))
    known_keys = read_demo_keys(Path(app.instance_path))
    logins = []
    for username, display_name, role, code in USERS:
        user = uow.session.scalar(sa.select(User).where(User.username == username))
        password = known.get(username)
        if user is None:
            password = password or _new_password()
            user = create_user(
                uow,
                actor=None,
                username=username,
                display_name=display_name,
                role=role,
                organization_id=organizations[code].id,
                password=password,
            )
        elif password is None:
            # The logins file was lost: give the demo account a new password.
            password = _new_password()
            user.password_hash = _hasher.hash(password)
        secret = known_keys.get(username)
        if secret is None or not has_factor(uow, user):
            secret = secret or pyotp.random_base32()
            enrol_known_secret(uow, user, secret=secret, secret_key=app.config["SECRET_KEY"])
        logins.append((username, role.value, code, password, secret))
    _write_logins(Path(app.instance_path), logins)
    _load_keys(uow, app)
    _load_survivors(uow, app)
    _load_partner_services(uow, organizations)
    return logins


def _load_partner_services(uow: UnitOfWork, organizations: dict[str, Organization]) -> None:
    """Each site's demo directory, once: an entry of the same site and name is kept."""
    import uuid

    from clinic.followup.referral_models import PartnerService

    for (
        code,
        kind,
        name,
        organisation,
        phone,
        email,
        languages,
        accepts,
        account,
    ) in PARTNER_SERVICES:
        site_id = organizations[code].id
        exists = uow.session.scalar(
            sa.select(PartnerService.id).where(
                PartnerService.site_id == site_id, PartnerService.name == name
            )
        )
        if exists is None:
            uow.session.add(
                PartnerService(
                    id=str(uuid.uuid4()),
                    site_id=site_id,
                    kind=kind,
                    name=name,
                    organisation=organisation,
                    phone=phone,
                    email=email,
                    languages=languages,
                    accepts=accepts,
                    has_account=account,
                    active=True,
                )
            )
    uow.session.flush()


# (examiner, registration fields, kit collected?): one case of each kind a clinic sees.
SURVIVORS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    (
        "examiner",
        {"is_anonymous": True, "reporting_mode": ReportingMode.ANONYMOUS, "age_years": 24},
        True,
    ),
    (
        "examiner",
        {
            "is_anonymous": False,
            "reporting_mode": ReportingMode.UNREPORTED,
            "name": "Demo Survivor One",
            "birth_date": date(1991, 4, 12),
            "phone": "+44 7700 900001",
            "safe_contact": SafeContact(
                True, False, False, "bluebell", "Weekdays 10:00-14:00 only"
            ),
        },
        False,
    ),
    (
        "examiner.south",
        {"is_anonymous": True, "reporting_mode": ReportingMode.ANONYMOUS, "age_years": 31},
        False,
    ),
)

STORAGE_LOCATIONS = (
    ("NORTH", "Evidence store, shelf A1", "ambient"),
    ("NORTH", "Evidence fridge 1", "fridge"),
    ("NORTH", "Evidence freezer 1", "freezer"),
    ("SOUTH", "South evidence store", "ambient"),
)


def _load_keys(uow: UnitOfWork, app: Flask) -> None:
    """Signing keys for the audit and custody logs and for release bundles, once:
    an existing key is kept (`clinic keys generate` rotates it on purpose). Keys
    made before the trusted keys file existed are trusted from the instance
    folder's private keys (never from the database)."""
    from clinic.ledger.services import (
        app_log_files,
        generate_key,
        instance_signers,
        key_path,
        log_origin,
    )

    for log_name in ("audit", "custody", "release"):
        name = log_origin(app.config, log_name)
        if not key_path(Path(app.instance_path), name).exists():
            generate_key(uow.session, Path(app.instance_path), name)
    files = app_log_files()
    for signer in instance_signers(Path(app.instance_path)):
        files.trust(signer.verifier)


def _load_survivors(uow: UnitOfWork, app: Flask) -> None:
    """Demo cases, once: on a second run the cases already exist."""
    from clinic.cases.models import Case
    from clinic.cases.services import Registration, register_survivor
    from clinic.evidence.models import EvidenceKind, StorageLocation
    from clinic.evidence.services import ItemSpec, collect_kit

    registry = app.extensions["clinic.profiles"]
    for code, name, condition in STORAGE_LOCATIONS:
        site = uow.session.scalar(sa.select(Organization).where(Organization.code == code))
        assert site is not None
        exists = uow.session.scalar(
            sa.select(StorageLocation).where(
                StorageLocation.site_id == site.id, StorageLocation.name == name
            )
        )
        if exists is None:
            uow.session.add(
                StorageLocation(site_id=site.id, name=name, condition=condition, is_active=True)
            )
    if uow.session.scalar(sa.select(sa.func.count()).select_from(Case)):
        return
    for examiner_name, fields, with_kit in SURVIVORS:
        examiner = uow.session.scalar(sa.select(User).where(User.username == examiner_name))
        assert examiner is not None
        actor = actor_for(examiner)
        case = register_survivor(
            uow, registry, actor=actor, registration=Registration(**fields), channel="cli"
        )
        if with_kit:  # her consents first, as the nurse records them before the exam
            _demo_consents(uow, app, actor, case.id)
        _demo_exam(uow, registry, actor, case.id, sign=with_kit)
        if with_kit:
            _demo_request(uow, case.reference)
            collect_kit(
                uow,
                registry,
                actor=actor,
                case_id=case.id,
                kit_name="Sexual assault evidence kit",
                items=[
                    ItemSpec(EvidenceKind.SWAB, "Swab, high vaginal", "swab tube", "vagina"),
                    ItemSpec(EvidenceKind.BLOOD, "Blood for toxicology", "grey-top tube"),
                    ItemSpec(EvidenceKind.CLOTHING, "Underwear", "paper bag"),
                    ItemSpec(
                        EvidenceKind.HAIR,
                        "Head hair combings",
                        is_declined=True,
                        declined_reason="declined by the survivor",
                    ),
                ],
            )


def _demo_request(uow: UnitOfWork, reference: str) -> None:
    """Riverside Police asks for the first case's report and swabs; it awaits her
    decision (her release consent is not recorded in the demo)."""
    from clinic.release.services import file_request

    officer = uow.session.scalar(sa.select(User).where(User.username == "police"))
    assert officer is not None
    file_request(
        uow,
        actor=actor_for(officer),
        cited_reference=reference,
        crime_reference="RP/2026/000123",
        requested=["report", "swabs"],
        channel="cli",
    )


def _demo_consents(uow: UnitOfWork, app: Flask, actor: Any, case_id: str) -> None:
    """Her consents at the exam: care and evidence with one part declined, sharing
    with counselling (her own account kept back), and the anonymous statistics."""
    import io

    from PIL import Image, ImageDraw

    from clinic.consent.resources import Answers, GivenBy
    from clinic.consent.services import record_consent

    image = Image.new("L", (300, 90), 255)
    ImageDraw.Draw(image).line(
        [(15, 60), (70, 20), (130, 65), (190, 18), (280, 55)], fill=0, width=3
    )
    signature = io.BytesIO()
    image.save(signature, "PNG")
    decisions = {
        "exam-treatment/v1": {
            "general-exam": True,
            "anogenital-exam": True,
            "speculum-exam": False,
            "treatment": True,
        },
        "evidence-collection/v1": {
            "swabs": True,
            "blood": True,
            "urine": False,
            "clothing": True,
            "hair-nails-debris": False,
            "storage": True,
        },
        "information-sharing/v1": {
            "counselling-contact": True,
            "counselling-report": True,
            "counselling-report-account": False,
            "gp": False,
            "advocate": True,
            "social-services": False,
        },
        "statistics/v1": {"anonymous-statistics": True},
    }
    for form_key, agreed in decisions.items():
        record_consent(
            uow,
            app.extensions["clinic.profiles"],
            app.extensions["clinic.consent_forms"],
            actor=actor,
            case_id=case_id,
            form_key=form_key,
            answers=Answers(
                agreed=agreed,
                person_names={},
                language="en",
                given_by=GivenBy(),
                interpreter=None,
                witness="Second nurse on duty",
                free_choice=True,
                signature_png=signature.getvalue(),
            ),
            channel="cli",
        )


def _demo_exam(uow: UnitOfWork, registry: Any, actor: Any, case_id: str, *, sign: bool) -> None:
    """An exam for a demo case: signed off (with its report), or in progress after
    the timing and history steps, to resume."""
    from datetime import timedelta
    from decimal import Decimal

    from clinic.bodymap.marks import MarkRequest
    from clinic.core.clock import utcnow
    from clinic.exam import services
    from clinic.exam.resources import ACTIVITIES, ACTS, Answer, Injury, Treatment
    from clinic.exam.timing import WINDOWS, AssaultTiming, TimingKind

    exam = services.start_exam(uow, registry, actor=actor, case_id=case_id, channel="cli")
    now = utcnow()
    common = {"uow": uow, "registry": registry, "actor": actor, "exam_id": exam.id}
    services.record_timing(
        **common,
        timing=AssaultTiming(
            TimingKind.RANGE, earliest=now - timedelta(hours=40), latest=now - timedelta(hours=36)
        ),
        exam_time=now,
        channel="cli",
    )
    services.record_history(
        **common,
        history=services.History(
            narrative="I was at a party. I woke up in a room I didn't know and he was on top of me.",
            demeanour="Quiet and composed; became tearful when describing waking up.",
            acts={code: Answer.UNKNOWN for code in ACTS}
            | {"vaginal-penetration": Answer.YES, "drugs-alcohol-suspected": Answer.YES},
            means={"vaginal-penetration": frozenset({"unknown"})},
            activities={code: Answer.NO for code in ACTIVITIES} | {"urinated": Answer.YES},
        ),
        channel="cli",
    )
    if not sign:
        return
    services.record_general(
        **common,
        general=services.GeneralExam(
            "Alert and oriented.",
            services.Vitals(heart_rate=Decimal(92), systolic=Decimal(124), diastolic=Decimal(78)),
        ),
        channel="cli",
    )
    services.add_injury(
        **common,
        injury=Injury(
            "bruise",
            "upper-arm",
            "right upper arm, inner side",
            Decimal(40),
            Decimal(15),
            "oval, finger-tip pattern",
            "blue-purple",
            "Three bruises in a row.",
        ),
        mark=MarkRequest("adult-female", "front"),  # in the middle of the upper arm
        channel="cli",
    )
    services.record_anogenital(**common, findings="No injuries seen.", channel="cli")
    for window in WINDOWS:
        services.decide_window(**common, window_code=window.code, overridden=False, channel="cli")
    services.add_treatment(
        **common,
        treatment=Treatment(
            "emergency-contraception",
            "Levonorgestrel 1.5 mg",
            "One tablet by mouth",
            True,
            None,
            now,
        ),
        channel="cli",
    )
    services.sign_off(uow, registry, actor=actor, exam_id=exam.id, channel="cli")


def _new_password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


def _read_logins(instance: Path) -> dict[str, str]:
    return {username: fields[2] for username, fields in _logins_file(instance).items()}


def read_demo_keys(instance: Path) -> dict[str, str]:
    """The authenticator-app keys of the demo accounts, from the logins file."""
    return {
        username: fields[3]
        for username, fields in _logins_file(instance).items()
        if len(fields) > 3
    }


def _logins_file(instance: Path) -> dict[str, list[str]]:
    path = instance / LOGINS_FILE
    if not path.exists():
        return {}
    logins = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) in (4, 5) and not line.startswith("#"):
            logins[parts[0]] = parts[1:]
    return logins


def _write_logins(instance: Path, logins: list[tuple[str, str, str, str, str]]) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / LOGINS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# username role site password authenticator-key (demo accounts only)\n")
        for login in logins:
            handle.write(" ".join(login) + "\n")
