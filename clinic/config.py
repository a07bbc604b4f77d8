"""Configuration: defaults, then an optional instance file, then the environment.

Nothing here runs at import time; `load_config` is called by `create_app`.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # "production" or "development". Development only relaxes what cannot work on
    # plain http://127.0.0.1 (Secure cookies); it never turns security checks off.
    "CLINIC_ENV": "production",
    "DATABASE_URL": None,  # default: sqlite file under the instance folder
    "SECRET_KEY": None,  # default: generated into the instance folder on first start
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,  # bytes accepted in one request body
    # Named "__Host-clinic_session" whenever the cookie is Secure (production).
    "SESSION_COOKIE_NAME": "clinic_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_IDLE_TIMEOUT": timedelta(minutes=15),
    "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=12),
    # Creating an API token, administering accounts and approving a release ask for
    # the password again when it was last typed in this session longer ago than this.
    "REAUTHENTICATE_AFTER": timedelta(minutes=5),
    # The warning that the session is about to end appears this long before it does.
    "SESSION_WARNING_BEFORE": timedelta(minutes=2),
    # A form step posted after the session timed out is kept, encrypted, for its author
    # for this long (one shift), then deleted unread. Drafts larger than
    # DRAFT_MAX_BYTES (the typed text as JSON) are not kept; a user keeps at most
    # DRAFT_MAX_PER_USER drafts (the newest).
    "DRAFT_LIFETIME": timedelta(hours=12),
    "DRAFT_MAX_BYTES": 256 * 1024,
    "DRAFT_MAX_PER_USER": 20,
    "API_TOKEN_MAX_DAYS": 365,
    "API_TOKEN_DEFAULT_DAYS": 90,
    "FHIR_PAGE_SIZE": 20,
    "FHIR_MAX_PAGE_SIZE": 100,
    "FHIR_BASE_URL": None,  # default: derived from the request's Host, if trusted
    # Host names (Flask's TRUSTED_HOSTS) the app answers to; any other Host header is
    # refused with 400. In production, FHIR_BASE_URL or this list is required: absolute
    # URLs (Location, Bundle links, fullUrl) must never follow a Host header an
    # attacker chose.
    "TRUSTED_HOSTS": None,
    # Sign-in throttling (README, "Signing in"): failed sign-ins are counted per
    # username, per client address (per /64 for IPv6) and overall, each in a fixed
    # window that starts at its first failure. Beyond the free failures of a window,
    # each failure starts a back-off of LOGIN_BACKOFF_FIRST, doubled at each further
    # failure, at most LOGIN_BACKOFF_MAX; attempts during a back-off are refused
    # without checking the password and do not extend it.
    "LOGIN_THROTTLE_WINDOW": timedelta(hours=1),
    "LOGIN_FREE_FAILURES_PER_USERNAME": 5,
    "LOGIN_FREE_FAILURES_PER_ADDRESS": 20,
    "LOGIN_FREE_FAILURES_OVERALL": 500,
    "LOGIN_BACKOFF_FIRST": timedelta(seconds=30),
    "LOGIN_BACKOFF_MAX": timedelta(minutes=15),
    "CHECK_SCHEMA": True,
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto
    # headers are trusted (0: none, so nobody can forge the audited address).
    "TRUSTED_PROXIES": 0,
    # Names this deployment's logs: origins are "<prefix>/audit", "<prefix>/custody".
    # Set it once, to a name you control (e.g. your clinic's domain), before the
    # first checkpoint is signed; it is in every checkpoint and proof.
    "LOG_ORIGIN_PREFIX": "clinic.invalid",
    # Records are integrated into the Merkle logs by `clinic log integrate`, and
    # also just after each commit that wrote some, unless another process is at it.
    # Turn this off when a separate `clinic log integrate --follow` runs.
    "LOG_INTEGRATE_ON_COMMIT": True,
    # The audit log, written by every request, is integrated after a commit at most
    # once per this many seconds in each process (a batch); the custody log after
    # every commit that wrote to it. 0 integrates the audit log after every commit.
    "LOG_AUDIT_BATCH_SECONDS": 1.0,
    # The verifier keys the logs are signed, published and verified with: one
    # c2sp.org/signed-note verifier key a line, retired keys kept. Written by
    # `clinic keys generate` (and `clinic demo`); never read from the database.
    # Default: instance/log-verifier-keys.txt.
    "LOG_VERIFIER_KEYS": None,
    # Each signed checkpoint is appended here ({log}: audit, custody), mode 0600 and
    # synced; ship the file off this machine. `clinic audit verify` / `clinic custody
    # verify` compare the log with every checkpoint in it.
    # Default: instance/checkpoints/{log}.log.
    "LOG_CHECKPOINT_EXPORT": None,
    # Evidence handed to a lab (or, later, police) and not back within this many days
    # is shown as overdue to custodians. One limit for the deployment for now.
    "TRANSFER_OVERDUE_DAYS": 60,
    # The clinic's time zone (IANA name, e.g. "Europe/London"): exam times are typed
    # and shown in it; everything is stored in UTC.
    "CLINIC_TIMEZONE": "UTC",
    # The languages the screens are offered in (each but "en" needs its catalogue in
    # translations/), and the one shown when neither the person's choice nor her
    # browser's languages name one of them.
    "CLINIC_LANGUAGES": ("en", "fr", "es"),
    "CLINIC_DEFAULT_LANGUAGE": "en",
    # Where the catalogues are (default: translations/ in the project).
    "CLINIC_TRANSLATIONS_DIR": None,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    # Photographs: the largest file kept, the most pixels a photograph may have (a
    # larger claim is a decompression bomb), and the largest upload of several
    # photographs at once (the one request body allowed beyond MAX_CONTENT_LENGTH).
    "MEDIA_MAX_PHOTO_BYTES": 25 * 1000 * 1000,
    "MEDIA_MAX_PIXELS": 50 * 1000 * 1000,
    "MEDIA_MAX_UPLOAD_BYTES": 200 * 1000 * 1000,
    # A medical expert's account ends at most this many days after it is opened.
    "EXPERT_MAX_DAYS": 90,
    # Break-glass: how long an examiner's emergency access to a case lasts.
    "BREAK_GLASS_HOURS": 4,
    # Account hygiene: accounts unused this many days are listed for administrators;
    # this many, deactivated (`clinic accounts expire`, and refused at sign-in).
    "ACCOUNT_UNUSED_LIST_DAYS": 60,
    "ACCOUNT_UNUSED_DEACTIVATE_DAYS": 90,
    # The access review is overdue this many days after the last one confirmed.
    "ACCESS_REVIEW_INTERVAL_DAYS": 90,
    # Passkeys (WebAuthn). The RP ID is the host name passkeys are bound to (never an
    # IP address) and the origin the one address their answers are accepted from;
    # by default both come from FHIR_BASE_URL, else from the request's trusted Host.
    "PASSKEY_RP_ID": None,
    "PASSKEY_ORIGIN": None,
    "PASSKEY_RP_NAME": "Clinic",
    "PASSKEY_CHALLENGE_SECONDS": 120,
    # Roles whose sign-in needs a passkey (codes from the app and recovery codes do
    # not open a session for them). Leaving police or admin out is refused in
    # production: only the demo (scripts/start) and tests may relax it.
    "PASSKEY_REQUIRED_ROLES": ("police", "admin"),
}

# Environment variables read, and how to parse them.
_ENVIRONMENT: dict[str, Any] = {
    "CLINIC_ENV": str,
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "MAX_CONTENT_LENGTH": int,
    "FHIR_BASE_URL": str,
    "TRUSTED_HOSTS": lambda v: [host.strip() for host in v.split(",") if host.strip()],
    "FHIR_PAGE_SIZE": int,
    "FHIR_MAX_PAGE_SIZE": int,
    "API_TOKEN_MAX_DAYS": int,
    "SESSION_COOKIE_SECURE": lambda v: v.lower() in {"1", "true", "yes"},
    "TRUSTED_PROXIES": int,
    "LOG_ORIGIN_PREFIX": str,
    "LOG_VERIFIER_KEYS": str,
    "LOG_CHECKPOINT_EXPORT": str,
    "LOG_INTEGRATE_ON_COMMIT": lambda v: v.lower() in {"1", "true", "yes"},
    "LOG_AUDIT_BATCH_SECONDS": float,
    "TRANSFER_OVERDUE_DAYS": int,
    "CLINIC_TIMEZONE": str,
    "CLINIC_LANGUAGES": lambda v: tuple(code.strip() for code in v.split(",") if code.strip()),
    "CLINIC_DEFAULT_LANGUAGE": str,
    "CLINIC_TRANSLATIONS_DIR": str,
    "MEDIA_MAX_PHOTO_BYTES": int,
    "MEDIA_MAX_PIXELS": int,
    "MEDIA_MAX_UPLOAD_BYTES": int,
    "EXPERT_MAX_DAYS": int,
    "BREAK_GLASS_HOURS": int,
    "ACCOUNT_UNUSED_LIST_DAYS": int,
    "ACCOUNT_UNUSED_DEACTIVATE_DAYS": int,
    "ACCESS_REVIEW_INTERVAL_DAYS": int,
    "SESSION_IDLE_TIMEOUT": lambda v: timedelta(minutes=int(v)),
    "SESSION_ABSOLUTE_TIMEOUT": lambda v: timedelta(hours=int(v)),
    "REAUTHENTICATE_AFTER": lambda v: timedelta(minutes=int(v)),
    "LOGIN_THROTTLE_WINDOW": lambda v: timedelta(minutes=int(v)),
    "LOGIN_FREE_FAILURES_PER_USERNAME": int,
    "LOGIN_FREE_FAILURES_PER_ADDRESS": int,
    "LOGIN_FREE_FAILURES_OVERALL": int,
    "LOGIN_BACKOFF_FIRST": lambda v: timedelta(seconds=int(v)),
    "LOGIN_BACKOFF_MAX": lambda v: timedelta(minutes=int(v)),
    "PASSKEY_RP_ID": str,
    "PASSKEY_ORIGIN": str,
    "PASSKEY_RP_NAME": str,
    "PASSKEY_CHALLENGE_SECONDS": int,
    "PASSKEY_REQUIRED_ROLES": lambda v: tuple(r.strip() for r in v.split(",") if r.strip()),
}

HOST_PREFIX = "__Host-"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name


def load_config(instance_path: Path, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Merge defaults, `instance/clinic.cfg.py`, `CLINIC_*`/named environment
    variables and explicit overrides (tests), in that order."""
    config = dict(DEFAULTS)
    ensure_private_folder(instance_path)
    config_file = instance_path / "clinic.cfg.py"
    if config_file.exists():
        namespace: dict[str, Any] = {}
        exec(compile(config_file.read_text(), str(config_file), "exec"), namespace)  # noqa: S102 - operator-owned file
        config.update({k: v for k, v in namespace.items() if k.isupper()})
    for name, parse in _ENVIRONMENT.items():
        if name in os.environ:
            config[name] = parse(os.environ[name])
    config.update(overrides or {})

    explicit_secure = (
        "SESSION_COOKIE_SECURE" in (overrides or {}) or "SESSION_COOKIE_SECURE" in os.environ
    )
    if config["CLINIC_ENV"] == "development" and not explicit_secure:
        # Plain http://127.0.0.1 in development: browsers drop Secure cookies there.
        config["SESSION_COOKIE_SECURE"] = False
    if config["SESSION_COOKIE_SECURE"] and not config["SESSION_COOKIE_NAME"].startswith(
        HOST_PREFIX
    ):
        # "__Host-": browsers accept it only Secure, for this host alone (no Domain)
        # and for the whole site (Path=/), so neither a sibling subdomain nor plain
        # HTTP can plant or overwrite the session cookie.
        config["SESSION_COOKIE_NAME"] = HOST_PREFIX + config["SESSION_COOKIE_NAME"]
        config["SESSION_COOKIE_DOMAIN"] = None
        config["SESSION_COOKIE_PATH"] = "/"
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance_path / 'clinic.sqlite3'}"
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _instance_secret_key(instance_path)
    _check_timezone(config["CLINIC_TIMEZONE"])
    return config


def check_public_address(config: dict[str, Any]) -> None:
    """A production app that would build its absolute URLs from any Host header a
    client sends does not start: FHIR_BASE_URL or TRUSTED_HOSTS must say where it is
    served (development and tests may use the request's host)."""
    relaxed = config["CLINIC_ENV"] == "development" or config.get("TESTING") or config.get("DEBUG")
    if relaxed or config.get("FHIR_BASE_URL") or config.get("TRUSTED_HOSTS"):
        return
    raise SystemExit(
        "Set FHIR_BASE_URL (e.g. https://clinic.example.org/fhir) or TRUSTED_HOSTS "
        "(the host names this clinic is served under, separated by commas): without one, "
        "links the FHIR API returns would follow whatever Host header a client sends."
    )


PHISHING_RESISTANT_ROLES = ("police", "admin")


def check_passkey_requirement(config: dict[str, Any]) -> str | None:
    """Police and administrators sign in with a passkey. A list of roles that
    leaves either out stops a production app from starting; in development and
    tests it is allowed (the demo on http://127.0.0.1 cannot use passkeys) and
    answers the warning to print loudly."""
    from clinic.access.roles import Role

    roles = set(config["PASSKEY_REQUIRED_ROLES"])
    unknown = roles - {role.value for role in Role}
    if unknown:
        raise SystemExit(
            f"PASSKEY_REQUIRED_ROLES names unknown roles: {', '.join(sorted(unknown))}"
        )
    left_out = [role for role in PHISHING_RESISTANT_ROLES if role not in roles]
    if not left_out:
        return None
    warning = (
        f"PASSKEYS ARE NOT REQUIRED FOR {' AND '.join(left_out).upper()}: they sign in with an "
        "app code. Demo and tests only; never in production."
    )
    if config["CLINIC_ENV"] == "development" or config.get("TESTING"):
        return warning
    raise SystemExit(
        f"PASSKEY_REQUIRED_ROLES leaves out {', '.join(left_out)}: police officers and "
        "administrators must sign in with a passkey in production."
    )


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfoNotFoundError

    from clinic.core.clock import zone

    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SystemExit(
            f"CLINIC_TIMEZONE={name!r} is not a time zone this machine knows "
            "(an IANA name such as Europe/London)"
        ) from error


def ensure_private_folder(path: Path) -> None:
    """The instance folder holds the database, keys and demo logins: owner only."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _instance_secret_key(instance_path: Path) -> str:
    """Read the secret key kept in the instance folder, creating it (mode 0600) once."""
    key_file = instance_path / SECRET_KEY_FILE
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        key = secrets.token_urlsafe(48)
        handle.write(key + "\n")
    return key
