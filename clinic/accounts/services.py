"""Accounts: organisations, users, passwords, browser sessions and API tokens.

Services take the unit of work and an explicit acting user; they flush, never
commit. Every refusal is a domain error with a message fit to show.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from clinic.access import Action, Actor, ResourceFacts, require
from clinic.access.roles import ROLE_ORGANIZATION_KIND, OrganizationKind, Role
from clinic.accounts.models import ApiToken, Organization, User, UserSession
from clinic.accounts.passwords import PasswordRefused, check_password
from clinic.accounts.throttle import (
    Block,
    ThrottleSettings,
    current_block,
    forget_username,
    keys_for,
    record_failure,
    record_refusal,
    worth_auditing,
)
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.canonical import CODE_SYSTEM, ORGANIZATION_CODE_SYSTEM
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore
from clinic.i18n import N_
from clinic.i18n.sentences import Word, sentence

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
TOKEN_PREFIX = "fct_"  # noqa: S105 - a marker that helps secret scanners, not a secret


class AccountError(DomainError):
    """A refusal about accounts, organisations, sessions or tokens."""


class LoginRefused(AccountError):
    pass


def actor_for(user: User) -> Actor:
    return _actor(user.id, user)


def _actor(user_id: str, user: Any) -> Actor:
    """The actor of an account: a User, or a row of its columns (a token's)."""
    return Actor(
        user_id,
        user.username,
        Role(user.role),
        user.organization_id,
        expert_subject=user.expert_subject,
        expert_name=user.expert_consent_name,
        access_until=user.access_until,
    )


def account_usable(user: User, now: datetime | None = None) -> bool:
    """Active, of an organisation still active, and for a medical expert still
    within the account's period (the decision point checks the period again on
    every decision)."""
    return _usable(
        user.is_active and user.organization.is_active,
        Role(user.role),
        user.access_until,
        now or utcnow(),
    )


def _usable(is_active: bool, role: Role, access_until: datetime | None, now: datetime) -> bool:
    """`is_active`: the account and its organisation both."""
    if not is_active:
        return False
    if role is Role.EXPERT:
        return access_until is not None and now <= access_until
    return True


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_username(username: str) -> str:
    return username.strip().casefold()


def check_password_rules(
    password: str,
    username: str,
    *,
    field: str = "password",
    display_name: str | None = None,
    current_hash: str | None = None,
) -> None:
    """The password rules (clinic.accounts.passwords), and never the password the
    account has now; a refusal names the form's `field`."""
    try:
        check_password(password, username=normalise_username(username), display_name=display_name)
    except PasswordRefused as refused:
        raise AccountError(refused.args[0], field) from refused
    if current_hash is not None and _password_matches(current_hash, password):
        raise AccountError(N_("Choose a password other than the current one."), field)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- organisations --------------------------------------------------------------


def organization_resource(organization: Organization) -> dict[str, object]:
    kind = OrganizationKind(organization.kind)
    return {
        "resourceType": "Organization",
        "identifier": [{"system": ORGANIZATION_CODE_SYSTEM, "value": organization.code}],
        "active": organization.is_active,
        "type": [
            {
                "coding": [
                    {
                        "system": f"{CODE_SYSTEM}/organization-kind",
                        "code": kind.value,
                        "display": kind.label,
                    }
                ]
            }
        ],
        "name": organization.name,
    }


def create_organization(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor | None,
    kind: OrganizationKind,
    name: str,
    code: str,
) -> Organization:
    """Create a site or partner organisation and its FHIR Organization (version 1).
    `actor` is None only for the bootstrap CLI, before any account exists."""
    if actor is not None:
        require(actor, Action.CREATE, "Organization")
    name, code = name.strip(), code.strip().upper()
    if not name:
        raise AccountError(N_("Give the organisation a name."), "name")
    if not CODE_PATTERN.match(code):
        raise AccountError(N_("The code is 2 to 32 capital letters, digits or hyphens."), "code")
    if uow.session.scalar(sa.select(Organization).where(Organization.code == code)):
        raise AccountError(
            sentence("Another organisation already has the code %(code)s.", code=code), "code"
        )
    organization = Organization(
        kind=kind.value, name=name, code=code, is_active=True, created_at=utcnow()
    )
    uow.session.add(organization)
    uow.session.flush()
    ResourceStore(uow.session, registry).create(
        organization_resource(organization),
        site_id=None,
        author_id=actor.user_id if actor else None,
        logical_id=organization.id,
    )
    _audit_admin(uow, actor, EventKind.CREATE, f"Organization/{organization.id}")
    return organization


def update_organization(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    organization: Organization,
    *,
    actor: Actor | None,
    name: str,
    is_active: bool,
) -> Organization:
    """Rename, deactivate or reactivate an organisation. An inactive organisation's
    accounts can do nothing (`account_usable`), so an administrator cannot
    deactivate their own: the accounts that could turn it back on would be the
    first shut out. `actor` is None only for the operator's command line, which can
    reactivate any organisation (`clinic orgs activate`)."""
    if actor is not None:
        require(
            actor, Action.UPDATE, "Organization", ResourceFacts("Organization", organization.id)
        )
        if not is_active and organization.id == actor.organization_id:
            raise AccountError(
                N_("You cannot deactivate your own organisation: you would be shut out with it."),
                "is_active",
            )
    if not name.strip():
        raise AccountError(N_("Give the organisation a name."), "name")
    organization.name = name.strip()
    organization.is_active = is_active
    uow.session.flush()
    store = ResourceStore(uow.session, registry)
    current = store.current("Organization", organization.id)
    store.update(
        "Organization",
        organization.id,
        organization_resource(organization),
        author_id=actor.user_id if actor else None,
        expected_version=current.version_id if current else None,
    )
    _audit_admin(uow, actor, EventKind.UPDATE, f"Organization/{organization.id}")
    return organization


def list_organizations(
    uow: UnitOfWork, *, actor: Actor, kind: OrganizationKind | None = None
) -> list[Organization]:
    require(actor, Action.SEARCH, "Organization")
    query = sa.select(Organization).order_by(Organization.kind, Organization.name)
    if kind is not None:
        query = query.where(Organization.kind == kind.value)
    return list(uow.session.scalars(query))


# -- users ---------------------------------------------------------------------


def create_user(
    uow: UnitOfWork,
    *,
    actor: Actor | None,
    username: str,
    display_name: str,
    role: Role,
    organization_id: str,
    password: str,
    professional_registration: str | None = None,
) -> User:
    """Create an account. The organisation must be active and of the kind the role
    belongs to (police officers to a police force, staff to a clinic site)."""
    if actor is not None:
        require(actor, Action.CREATE, "User")
        if role is Role.EXPERT:
            # It serves one case, whose consent must name the person: opened from the
            # case by its examiner (clinic.expert), never from the users screen.
            raise AccountError(
                N_("A medical expert's account is opened by an examiner, from the case."), "role"
            )
    username = normalise_username(username)
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            N_("Usernames are 3 to 64 lower-case letters, digits, dots, hyphens or underscores."),
            "username",
        )
    if not display_name.strip():
        raise AccountError(N_("Give the person's name."), "display_name")
    organization = uow.session.get(Organization, organization_id)
    if organization is None or not organization.is_active:
        raise AccountError(N_("Choose an active organisation."), "organization_id")
    expected = ROLE_ORGANIZATION_KIND[role]
    if organization.kind != expected.value:
        raise AccountError(
            sentence(
                "A %(role)s belongs to a %(kind)s.",
                role=Word(role.label, inline=True),
                kind=Word(expected.label, inline=True),
            ),
            "organization_id",
        )
    if uow.session.scalar(sa.select(User).where(User.username == username)):
        raise AccountError(N_("That username is taken."), "username")
    check_password_rules(password, username, display_name=display_name)
    registration = check_registration(professional_registration, role)
    user = User(
        username=username,
        display_name=display_name.strip(),
        professional_registration=registration,
        role=role.value,
        organization_id=organization.id,
        password_hash=_hasher.hash(password),
        is_active=True,
        # An administrator chose it: the person chooses their own at first sign-in.
        # The operator's CLI (no actor) creates accounts for the operator.
        must_change_password=actor is not None,
        created_at=utcnow(),
    )
    uow.session.add(user)
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.CREATE, f"User/{user.id}")
    return user


def set_user_active(uow: UnitOfWork, user: User, *, actor: Actor | None, is_active: bool) -> User:
    """Deactivating ends every session and revokes every token of the user at once.
    `actor` is None for the operator's CLI."""
    if actor is not None:
        require(actor, Action.UPDATE, "User", ResourceFacts("User", user.id))
    if actor is not None and user.id == actor.user_id and not is_active:
        raise AccountError(N_("You cannot deactivate your own account."))
    now = utcnow()
    user.is_active = is_active
    user.deactivated_at = None if is_active else now
    if not is_active:
        uow.session.execute(
            sa.update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason="deactivated")
        )
        uow.session.execute(
            sa.update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.UPDATE, f"User/{user.id}")
    return user


def change_password(
    uow: UnitOfWork,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
    source_address: str | None = None,
) -> None:
    """A person changes their own password. Every other browser session of theirs
    ends (one opened with the old password by someone else among them); the one
    whose token is `keep_session` goes on. API tokens, which belong to systems, stay."""
    if not _password_matches(user.password_hash, current_password):
        raise AccountError(N_("The current password is not right."), "current_password")
    check_password_rules(
        new_password,
        user.username,
        field="new_password",
        display_name=user.display_name,
        current_hash=user.password_hash,
    )
    now = utcnow()
    user.password_hash = _hasher.hash(new_password)
    user.must_change_password = False
    others = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep_session is not None:
        others = others.where(UserSession.token_hash != hash_secret(keep_session))
        uow.session.execute(
            sa.update(UserSession)
            .where(UserSession.token_hash == hash_secret(keep_session))
            .values(password_confirmed_at=now)
        )
    uow.session.execute(others.values(ended_at=now, end_reason="password changed"))
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor_for(user),
            entities=(f"User/{user.id}",),
            outcome_desc="password changed; other sessions ended",
            source_address=source_address,
        )
    )


def reset_password(uow: UnitOfWork, user: User, *, actor: Actor, new_password: str) -> None:
    """An administrator sets a new password (a person who forgot theirs). It ends
    the person's browser sessions, and they choose their own password at the next
    sign-in; their API tokens, which belong to systems, stay."""
    require(actor, Action.UPDATE, "User", ResourceFacts("User", user.id))
    check_password_rules(
        new_password,
        user.username,
        field="new_password",
        display_name=user.display_name,
        current_hash=user.password_hash,
    )
    user.password_hash = _hasher.hash(new_password)
    user.must_change_password = True
    uow.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="password reset")
    )
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.UPDATE, f"User/{user.id}")


REGISTRATION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]{1,63}")


def check_registration(registration: str | None, role: Role) -> str | None:
    """A professional registration (e.g. "NMC 12A3456B"): letters, digits, spaces,
    dots, slashes and hyphens; staff only. Blank means none."""
    value = " ".join((registration or "").split())
    if not value:
        return None
    if role is Role.POLICE:
        raise AccountError(
            N_("Police accounts have no professional registration here."),
            "professional_registration",
        )
    if not REGISTRATION_PATTERN.fullmatch(value):
        raise AccountError(
            N_(
                "Write the registration as the register shows it (e.g. NMC 12A3456B): 2 to 64 "
                "letters, digits, spaces, dots, slashes or hyphens."
            ),
            "professional_registration",
        )
    return value


def set_professional_registration(
    uow: UnitOfWork, user: User, *, actor: Actor, registration: str | None
) -> None:
    """An administrator records (or clears) a person's professional registration.
    Reports already signed keep the registration they were signed with."""
    require(actor, Action.UPDATE, "User", ResourceFacts("User", user.id))
    user.professional_registration = check_registration(registration, Role(user.role))
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.UPDATE, f"User/{user.id}")


def list_users(uow: UnitOfWork, *, actor: Actor) -> list[User]:
    require(actor, Action.SEARCH, "User")
    return list(uow.session.scalars(sa.select(User).order_by(User.username)))


def get_user(uow: UnitOfWork, user_id: str, *, actor: Actor) -> User | None:
    user = uow.session.get(User, user_id)
    if user is not None:
        require(actor, Action.READ, "User", ResourceFacts("User", user.id))
    return user


def _audit_admin(uow: UnitOfWork, actor: Actor | None, kind: EventKind, reference: str) -> None:
    uow.audit(
        AuditRecord(
            kind=kind, channel="web" if actor else "cli", actor=actor, entities=(reference,)
        )
    )


# -- login and sessions ----------------------------------------------------------


@dataclass(frozen=True)
class Login:
    user: User
    session_token: str


class LoginThrottled(LoginRefused):
    """Sign-in is paused for this username, this address or everyone; `retry_after`
    is how long until it may be tried again."""

    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
        message = (
            "Sign-in is paused after too many failed attempts. Try again in a minute."
            if minutes == 1
            else f"Sign-in is paused after too many failed attempts. Try again in {minutes} "
            "minutes."
        )
        super().__init__(message)
        self.retry_after = retry_after


def check_credentials(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    source_address: str | None,
    throttle: ThrottleSettings,
    unused_after: timedelta | None = None,
) -> User:
    """Check a username and password: the first step of a sign-in, which opens
    nothing (the second factor, clinic.accounts.factors, comes next). Every refusal
    gives the same message, costs one password hash and is audited, whether or not
    the account exists; except during a back-off (clinic.accounts.throttle), which
    is decided before any hash is computed and refused with LoginThrottled. An
    account unused for longer than `unused_after` is refused as an inactive one
    (clinic.admin.hygiene)."""
    from clinic.admin.hygiene import unused_too_long

    key = normalise_username(username)[:64]
    keys = keys_for(key, source_address)
    now = utcnow()
    block = current_block(uow.session, keys, now)
    if block is not None:
        uow.keep(lambda session: _refused_while_blocked(session, block, key, source_address))
        raise LoginThrottled(block.until - now)
    user = uow.session.scalar(sa.select(User).where(User.username == key))
    password_ok = _password_matches(user.password_hash if user else _DUMMY_HASH, password)
    if (
        not password_ok
        or user is None
        or not account_usable(user)
        or (unused_after is not None and unused_too_long(uow.session, user, now, unused_after))
    ):
        uow.audit(
            AuditRecord(
                kind=EventKind.LOGIN,
                channel="web",
                actor=None,
                outcome=Outcome.MINOR_FAILURE,
                outcome_desc="bad credentials or inactive account",
                attempted_username=key,
                source_address=source_address,
            )
        )
        uow.keep(lambda session: _count_failure(session, keys, throttle))
        raise LoginRefused(
            N_("The username or password is not right, or the account is not active.")
        )
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    forget_username(uow.session, key)
    return user


def open_session(uow: UnitOfWork, user: User, *, source_address: str | None) -> Login:
    """A browser session for a person who has given their password and second
    factor (the caller checked both)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    uow.session.add(
        UserSession(
            token_hash=hash_secret(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            password_confirmed_at=now,
            source_address=source_address,
        )
    )
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=actor_for(user),
            source_address=source_address,
        )
    )
    return Login(user, token)


def password_confirmed_since(uow: UnitOfWork, token: str, since: datetime) -> bool:
    """Whether the password was typed in this live session at or after `since`."""
    confirmed = uow.session.scalar(
        sa.select(UserSession.password_confirmed_at).where(
            UserSession.token_hash == hash_secret(token), UserSession.ended_at.is_(None)
        )
    )
    return confirmed is not None and confirmed >= since


def confirm_password(
    uow: UnitOfWork,
    user: User,
    *,
    token: str,
    password: str,
    source_address: str | None,
    throttle: ThrottleSettings,
) -> None:
    """The signed-in person types their password again before a sensitive action.
    Throttled and counted exactly as a sign-in (a stolen session is no way round
    the back-off); the session records when."""
    key = user.username
    keys = keys_for(key, source_address)
    now = utcnow()
    block = current_block(uow.session, keys, now)
    if block is not None:
        uow.keep(lambda session: _refused_while_blocked(session, block, key, source_address))
        raise LoginThrottled(block.until - now)
    if not _password_matches(user.password_hash, password):
        uow.audit(
            AuditRecord(
                kind=EventKind.LOGIN,
                channel="web",
                actor=actor_for(user),
                outcome=Outcome.MINOR_FAILURE,
                outcome_desc="password confirmation failed",
                source_address=source_address,
            )
        )
        uow.keep(lambda session: _count_failure(session, keys, throttle))
        raise AccountError(N_("The password is not right."), "password")
    forget_username(uow.session, key)
    uow.session.execute(
        sa.update(UserSession)
        .where(UserSession.token_hash == hash_secret(token), UserSession.ended_at.is_(None))
        .values(password_confirmed_at=now)
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=actor_for(user),
            outcome_desc="password confirmed",
            source_address=source_address,
        )
    )


def _count_failure(
    session: Session, keys: list[tuple[str, str]], throttle: ThrottleSettings
) -> list[AuditRecord]:
    record_failure(session, keys, throttle, utcnow())
    return []


def _refused_while_blocked(
    session: Session, block: Block, username_key: str, source_address: str | None
) -> list[AuditRecord]:
    refused = record_refusal(session, block, utcnow())
    if not worth_auditing(refused):
        return []
    return [
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=None,
            outcome=Outcome.MINOR_FAILURE,
            outcome_desc=(
                f"throttled by {block.scope}: {refused} attempts refused during back-offs "
                "in this window (recorded at 1, 2, 4, 8, ...)"
            ),
            attempted_username=username_key,
            source_address=source_address,
        )
    ]


def resume_session(
    uow: UnitOfWork, token: str, *, idle_timeout: timedelta, absolute_timeout: timedelta
) -> User | None:
    """The user of a live session, or None. Ends sessions that have timed out."""
    record = uow.session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == hash_secret(token))
    )
    if record is None or record.ended_at is not None:
        return None
    now = utcnow()
    user = record.user
    if not user.is_active:
        record.ended_at, record.end_reason = now, "deactivated"
        return None
    if not account_usable(user, now):
        record.ended_at, record.end_reason = now, "access-ended"
        return None
    if now - record.last_seen_at > idle_timeout or now - record.created_at > absolute_timeout:
        record.ended_at, record.end_reason = now, "timeout"
        return None
    record.last_seen_at = now
    return user


def session_time_left(
    uow: UnitOfWork, token: str, *, idle_timeout: timedelta, absolute_timeout: timedelta
) -> timedelta:
    """How long the session has before it times out, as the server sees it (zero
    when it has ended or is unknown). Reading it does not extend the session, so
    every tab of the browser sees the same time left."""
    record = uow.session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == hash_secret(token))
    )
    if record is None or record.ended_at is not None or not account_usable(record.user):
        return timedelta(0)
    now = utcnow()
    left = min(record.last_seen_at + idle_timeout - now, record.created_at + absolute_timeout - now)
    return max(left, timedelta(0))


def timed_out_session_owner(uow: UnitOfWork, token: str) -> User | None:
    """The active user whose session this was, if it ended by timing out (not by
    signing out, deactivation or a password reset), else None."""
    record = uow.session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == hash_secret(token))
    )
    if record is None or record.ended_at is None or record.end_reason != "timeout":
        return None
    return record.user if account_usable(record.user) else None


def session_ends_by_timeout(uow: UnitOfWork, token: str) -> bool:
    """Whether the session is live or ends (ended) by timing out, so that a step
    posted with it would be kept as a draft; not when it was signed out, ended by
    deactivation or a password reset, or is unknown."""
    record = uow.session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == hash_secret(token))
    )
    if record is None or not account_usable(record.user):
        return False
    return record.ended_at is None or record.end_reason == "timeout"


def log_out(uow: UnitOfWork, token: str, *, actor: Actor, source_address: str | None) -> None:
    uow.session.execute(
        sa.update(UserSession)
        .where(UserSession.token_hash == hash_secret(token), UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="logout")
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGOUT, channel="web", actor=actor, source_address=source_address
        )
    )


def live_sessions(uow: UnitOfWork, *, actor: Actor) -> int:
    """How many browser sessions of the actor have not ended (timed-out ones that
    no request has noticed yet included: they end at their next use)."""
    count = uow.session.scalar(
        sa.select(sa.func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == actor.user_id, UserSession.ended_at.is_(None))
    )
    return int(count or 0)


def end_all_sessions(uow: UnitOfWork, *, actor: Actor, source_address: str | None) -> int:
    """'Sign out everywhere': every browser session of the actor ends now, this one
    included. API tokens stay (they are revoked one by one on their page)."""
    ended = uow.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == actor.user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="signed out everywhere")
    )
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGOUT,
            channel="web",
            actor=actor,
            outcome_desc="signed out everywhere",
            source_address=source_address,
        )
    )
    return int(getattr(ended, "rowcount", 0) or 0)


# -- API tokens ----------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    uow: UnitOfWork, *, actor: Actor, name: str, days: int, max_days: int
) -> IssuedToken:
    require(actor, Action.CREATE, "ApiToken")
    name = name.strip()
    if not name:
        raise AccountError(N_("Name the token after what will use it."), "name")
    if not 1 <= days <= max_days:
        raise AccountError(
            sentence("A token lives between 1 and %(days)s days.", days=max_days), "days"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=actor.user_id,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    uow.session.add(token)
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.CREATE, f"ApiToken/{token.id}")
    return IssuedToken(token, secret)


def list_tokens(uow: UnitOfWork, *, actor: Actor) -> list[ApiToken]:
    require(actor, Action.SEARCH, "ApiToken")
    return list(
        uow.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == actor.user_id)
            .order_by(ApiToken.created_at.desc())
        )
    )


def revoke_token(uow: UnitOfWork, token_id: str, *, actor: Actor) -> ApiToken:
    token = uow.session.get(ApiToken, token_id)
    facts = ResourceFacts("ApiToken", token_id, owner_user_id=token.user_id if token else None)
    require(actor, Action.UPDATE, "ApiToken", facts)
    assert token is not None  # an unknown token is refused (concealed) above
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    uow.session.flush()
    _audit_admin(uow, actor, EventKind.UPDATE, f"ApiToken/{token.id}")
    return token


# How finely a token's last use is recorded.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenHolder:
    """Who holds a live API token: the acting user as the decision point sees them,
    and the language they chose (for messages said to them)."""

    actor: Actor
    language: str | None


_tokens = cast(sa.Table, ApiToken.__table__)
_users = cast(sa.Table, User.__table__)
_organizations = cast(sa.Table, Organization.__table__)
# The token with its user, in one indexed query of plain columns: every API
# request sends it, so no ORM objects are built for it.
_TOKEN_WITH_USER = (
    sa.select(
        _tokens.c.id,
        _tokens.c.expires_at,
        _tokens.c.revoked_at,
        _tokens.c.last_used_at,
        _users.c.id.label("user_id"),
        _users.c.username,
        _users.c.role,
        _users.c.organization_id,
        (_users.c.is_active & _organizations.c.is_active).label("is_active"),
        _users.c.expert_subject,
        _users.c.expert_consent_name,
        _users.c.access_until,
        _users.c.language,
    )
    .join(_users, _users.c.id == _tokens.c.user_id)
    .join(_organizations, _organizations.c.id == _users.c.organization_id)
    .where(_tokens.c.token_hash == sa.bindparam("token_hash"))
)
_TOKEN_USED = (
    sa.update(_tokens)
    .where(_tokens.c.id == sa.bindparam("token_id"))
    .values(last_used_at=sa.bindparam("now"))
)


def authenticate_token(uow: UnitOfWork, secret: str) -> TokenHolder | None:
    """The active user of a live token, or None (unknown, revoked, expired or the
    user deactivated: the caller cannot tell which). Read from the database on
    every request: a revoked token fails at once."""
    session = uow.session
    session.flush()  # what this unit of work changed is seen, as by an ORM query
    row = session.execute(_TOKEN_WITH_USER, {"token_hash": hash_secret(secret)}).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not _usable(row.is_active, Role(row.role), row.access_until, now):
        return None
    # When it was last used is kept to the minute: writing it on every request would
    # turn every read into a write (docs/design.md, performance).
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION:
        session.execute(_TOKEN_USED, {"token_id": row.id, "now": now})
    return TokenHolder(_actor(row.user_id, row), row.language)


def token_is_live(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return token.revoked_at is None and token.expires_at > now
