"""Passkeys (WebAuthn): a phishing-resistant second factor, offered to everyone and
required for the roles in PASSKEY_REQUIRED_ROLES (police and administrators).

A passkey is a second factor only: the password comes first, then the passkey in
place of the app's code. The browser signs the server's challenge for this
clinic's address (the RP ID) and origin, so a look-alike site cannot relay it.
Challenges are kept in the database, for one person and one purpose, live
PASSKEY_CHALLENGE_SECONDS and are deleted when answered, right or wrong: each is
good once. User verification (the device's PIN or biometric) is required.
Refusals are counted by the same throttle as wrong codes (`factor:<username>`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import (
    parse_authentication_credential_json,
)
from webauthn.helpers.parse_registration_credential_json import (
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from clinic.accounts.factors import (
    _check_block,
    _refuse,
    _throttle_keys,
    clear_factor_throttle,
    reset_noticed,
)
from clinic.accounts.models import Passkey, PasskeyChallenge, User, new_id
from clinic.accounts.services import AccountError, actor_for
from clinic.accounts.throttle import ThrottleSettings
from clinic.audit.services import AuditRecord, EventKind, Outcome
from clinic.core.clock import utcnow
from clinic.core.unit_of_work import UnitOfWork
from clinic.i18n import N_

REGISTER, SIGN_IN, CONFIRMATION = "register", "sign-in", "confirmation"
NAME_MAX = 100
CREDENTIAL_MAX = 16_000  # characters of the browser's answer: far above any real one


class PasskeyMalformed(AccountError):
    """The browser's answer is not a WebAuthn credential at all (400)."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a host name, never an IP address),
    the name the device shows, and the one origin accepted."""

    id: str
    name: str
    origin: str
    challenge_lifetime: timedelta


def relying_party(config: Any, host_url: str) -> RelyingParty:
    """PASSKEY_ORIGIN, else FHIR_BASE_URL's scheme and host, else the request's
    (whose Host is checked against TRUSTED_HOSTS in production); PASSKEY_RP_ID,
    else the origin's host name."""
    origin = config.get("PASSKEY_ORIGIN") or ""
    if not origin and config.get("FHIR_BASE_URL"):
        parts = urlsplit(config["FHIR_BASE_URL"])
        origin = f"{parts.scheme}://{parts.netloc}"
    origin = (origin or host_url).rstrip("/")
    rp_id = config.get("PASSKEY_RP_ID") or urlsplit(origin).hostname or ""
    return RelyingParty(
        rp_id,
        config["PASSKEY_RP_NAME"],
        origin,
        timedelta(seconds=config["PASSKEY_CHALLENGE_SECONDS"]),
    )


def required(user: User, roles: Iterable[str]) -> bool:
    """Whether the person's role signs in with a passkey only."""
    return str(user.role) in set(roles)


def list_passkeys(uow: UnitOfWork, user: User) -> list[Passkey]:
    return list(
        uow.session.scalars(
            sa.select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )


def has_passkey(uow: UnitOfWork, user: User) -> bool:
    return bool(list_passkeys(uow, user))


def _descriptors(uow: UnitOfWork, user: User) -> list[PublicKeyCredentialDescriptor]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=key.credential_id,
            transports=[AuthenticatorTransport(t) for t in key.transports.split(",") if t in known],
        )
        for key in list_passkeys(uow, user)
    ]


def _issue(uow: UnitOfWork, user: User, purpose: str, challenge: bytes) -> str:
    """Keep the challenge, whether the request that shows it succeeds or not (a
    refused attempt's page offers a new one); the person's older ones of this
    purpose are dropped."""
    challenge_id, user_id, now = new_id(), user.id, utcnow()

    def issue(session: Any) -> list[AuditRecord]:
        session.execute(
            sa.delete(PasskeyChallenge).where(
                PasskeyChallenge.user_id == user_id, PasskeyChallenge.purpose == purpose
            )
        )
        session.add(
            PasskeyChallenge(
                id=challenge_id,
                user_id=user_id,
                purpose=purpose,
                challenge=challenge,
                created_at=now,
            )
        )
        return []

    uow.keep(issue)
    return challenge_id


def registration_options(uow: UnitOfWork, user: User, rp: RelyingParty) -> tuple[str, str]:
    """A new challenge to register a passkey: its id (for the session) and the
    options for navigator.credentials.create, as JSON."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=user.id.encode(),
        user_display_name=user.display_name,
        timeout=int(rp.challenge_lifetime.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(uow, user),
    )
    return _issue(uow, user, REGISTER, options.challenge), options_to_json(options)


def authentication_options(
    uow: UnitOfWork, user: User, rp: RelyingParty, purpose: str
) -> tuple[str, str]:
    """A new challenge for the person's passkeys (sign-in or confirmation)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=int(rp.challenge_lifetime.total_seconds() * 1000),
        allow_credentials=_descriptors(uow, user),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _issue(uow, user, purpose, options.challenge), options_to_json(options)


def _take_challenge(
    uow: UnitOfWork, user: User, challenge_id: str, purpose: str, rp: RelyingParty
) -> bytes | None:
    """The challenge, if it is this person's, for this purpose and still live. It
    is deleted whatever the answer: here, in the request's transaction (of two
    requests racing with one challenge, the second deletes nothing and is
    refused), and again by work kept when the request fails and rolls back."""
    row = uow.session.get(PasskeyChallenge, challenge_id) if challenge_id else None
    if row is None or row.user_id != user.id or row.purpose != purpose:
        return None
    challenge, created_at = row.challenge, row.created_at
    uow.keep(lambda session: _delete_challenge(session, challenge_id))
    taken = uow.session.execute(
        sa.delete(PasskeyChallenge).where(PasskeyChallenge.id == challenge_id)
    )
    if getattr(taken, "rowcount", 0) != 1 or utcnow() - created_at > rp.challenge_lifetime:
        return None
    return challenge


def _delete_challenge(session: Any, challenge_id: str) -> list[AuditRecord]:
    session.execute(sa.delete(PasskeyChallenge).where(PasskeyChallenge.id == challenge_id))
    return []


def _parsed(credential: str, parse: Any) -> Any:
    if not credential or len(credential) > CREDENTIAL_MAX:
        raise PasskeyMalformed(N_("The browser's answer could not be read. Try again."))
    try:
        return parse(credential)
    # RecursionError: JSON nested deeper than the parser goes (e.g. '[' * 5000).
    except (WebAuthnException, ValueError, TypeError, KeyError, RecursionError) as error:
        raise PasskeyMalformed(N_("The browser's answer could not be read. Try again.")) from error


REFUSED = N_("The passkey was not accepted. Try again, or use another passkey.")


def register(
    uow: UnitOfWork,
    user: User,
    rp: RelyingParty,
    *,
    challenge_id: str,
    credential: str,
    name: str,
    source_address: str | None,
    throttle: ThrottleSettings,
) -> Passkey:
    """Keep a new passkey of the person's, after checking the browser's answer
    to the registration challenge (origin, RP ID, user verification)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= NAME_MAX:
        raise AccountError(
            N_("Give the passkey a name you will recognise (up to 100 characters)."), "name"
        )
    keys = _throttle_keys(user, source_address)
    _check_block(uow, keys, user, source_address)
    parsed = _parsed(credential, parse_registration_credential_json)
    challenge = _take_challenge(uow, user, challenge_id, REGISTER, rp)
    if challenge is None:
        raise _refuse(uow, user, keys, throttle, source_address, "passkey enrolment", REFUSED)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except Exception as error:  # noqa: BLE001 - the library reading hostile bytes: refused
        what = f"passkey enrolment ({str(error)[:120]})"
        raise _refuse(uow, user, keys, throttle, source_address, what, REFUSED) from None
    taken = uow.session.scalar(
        sa.select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
    )
    if taken is not None:
        raise _refuse(uow, user, keys, throttle, source_address, "passkey enrolment", REFUSED)
    now = utcnow()
    transports = parsed.response.transports or []
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(t.value for t in transports)[:200],
        name=name,
        created_at=now,
    )
    uow.session.add(passkey)
    reset_noticed(uow, user, now)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor_for(user),
            entities=(f"User/{user.id}",),
            outcome_desc=f"passkey enrolled ({bytes_to_base64url(verified.credential_id)[:16]})",
            source_address=source_address,
        )
    )
    return passkey


def authenticate(
    uow: UnitOfWork,
    user: User,
    rp: RelyingParty,
    *,
    challenge_id: str,
    credential: str,
    source_address: str | None,
    throttle: ThrottleSettings,
    purpose: str = SIGN_IN,
) -> Passkey:
    """Check the browser's answer to a sign-in (or confirmation) challenge with
    one of the person's own passkeys; its counter must grow (a cloned
    authenticator's does not)."""
    keys = _throttle_keys(user, source_address)
    _check_block(uow, keys, user, source_address)
    parsed = _parsed(credential, parse_authentication_credential_json)
    challenge = _take_challenge(uow, user, challenge_id, purpose, rp)
    passkey = uow.session.scalar(
        sa.select(Passkey).where(Passkey.user_id == user.id, Passkey.credential_id == parsed.raw_id)
    )
    if challenge is None or passkey is None:
        raise _refuse(uow, user, keys, throttle, source_address, purpose, REFUSED)
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except Exception as error:  # noqa: BLE001 - the library reading hostile bytes: refused
        what = f"{purpose}: passkey ({str(error)[:120]})"
        raise _refuse(uow, user, keys, throttle, source_address, what, REFUSED) from None
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    clear_factor_throttle(uow, keys)
    uow.audit(
        AuditRecord(
            kind=EventKind.LOGIN,
            channel="web",
            actor=actor_for(user),
            outcome_desc=f"{purpose}: second factor by passkey",
            source_address=source_address,
        )
    )
    return passkey


def remove(uow: UnitOfWork, user: User, passkey_id: str, *, roles: Iterable[str]) -> Passkey:
    """Remove one of the person's own passkeys; never the last one of a person
    whose role requires one (a lost one goes through the two-administrator reset)."""
    passkey = uow.session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        raise AccountError(N_("There is no such passkey of yours."))
    if required(user, roles) and len(list_passkeys(uow, user)) <= 1:
        uow.audit(
            AuditRecord(
                kind=EventKind.UPDATE,
                channel="web",
                actor=actor_for(user),
                entities=(f"User/{user.id}",),
                outcome=Outcome.MINOR_FAILURE,
                outcome_desc="passkey removal refused: the last passkey of a role that needs one",
            )
        )
        raise AccountError(
            N_(
                "This is your last passkey, and your role signs in with one: "
                "add another before removing this one."
            )
        )
    uow.session.delete(passkey)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor_for(user),
            entities=(f"User/{user.id}",),
            outcome_desc=f"passkey removed ({bytes_to_base64url(passkey.credential_id)[:16]})",
        )
    )
    return passkey
