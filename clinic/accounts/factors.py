"""The second factor of every account: an authenticator app (TOTP, RFC 6238) and
its one-time recovery codes, and the reset of a lost factor by two administrators.

A sign-in is a password, then a code. An account with no confirmed factor enrols
one (scans the QR code, types a code) before anything else opens. Each time step
of the app is accepted once per account (`TotpFactor.last_step`): a code seen
over a shoulder or replayed from a log is worth nothing. Wrong codes are counted
by the sign-in throttle under a key of their own per account (a correct password
never clears it) and per client address. The secret is kept encrypted, shown only
while it is being enrolled, and never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clinic.access import Action, Actor, ResourceFacts, require
from clinic.accounts.models import (
    FactorReset,
    LoginThrottle,
    Passkey,
    PasskeyChallenge,
    RecoveryCode,
    TotpFactor,
    User,
    UserSession,
)
from clinic.accounts.services import (
    AccountError,
    LoginThrottled,
    _count_failure,
    _refused_while_blocked,
    actor_for,
)
from clinic.accounts.throttle import (
    ADDRESS,
    USERNAME,
    ThrottleSettings,
    address_key,
    current_block,
)
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.i18n import N_

ISSUER = "Clinic"
STEP_SECONDS = 30
# Codes of the step before and after the server's are accepted too: phones' clocks
# drift, and a code typed at the end of its 30 seconds arrives in the next.
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_KEY_INFO = b"clinic second-factor secret v1"
# Recovery codes carry 10 random characters of a 31-letter alphabet (49 bits):
# Argon2id at OWASP's minimum parameters is ample, and checking ten stays quick.
_recovery_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class FactorRefused(AccountError):
    """A wrong, replayed or used code; the message never says which."""


CODE_REFUSED = N_("The code is not right.")
CODES_NOT_ENOUGH = N_(
    "Your role signs in with a passkey: a code from the app or a recovery code is not enough."
)


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, shown while enrolling only
    uri: str  # otpauth:// for the QR code


def _cipher(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def _seal(secret: str, user_id: str, secret_key: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _cipher(secret_key).encrypt(nonce, secret.encode(), user_id.encode())


def _open(sealed: bytes, user_id: str, secret_key: str) -> str:
    try:
        return _cipher(secret_key).decrypt(sealed[:12], sealed[12:], user_id.encode()).decode()
    except InvalidTag as error:  # another SECRET_KEY, or a row copied to another user
        raise FactorRefused(N_("The code is not right."), "code") from error


def has_factor(uow: UnitOfWork, user: User) -> bool:
    factor = uow.session.get(TotpFactor, user.id)
    return factor is not None and factor.confirmed_at is not None


def begin_enrolment(uow: UnitOfWork, user: User, *, secret_key: str) -> Enrolment:
    """The secret the person's app is to hold: a new one, or the one already shown
    and not yet confirmed (a reloaded page shows the same QR code). Refused for an
    account whose factor is confirmed: it is never shown again."""
    factor = uow.session.get(TotpFactor, user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise AccountError(N_("A second factor is already set up for this account."))
    if factor is None:
        secret = pyotp.random_base32()
        factor = TotpFactor(
            user_id=user.id,
            secret_encrypted=_seal(secret, user.id, secret_key),
            created_at=utcnow(),
        )
        uow.session.add(factor)
        uow.session.flush()
    else:
        secret = _open(factor.secret_encrypted, user.id, secret_key)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def _new_recovery_codes(uow: UnitOfWork, user: User) -> list[str]:
    now = utcnow()
    uow.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        uow.session.add(
            RecoveryCode(user_id=user.id, code_hash=_recovery_hasher.hash(raw), created_at=now)
        )
    uow.session.flush()
    return codes


def _throttle_keys(user: User, source_address: str | None) -> list[tuple[str, str]]:
    # A key of its own per account: a correct password clears the password's
    # count, never this one.
    return [(USERNAME, f"factor:{user.username}"[:128]), (ADDRESS, address_key(source_address))]


def _refuse(
    uow: UnitOfWork,
    user: User,
    keys: list[tuple[str, str]],
    throttle: ThrottleSettings,
    source_address: str | None,
    what: str,
    message: str = CODE_REFUSED,
) -> FactorRefused:
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=actor_for(user),
            outcome=Outcome.MINOR_FAILURE,
            outcome_desc=f"{what}: second factor refused",
            source_address=source_address,
        )
    )
    uow.keep(lambda session: _count_failure(session, keys, throttle))
    return FactorRefused(message, "code")


def clear_factor_throttle(uow: UnitOfWork, keys: list[tuple[str, str]]) -> None:
    """A factor given: the account's count of wrong ones starts again."""
    scope, key = keys[0]
    uow.session.execute(
        sa.delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
    )
    uow.session.flush()


def reset_noticed(uow: UnitOfWork, user: User, now: datetime) -> None:
    """A new factor set up: the person has been told of the reset before it."""
    uow.session.execute(
        sa.update(FactorReset)
        .where(
            FactorReset.user_id == user.id,
            FactorReset.confirmed_at.is_not(None),
            FactorReset.noticed_at.is_(None),
        )
        .values(noticed_at=now)
    )


def _check_block(
    uow: UnitOfWork, keys: list[tuple[str, str]], user: User, source_address: str | None
) -> None:
    now = utcnow()
    block = current_block(uow.session, keys, now)
    if block is not None:
        username = user.username
        uow.keep(lambda session: _refused_while_blocked(session, block, username, source_address))
        raise LoginThrottled(block.until - now)


def _accept_totp(factor: TotpFactor, secret: str, code: str, now: datetime) -> bool:
    """Whether `code` is the app's code for a step within the drift window that is
    later than every step accepted before; records the step."""
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if factor.last_step is not None and step <= factor.last_step:
            continue
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            factor.last_step = step
            return True
    return False


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").casefold()


def enrol(
    uow: UnitOfWork,
    user: User,
    *,
    code: str,
    secret_key: str,
    source_address: str | None,
    throttle: ThrottleSettings,
) -> list[str]:
    """Confirm the enrolment with a code from the app; answers the ten recovery
    codes, to be shown once. The person is told no longer of a reset."""
    keys = _throttle_keys(user, source_address)
    _check_block(uow, keys, user, source_address)
    factor = uow.session.get(TotpFactor, user.id)
    if factor is None or factor.confirmed_at is not None:
        raise AccountError(N_("Start again from the sign-in page."))
    secret = _open(factor.secret_encrypted, user.id, secret_key)
    now = utcnow()
    if not _accept_totp(factor, secret, _normalise(code), now):
        raise _refuse(uow, user, keys, throttle, source_address, "enrolment")
    factor.confirmed_at = now
    codes = _new_recovery_codes(uow, user)
    reset_noticed(uow, user, now)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor_for(user),
            entities=(f"User/{user.id}",),
            outcome_desc="second factor enrolled; recovery codes issued",
            source_address=source_address,
        )
    )
    return codes


def verify(
    uow: UnitOfWork,
    user: User,
    *,
    code: str,
    secret_key: str,
    source_address: str | None,
    throttle: ThrottleSettings,
    purpose: str = "sign-in",
    codes_accepted: bool = True,
) -> None:
    """Check a code from the app, or an unused recovery code (then used up).
    Throttled per account and address; every refusal says the same. For a role
    that signs in with a passkey (`codes_accepted` false) no code is even looked at."""
    keys = _throttle_keys(user, source_address)
    _check_block(uow, keys, user, source_address)
    if not codes_accepted:
        what = f"{purpose} (a code, where a passkey is required)"
        raise _refuse(uow, user, keys, throttle, source_address, what, CODES_NOT_ENOUGH)
    factor = uow.session.get(TotpFactor, user.id)
    if factor is None or factor.confirmed_at is None:
        raise _refuse(uow, user, keys, throttle, source_address, purpose)
    typed = _normalise(code)
    now = utcnow()
    used = "authenticator app"
    if typed.isdigit() and len(typed) == 6:
        secret = _open(factor.secret_encrypted, user.id, secret_key)
        if not _accept_totp(factor, secret, typed, now):
            raise _refuse(uow, user, keys, throttle, source_address, purpose)
    elif len(typed) == 10 and _use_recovery_code(uow, user, typed, now):
        used = "recovery code"
    else:
        raise _refuse(uow, user, keys, throttle, source_address, purpose)
    clear_factor_throttle(uow, keys)
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=actor_for(user),
            outcome_desc=f"{purpose}: second factor by {used}",
            source_address=source_address,
        )
    )


def _use_recovery_code(uow: UnitOfWork, user: User, typed: str, now: datetime) -> bool:
    rows = uow.session.scalars(
        sa.select(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .with_for_update()
    ).all()
    for row in rows:
        try:
            _recovery_hasher.verify(row.code_hash, typed)
        except (VerificationError, InvalidHashError):
            continue
        row.used_at = now
        return True
    return False


def recovery_codes_left(uow: UnitOfWork, user: User) -> int:
    count = uow.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


def reset_notice(uow: UnitOfWork, user: User) -> FactorReset | None:
    """The confirmed reset the person has not been told of yet, if any."""
    return uow.session.scalar(
        sa.select(FactorReset)
        .where(
            FactorReset.user_id == user.id,
            FactorReset.confirmed_at.is_not(None),
            FactorReset.noticed_at.is_(None),
        )
        .order_by(FactorReset.confirmed_at.desc())
        .limit(1)
    )


def enrol_known_secret(uow: UnitOfWork, user: User, *, secret: str, secret_key: str) -> list[str]:
    """Set up an app with a secret chosen elsewhere, already confirmed: for demo
    accounts (clinic.demo) and test fixtures only, never offered on a screen."""
    uow.session.execute(sa.delete(TotpFactor).where(TotpFactor.user_id == user.id))
    uow.session.add(
        TotpFactor(
            user_id=user.id,
            secret_encrypted=_seal(secret, user.id, secret_key),
            created_at=utcnow(),
            confirmed_at=utcnow(),
        )
    )
    uow.session.flush()
    return _new_recovery_codes(uow, user)


# -- lost factors: two administrators -------------------------------------------


def pending_resets(uow: UnitOfWork, *, actor: Actor) -> list[FactorReset]:
    require(actor, Action.SEARCH, "User")
    return list(
        uow.session.scalars(
            sa.select(FactorReset)
            .where(FactorReset.confirmed_at.is_(None))
            .order_by(FactorReset.requested_at)
        )
    )


def request_reset(uow: UnitOfWork, *, actor: Actor, username: str, reason: str) -> FactorReset:
    """Administrator A asks for a person's lost factor to be removed; nothing
    changes until a different administrator confirms. Never one's own."""
    require(actor, Action.UPDATE, "User")
    user = uow.session.scalar(sa.select(User).where(User.username == username.strip().casefold()))
    if user is None:
        raise AccountError(N_("There is no account with that username."), "username")
    require(actor, Action.UPDATE, "User", ResourceFacts("User", user.id))
    if user.id == actor.user_id:
        raise AccountError(
            N_("You cannot reset your own second factor: ask another administrator."), "username"
        )
    reason = " ".join(reason.split())
    if not 5 <= len(reason) <= 500:
        raise AccountError(
            N_("Say why, in 5 to 500 characters (e.g. how the person proved who they are)."),
            "reason",
        )
    already = uow.session.scalar(
        sa.select(FactorReset).where(
            FactorReset.user_id == user.id, FactorReset.confirmed_at.is_(None)
        )
    )
    if already is not None:
        raise AccountError(N_("A reset for this account is already waiting."), "username")
    reset = FactorReset(
        user_id=user.id, reason=reason, requested_by=actor.user_id, requested_at=utcnow()
    )
    uow.session.add(reset)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor,
            entities=(f"User/{user.id}",),
            outcome_desc="second-factor reset requested; waits for a second administrator",
        )
    )
    return reset


def confirm_reset(uow: UnitOfWork, reset_id: str, *, actor: Actor) -> FactorReset:
    """Administrator B, not A and not the person, confirms: the factor, its
    recovery codes and every passkey of the person are removed and every session of the person ends; they enrol
    again at their next sign-in, and are told why."""
    require(actor, Action.UPDATE, "User")
    reset = uow.session.get(FactorReset, reset_id)
    if reset is None or reset.confirmed_at is not None:
        raise AccountError(N_("That reset is not waiting any more."))
    require(actor, Action.UPDATE, "User", ResourceFacts("User", reset.user_id))
    if actor.user_id == reset.requested_by:
        raise AccountError(N_("A different administrator must confirm a reset you asked for."))
    if actor.user_id == reset.user_id:
        raise AccountError(N_("You cannot confirm a reset of your own second factor."))
    now = utcnow()
    reset.confirmed_by, reset.confirmed_at = actor.user_id, now
    uow.session.execute(sa.delete(TotpFactor).where(TotpFactor.user_id == reset.user_id))
    uow.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == reset.user_id))
    uow.session.execute(sa.delete(Passkey).where(Passkey.user_id == reset.user_id))
    uow.session.execute(
        sa.delete(PasskeyChallenge).where(PasskeyChallenge.user_id == reset.user_id)
    )
    uow.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == reset.user_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason="factor reset")
    )
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor,
            entities=(f"User/{reset.user_id}",),
            outcome_desc="second factor reset by two administrators",
        )
    )
    return reset
