"""Registering survivors and keeping their cases.

Rules (docs/design.md section 5, the exam issue):

* A survivor is registered as identified (name, birth date, contact details,
  safe-contact instructions) or anonymous: then no identity is held anywhere —
  not in the Patient, not in the search indexes, not in the audit trail — and the
  case is known only by the case reference the system generates.
* A survivor under 18 at registration has a proxy (parent, guardian, legal
  representative) and the reason a proxy acts. An anonymous survivor's proxy is
  recorded by relationship only: a name would identify her.
* The reporting mode (reported, unreported, anonymous) changes only at the
  survivor's word, with who recorded it, when and why; each change is a new
  version of the case's EpisodeOfCare and a row in its append-only history, and
  it moves the disposal dates of the case's evidence (never earlier).
* A case that holds an identity cannot become anonymous: nothing is erased from a
  record (promise 5).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from clinic.access import Action, Actor, ResourceFacts, decide, require, search_scope
from clinic.accounts.models import Organization
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case, ProxyRelationship, ReportingMode, ReportingModeChange
from clinic.consent.book import consent_book
from clinic.consent.definitions import LANGUAGES
from clinic.core.clock import isoformat, utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.canonical import CODE_SYSTEM, NAMING_SYSTEM, STRUCTURE_DEFINITION
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n import N_
from clinic.i18n.sentences import Listing, Word, sentence
from clinic.i18n.values import VALUE_WORDS

CASE_REFERENCE_SYSTEM = f"{NAMING_SYSTEM}/case-reference"
RECORD_FLAG_SYSTEM = f"{CODE_SYSTEM}/record-flag"
ANONYMOUS_TAG = {"system": RECORD_FLAG_SYSTEM, "code": "anonymous", "display": "Anonymous"}
REPORTING_MODE_URL = f"{STRUCTURE_DEFINITION}/fc-reporting-mode"
AGE_URL = f"{STRUCTURE_DEFINITION}/fc-age-at-registration"
PROXY_URL = f"{STRUCTURE_DEFINITION}/fc-case-proxy"
SAFE_CONTACT_URL = f"{STRUCTURE_DEFINITION}/fc-safe-contact"
AGE_OF_MAJORITY = 18
OLDEST_AGE = 120
# The languages what is printed for her can be in: those of the consent forms.
SURVIVOR_LANGUAGES = LANGUAGES
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32

MODE_LABELS = {
    ReportingMode.REPORTED: N_("Reported (police involved)"),
    ReportingMode.UNREPORTED: N_("Unreported (evidence held, police not told)"),
    ReportingMode.ANONYMOUS: N_("Anonymous (no identity held)"),
}


# The reason a case's first reporting mode records (shown in the reader's language).
AT_REGISTRATION = N_("at registration")


class CaseRefused(DomainError):
    """A registration or change the rules do not allow; the message says why."""


class CaseNotFound(CaseRefused):
    """No such case, or one the caller may not see: the same answer for both."""


@dataclass(frozen=True)
class SafeContact:
    may_call: bool
    may_text: bool
    may_leave_message: bool
    code_word: str | None = None
    instructions: str | None = None


@dataclass(frozen=True)
class Proxy:
    relationship: ProxyRelationship
    reason: str
    name: str | None = None


@dataclass(frozen=True)
class Registration:
    """What the examiner records at registration."""

    is_anonymous: bool
    reporting_mode: ReportingMode
    name: str | None = None
    birth_date: date | None = None
    age_years: int | None = None  # anonymous survivors: as told or estimated
    gender: str | None = None  # administrative gender, optional
    phone: str | None = None
    email: str | None = None
    safe_contact: SafeContact | None = None
    proxy: Proxy | None = None
    # The language she reads, for what is printed for her (one of SURVIVOR_LANGUAGES).
    language: str | None = None


def case_facts(case: Case) -> ResourceFacts:
    return ResourceFacts(
        "EpisodeOfCare", case.id, site_id=case.site_id, subject=f"Patient/{case.patient_id}"
    )


def new_case_reference() -> str:
    """`SA-XXXX-XXXX`: 40 random bits, Crockford base32, easy to read aloud."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"SA-{chars[:4]}-{chars[4:]}"


# -- registration ------------------------------------------------------------------


def register_survivor(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    registration: Registration,
    channel: str = "web",
) -> Case:
    """Register a survivor and open her case: a Patient, an EpisodeOfCare and the
    case's operational record, in the caller's transaction."""
    require(actor, Action.CREATE, "Patient")
    require(actor, Action.CREATE, "EpisodeOfCare")
    today = utcnow().date()
    age = _check_registration(registration, today)
    is_minor = age is not None and age < AGE_OF_MAJORITY
    if is_minor and registration.proxy is None:
        raise CaseRefused(
            N_(
                "The survivor is under 18: record who acts for her (parent, guardian or legal "
                "representative) and why."
            ),
            "proxy_relationship",
        )
    _check_proxy(registration)
    _check_language(registration.language)
    session = uow.session
    reference = _unused_reference(session)
    store = ResourceStore(session, registry)
    patient = store.create(
        _patient_resource(registration, reference),
        site_id=actor.organization_id,
        author_id=actor.user_id,
    )
    now = utcnow()
    episode = store.create(
        _episode_resource(
            reference=reference,
            patient_id=patient.logical_id,
            site_id=actor.organization_id,
            mode=registration.reporting_mode,
            age=age,
            proxy=registration.proxy,
            started=now,
        ),
        site_id=actor.organization_id,
        author_id=actor.user_id,
    )
    case = Case(
        id=episode.logical_id,
        reference=reference,
        site_id=actor.organization_id,
        patient_id=patient.logical_id,
        reporting_mode=registration.reporting_mode.value,
        is_anonymous=registration.is_anonymous,
        age_at_registration=age,
        is_minor=is_minor,
        opened_at=now,
        opened_by=actor.username,
        language=registration.language,
    )
    session.add(case)
    session.flush()
    session.add(
        ReportingModeChange(
            case_id=case.id,
            from_mode=None,
            to_mode=case.reporting_mode,
            changed_at=now,
            changed_by=actor.username,
            reason=AT_REGISTRATION,
        )
    )
    for version in (patient, episode):
        decision = require(actor, Action.CREATE, version.resource_type, version.facts())
        uow.audit(
            AuditRecord(
                kind=EventKind.CREATE,
                channel=channel,
                actor=actor,
                entities=(version.versioned_reference,),
                reasons=decision.reasons,
            )
        )
    return case


# What identifies her on a registration, as a word within a sentence.
IDENTITY_WORDS = {
    "name": N_("name"),
    "birth_date": N_("birth date"),
    "phone": N_("phone"),
    "email": N_("email"),
    "safe_contact": N_("safe contact"),
}


def _check_registration(registration: Registration, today: date) -> int | None:
    """Check identity rules; return the age in whole years (None if not known)."""
    identity = {
        "name": registration.name,
        "birth_date": registration.birth_date,
        "phone": registration.phone,
        "email": registration.email,
        "safe_contact": registration.safe_contact,
    }
    if registration.is_anonymous:
        if registration.reporting_mode is not ReportingMode.ANONYMOUS:
            raise CaseRefused(
                N_("An anonymous survivor's case has the reporting mode “anonymous”."),
                "reporting_mode",
            )
        held = [name for name, value in identity.items() if value]
        if held:
            raise CaseRefused(
                sentence(
                    "An anonymous registration holds no identity: leave %(fields)s empty.",
                    fields=Listing(tuple(Word(IDENTITY_WORDS[name]) for name in held)),
                ),
                held[0],
            )
        if registration.age_years is None:
            raise CaseRefused(
                N_(
                    "Give the survivor's age in years, as told or estimated; it decides "
                    "whether a proxy is needed and how long evidence is kept."
                ),
                "age_years",
            )
        if not 0 <= registration.age_years <= OLDEST_AGE:
            raise CaseRefused(
                sentence("An age is between 0 and %(oldest)s years.", oldest=OLDEST_AGE),
                "age_years",
            )
        return registration.age_years
    if registration.reporting_mode is ReportingMode.ANONYMOUS:
        raise CaseRefused(
            N_(
                "Reporting mode “anonymous” means no identity is held: register the survivor "
                "as anonymous, or choose reported or unreported."
            ),
            "reporting_mode",
        )
    if not (registration.name or "").strip():
        raise CaseRefused(N_("Give the survivor's name, or register her as anonymous."), "name")
    if registration.age_years is not None:
        raise CaseRefused(
            N_("For an identified survivor give the birth date, not an age."), "age_years"
        )
    if registration.birth_date is None:
        raise CaseRefused(N_("Give the survivor's date of birth."), "birth_date")
    if registration.birth_date > today:
        raise CaseRefused(N_("The date of birth is in the future."), "birth_date")
    age = _whole_years(registration.birth_date, today)
    if age > OLDEST_AGE:
        raise CaseRefused(
            sentence("The date of birth makes her older than %(oldest)s.", oldest=OLDEST_AGE),
            "birth_date",
        )
    contact = registration.safe_contact
    if contact is not None and (contact.may_call or contact.may_text) and not registration.phone:
        raise CaseRefused(
            N_("She agreed to calls or texts: give the phone number that is safe to use."),
            "phone",
        )
    return age


def _check_proxy(registration: Registration) -> None:
    proxy = registration.proxy
    if proxy is None:
        return
    if not proxy.reason.strip():
        raise CaseRefused(N_("Say why a proxy acts for the survivor."), "proxy_reason")
    if registration.is_anonymous and proxy.name:
        raise CaseRefused(
            N_(
                "An anonymous survivor's proxy is recorded by relationship only: a name "
                "would identify her."
            ),
            "proxy_name",
        )
    if not registration.is_anonymous and not (proxy.name or "").strip():
        raise CaseRefused(N_("Give the proxy's name."), "proxy_name")


def _whole_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _unused_reference(session: sa.orm.Session) -> str:
    for _ in range(8):
        reference = new_case_reference()
        taken = session.scalar(sa.select(Case.id).where(Case.reference == reference))
        if taken is None:
            return reference
    raise RuntimeError("could not find an unused case reference")  # 2**40 references


def _patient_resource(registration: Registration, reference: str) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": CASE_REFERENCE_SYSTEM, "value": reference}],
    }
    if registration.gender:
        patient["gender"] = registration.gender
    if registration.is_anonymous:
        patient["meta"] = {"tag": [ANONYMOUS_TAG]}
        return patient
    patient["name"] = [{"use": "official", "text": (registration.name or "").strip()}]
    assert registration.birth_date is not None
    patient["birthDate"] = registration.birth_date.isoformat()
    telecom = []
    if registration.phone:
        telecom.append({"system": "phone", "value": registration.phone.strip()})
    if registration.email:
        telecom.append({"system": "email", "value": registration.email.strip()})
    if telecom:
        patient["telecom"] = telecom
    if registration.safe_contact is not None:
        patient["extension"] = [_safe_contact_extension(registration.safe_contact)]
    return patient


def _safe_contact_extension(contact: SafeContact) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "may-call", "valueBoolean": contact.may_call},
        {"url": "may-text", "valueBoolean": contact.may_text},
        {"url": "may-leave-message", "valueBoolean": contact.may_leave_message},
    ]
    if contact.code_word:
        parts.append({"url": "code-word", "valueString": contact.code_word.strip()})
    if contact.instructions:
        parts.append({"url": "instructions", "valueString": contact.instructions.strip()})
    return {"url": SAFE_CONTACT_URL, "extension": parts}


def _episode_resource(
    *,
    reference: str,
    patient_id: str,
    site_id: str,
    mode: ReportingMode,
    age: int | None,
    proxy: Proxy | None,
    started: Any,
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [_mode_extension(mode)]
    if age is not None:
        extensions.append(
            {
                "url": AGE_URL,
                "valueAge": {
                    "value": age,
                    "unit": "years",
                    "system": "http://unitsofmeasure.org",
                    "code": "a",
                },
            }
        )
    if proxy is not None:
        parts: list[dict[str, Any]] = [
            {
                "url": "relationship",
                "valueCoding": {
                    "system": f"{CODE_SYSTEM}/proxy-relationship",
                    "code": proxy.relationship.value,
                },
            },
            {"url": "reason", "valueString": proxy.reason.strip()},
        ]
        if proxy.name:
            parts.insert(1, {"url": "name", "valueString": proxy.name.strip()})
        extensions.append({"url": PROXY_URL, "extension": parts})
    return {
        "resourceType": "EpisodeOfCare",
        "extension": extensions,
        "identifier": [{"system": CASE_REFERENCE_SYSTEM, "value": reference}],
        "status": "active",
        "patient": {"reference": f"Patient/{patient_id}"},
        "managingOrganization": {"reference": f"Organization/{site_id}"},
        "period": {"start": isoformat(started)},
    }


def _mode_extension(mode: ReportingMode) -> dict[str, Any]:
    return {
        "url": REPORTING_MODE_URL,
        "valueCoding": {
            "system": f"{CODE_SYSTEM}/reporting-mode",
            "code": mode.value,
            "display": mode.value.capitalize(),
        },
    }


# -- reporting mode ---------------------------------------------------------------


def change_reporting_mode(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    mode: ReportingMode,
    reason: str,
    channel: str = "web",
) -> Case:
    """Record the survivor's decision to change her case's reporting mode."""
    from clinic.evidence.retention import apply_reporting_mode_change

    require(actor, Action.UPDATE, "EpisodeOfCare")
    case = _load_case(uow, actor, case_id, Action.UPDATE, lock=True)
    if not reason.strip():
        raise CaseRefused(
            N_(
                "Say how the survivor told us (in person, or by phone after checking her code "
                "word) and why."
            ),
            "reason",
        )
    current = ReportingMode(case.reporting_mode)
    if mode is current:
        raise CaseRefused(
            sentence(
                "The case is already %(mode)s.",
                mode=Word(VALUE_WORDS["reporting-mode"][mode.value], english_text=mode.value),
            ),
            "mode",
        )
    if mode is ReportingMode.ANONYMOUS and not case.is_anonymous:
        raise CaseRefused(
            N_(
                "This case holds the survivor's identity, and nothing is erased from a record: "
                "it cannot become anonymous. Choose reported or unreported."
            ),
            "mode",
        )
    if mode is ReportingMode.REPORTED and not _has_release_consent(uow, case):
        raise CaseRefused(
            N_(
                "Reporting to the police is her decision, recorded as consent: record her release "
                "to the police first (Her consent, then Release to the police)."
            ),
            "mode",
        )
    store = ResourceStore(uow.session, registry)
    episode = store.current("EpisodeOfCare", case.id)
    assert episode is not None
    content = dict(episode.content)
    content["extension"] = [
        _mode_extension(mode) if extension.get("url") == REPORTING_MODE_URL else extension
        for extension in content.get("extension", [])
    ]
    version = store.update(
        "EpisodeOfCare",
        case.id,
        content,
        author_id=actor.user_id,
        expected_version=episode.version_id,
    )
    now = utcnow()
    uow.session.add(
        ReportingModeChange(
            case_id=case.id,
            from_mode=current.value,
            to_mode=mode.value,
            changed_at=now,
            changed_by=actor.username,
            reason=reason.strip(),
        )
    )
    case.reporting_mode = mode.value
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel=channel,
            actor=actor,
            entities=(version.versioned_reference,),
            reasons=(f"reporting mode {current.value} -> {mode.value}",),
        )
    )
    apply_reporting_mode_change(uow, actor=actor, case=case)
    return case


# -- her language ------------------------------------------------------------------


def _check_language(language: str | None) -> None:
    if language is not None and language not in SURVIVOR_LANGUAGES:
        raise CaseRefused(N_("Choose one of the languages offered for her."), "language")


def set_survivor_language(
    uow: UnitOfWork, *, actor: Actor, case_id: str, language: str, channel: str = "web"
) -> Case:
    """Record the language she reads, at her word: what is printed for her from now on
    is in it, whoever prints it."""
    require(actor, Action.UPDATE, "EpisodeOfCare")
    case = _load_case(uow, actor, case_id, Action.UPDATE, lock=True)
    _check_language(language)
    previous = case.language
    case.language = language
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel=channel,
            actor=actor,
            entities=(f"EpisodeOfCare/{case.id}",),
            reasons=(f"her language {previous or 'not recorded'} -> {language}",),
        )
    )
    return case


# -- reading -----------------------------------------------------------------------


def _has_release_consent(uow: UnitOfWork, case: Case) -> bool:
    """Whether a release-to-police Consent of hers is in force (docs/design.md section 5:
    moving to reported is her decision recorded as Consent, never a staff shortcut)."""
    return any(
        directive.form.startswith("police-release/")
        for directive in consent_book(uow).directives(f"Patient/{case.patient_id}")
    )


def _load_case(
    uow: UnitOfWork, actor: Actor, case_id: str, action: Action, *, lock: bool = False
) -> Case:
    query = sa.select(Case).where(Case.id == case_id)
    if lock:
        query = query.with_for_update()
    case = uow.session.scalar(query)
    if (
        case is None
        or not decide(
            actor, action, "EpisodeOfCare", case_facts(case), consents=consent_book(uow)
        ).permitted
    ):
        raise CaseNotFound(N_("No such case."))
    return case


@dataclass(frozen=True)
class CaseRecord:
    case: Case
    patient: StoredVersion | None  # None: her identity is not the reader's to see
    episode: StoredVersion
    mode_changes: list[ReportingModeChange]
    site: Organization


def read_case(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, case_id: str, channel: str = "web"
) -> CaseRecord:
    """A case with its Patient, EpisodeOfCare and reporting-mode history; audited."""
    require(actor, Action.READ, "EpisodeOfCare")
    case = _load_case(uow, actor, case_id, Action.READ)
    store = ResourceStore(uow.session, registry)
    patient = store.current("Patient", case.patient_id)
    episode = store.current("EpisodeOfCare", case.id)
    assert patient is not None
    assert episode is not None
    if not decide(
        actor, Action.READ, "Patient", patient.facts(), consents=consent_book(uow)
    ).permitted:
        patient = None
    changes = list(
        uow.session.scalars(
            sa.select(ReportingModeChange)
            .where(ReportingModeChange.case_id == case.id)
            .order_by(ReportingModeChange.id)
        )
    )
    site = uow.session.get(Organization, case.site_id)
    assert site is not None
    uow.audit(
        AuditRecord(
            kind=EventKind.READ,
            channel=channel,
            actor=actor,
            entities=(episode.versioned_reference,)
            + ((patient.versioned_reference,) if patient else ()),
            reasons=("case opened",) if patient else ("case opened; identity not shared",),
        )
    )
    return CaseRecord(case, patient, episode, changes, site)


def list_cases(uow: UnitOfWork, *, actor: Actor, reference: str | None = None) -> list[Case]:
    """The cases of the actor's site, newest first (at most 200); audited without
    the reference typed, which may identify a survivor to whoever reads the trail."""
    decision = require(actor, Action.SEARCH, "EpisodeOfCare")
    sites = search_scope(actor, Action.SEARCH, "EpisodeOfCare")
    query = sa.select(Case).order_by(Case.opened_at.desc(), Case.reference).limit(200)
    if sites is not None:
        query = query.where(Case.site_id.in_(sites))
    if reference:
        query = query.where(Case.reference == reference.strip().upper())
    cases = [
        case
        for case in uow.session.scalars(query)
        if decide(
            actor, Action.SEARCH, "EpisodeOfCare", case_facts(case), consents=consent_book(uow)
        ).permitted
    ]
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            reasons=decision.reasons,
            entities=tuple(f"EpisodeOfCare/{case.id}" for case in cases),
            query="EpisodeOfCare?identifier=[redacted]" if reference else "EpisodeOfCare",
        )
    )
    return cases


def safe_contact_of(patient: dict[str, Any]) -> SafeContact | None:
    for extension in patient.get("extension", []):
        if extension.get("url") != SAFE_CONTACT_URL:
            continue
        parts = {
            part["url"]: next(v for k, v in part.items() if k.startswith("value"))
            for part in extension.get("extension", [])
        }
        return SafeContact(
            may_call=bool(parts.get("may-call")),
            may_text=bool(parts.get("may-text")),
            may_leave_message=bool(parts.get("may-leave-message")),
            code_word=parts.get("code-word"),
            instructions=parts.get("instructions"),
        )
    return None


def proxy_of(episode: dict[str, Any]) -> dict[str, str] | None:
    for extension in episode.get("extension", []):
        if extension.get("url") == PROXY_URL:
            parts: dict[str, str] = {}
            for part in extension.get("extension", []):
                value = part.get("valueString") or (part.get("valueCoding") or {}).get("code")
                parts[part["url"]] = str(value)
            return parts
    return None
