from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.access.roles import OrganizationKind, Role
from clinic.core.db import Base, UTCDateTime


def new_id() -> str:
    return str(uuid.uuid4())


def _enum_check(column: str, enum: type[Role] | type[OrganizationKind]) -> sa.CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=f"{column}_known")


class Organization(Base):
    """A clinic site or an outside organisation. Its id is also its FHIR id; the
    FHIR Organization resource in the store is written by the same service."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    kind: Mapped[OrganizationKind] = mapped_column(sa.String(16), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    code: Mapped[str] = mapped_column(sa.String(32), nullable=False, unique=True)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    __table_args__ = (_enum_check("kind", OrganizationKind),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    # Stored case-folded: "Alice" and "alice" are one account.
    username: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    # e.g. "NMC 12A3456B" or "GMC 7654321": printed with the name of whoever signs an
    # exam report (they may be called as a witness). Staff only; none for police.
    professional_registration: Mapped[str | None] = mapped_column(sa.String(64))
    role: Mapped[Role] = mapped_column(sa.String(16), nullable=False)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id"), nullable=False, index=True
    )
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    # Set when an administrator chose the password (a new account, a reset): the
    # person chooses their own at the next sign-in, before any other page.
    must_change_password: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A medical expert's account only (role expert, docs/design.md section 4): the
    # one case it serves, that case's Patient (whose Consents decide), the name as
    # her photo consent records it (the decision point asks her Consents with it),
    # and the moment after which it can neither sign in nor read anything.
    expert_case_id: Mapped[str | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    expert_subject: Mapped[str | None] = mapped_column(sa.String(80))
    expert_consent_name: Mapped[str | None] = mapped_column(sa.String(200))
    access_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointed_by: Mapped[str | None] = mapped_column(sa.String(64))
    # The language their screens are shown in (e.g. "fr"); none: their browser's.
    language: Mapped[str | None] = mapped_column(sa.String(16))

    organization: Mapped[Organization] = relationship(back_populates="users")

    __table_args__ = (_enum_check("role", Role),)


class UserSession(Base):
    """A browser login. The cookie carries only a random id whose hash is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
    source_address: Mapped[str | None] = mapped_column(sa.String(64))
    # When the password was last typed in this session (sign-in or confirmation):
    # sensitive actions ask for it again when it is older than a few minutes.
    password_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed sign-ins counted for one username, one client address, or overall
    (`scope`), in a fixed window that starts at the first failure and does not
    move until it ends. Kept in the database so that every worker and instance
    sees the same counts. `blocked_until` is the end of the current back-off;
    attempts refused during it are only counted in `refused` (they never extend
    it). A row whose window and back-off are both over is deleted."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Attempts refused during back-offs of this window, and the count last written
    # to the audit trail (aggregated: written at 1, 2, 4, 8, ... refusals).
    refused: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    __table_args__ = (
        sa.UniqueConstraint("scope", "key", name="uq_login_throttles_scope_key"),
        sa.CheckConstraint("scope IN ('username', 'address', 'overall')", name="scope_known"),
        sa.CheckConstraint("failures >= 0 AND refused >= 0", name="counts_positive"),
    )


class ApiToken(Base):
    """A bearer token for the FHIR API. Only its SHA-256 is kept; the secret is
    shown once, at creation. Tokens have 256 bits of entropy, so a fast hash is
    enough (unlike passwords)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class TotpFactor(Base):
    """A person's authenticator app (RFC 6238, 30-second steps, 6 digits). The
    shared secret is kept encrypted (AES-GCM under a key derived from SECRET_KEY,
    bound to the user's id) and is shown only while it is being enrolled.
    `confirmed_at` is empty until the person has typed one code from it; the last
    step accepted (`last_step`) makes every code good for one sign-in only."""

    __tablename__ = "totp_factors"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    secret_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)


class RecoveryCode(Base):
    """A one-time code for signing in without the authenticator app; only its
    Argon2 hash is kept. Ten are issued at enrolment and shown once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FactorReset(Base):
    """An administrator's request to remove a person's second factor (a lost
    phone), which a second administrator must confirm before it takes effect.
    `noticed_at` is when the person was told, at their next sign-in."""

    __tablename__ = "factor_resets"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    requested_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    confirmed_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (
        sa.CheckConstraint(
            "confirmed_by IS NULL OR confirmed_by <> requested_by", name="two_administrators"
        ),
    )


class Passkey(Base):
    """A WebAuthn credential (a passkey) a person registered: phishing-resistant,
    bound to this clinic's address (the RP ID). The public key is kept as the
    authenticator gave it (COSE); `sign_count` is the last counter seen, which
    must grow at every use when the authenticator keeps one (a clone does not)."""

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False, unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    transports: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasskeyChallenge(Base):
    """A WebAuthn challenge the server issued: for one person, one purpose
    (register, sign-in, confirmation), short-lived, deleted when it is answered
    (right or wrong), so that it is good once."""

    __tablename__ = "passkey_challenges"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    challenge: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
