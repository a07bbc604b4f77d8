"""The `clinic` command: database, users, tokens, demo data, audit and exports.

Each command runs in one unit of work: committed when it succeeds, rolled back
(with its audit records kept) when it fails.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import FlaskGroup

from clinic.access.roles import OrganizationKind, Role
from clinic.audit.services import EventKind, Outcome


def _create_app_for_cli() -> Any:
    from clinic import create_app

    return create_app({"CHECK_SCHEMA": "on-request", "FOR_CLI": True})


cli = FlaskGroup(
    create_app=_create_app_for_cli,
    add_version_option=False,
    load_dotenv=False,
    help="Manage the clinic: database, accounts, tokens, demo data, audit trail and exports.",
)


@contextmanager
def unit_of_work(*, check_schema: bool = True) -> Iterator[Any]:
    from clinic.core.db import CommitOutcomeUnknown, db
    from clinic.core.schema import SchemaOutOfDate, check_schema_current
    from clinic.core.unit_of_work import UnitOfWork

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if check_schema:
        try:
            check_schema_current(app)
        except SchemaOutOfDate as error:
            raise click.ClickException(str(error)) from error
    uow = UnitOfWork(db.session)
    try:
        yield uow
    except BaseException as error:
        uow.fail(Outcome.MINOR_FAILURE, f"command failed: {error}"[:500])
        raise
    try:
        uow.commit()
    except CommitOutcomeUnknown as error:
        raise click.ClickException(
            "the connection to the database broke during the COMMIT: whether this"
            " command's changes were saved is not known; look before running it again"
            f" ({str(error).strip()})"
        ) from error


def _fail(error: Exception) -> click.ClickException:
    return click.ClickException(getattr(error, "message", None) or str(error))


def _user_by_name(uow: Any, username: str) -> Any:
    from clinic.accounts.models import User
    from clinic.accounts.services import normalise_username

    user = uow.session.scalar(sa.select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise click.ClickException(f"there is no user {username!r}")
    return user


def _usable_user_by_name(uow: Any, username: str) -> Any:
    """The account, refused unless it may act now (`account_usable`)."""
    from clinic.accounts.services import account_usable

    user = _user_by_name(uow, username)
    if not account_usable(user):
        raise click.ClickException(
            f"{username} is deactivated, out of its period or of an inactive organisation"
        )
    return user


# -- database ------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest revision (creates it when empty)."""
    from clinic.core.schema import current_revision, head_revision, upgrade

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    before = current_revision(app)
    upgrade(app)
    click.echo(f"database at revision {head_revision(app)} (was {before or 'empty'})")


@db.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one."""
    from clinic.core.schema import current_revision, head_revision

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"database: {current_revision(app) or 'empty'}; newest: {head_revision(app)}")


# -- organisations and users ------------------------------------------------------


@cli.group()
def orgs() -> None:
    """Clinic sites and partner organisations."""


@orgs.command("create")
@click.option("--kind", type=click.Choice([k.value for k in OrganizationKind]), required=True)
@click.option("--name", required=True)
@click.option("--code", required=True, help="Short unique code, e.g. NORTH.")
def orgs_create(kind: str, name: str, code: str) -> None:
    from clinic.accounts.services import AccountError, create_organization

    with unit_of_work() as uow:
        try:
            organization = create_organization(
                uow,
                current_app.extensions["clinic.profiles"],
                actor=None,
                kind=OrganizationKind(kind),
                name=name,
                code=code,
            )
        except AccountError as error:
            raise _fail(error) from error
    click.echo(f"created {kind} {organization.code} ({organization.id})")


@orgs.command("activate")
@click.argument("code")
def orgs_activate(code: str) -> None:
    """Reactivate an organisation (its accounts can act again)."""
    _set_organization_active(code, True)


@orgs.command("deactivate")
@click.argument("code")
def orgs_deactivate(code: str) -> None:
    """Deactivate an organisation: none of its accounts can sign in, keep a session
    or use a token while it stays inactive."""
    _set_organization_active(code, False)


def _set_organization_active(code: str, active: bool) -> None:
    from clinic.accounts.models import Organization
    from clinic.accounts.services import AccountError, update_organization

    with unit_of_work() as uow:
        organization = uow.session.scalar(
            sa.select(Organization).where(Organization.code == code.strip().upper())
        )
        if organization is None:
            raise click.ClickException(f"no organisation has the code {code}")
        try:
            update_organization(
                uow,
                current_app.extensions["clinic.profiles"],
                organization,
                actor=None,
                name=organization.name,
                is_active=active,
            )
        except AccountError as error:
            raise _fail(error) from error
    click.echo(f"{organization.code} is {'active' if active else 'inactive'}")


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="The person's full name.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--org", "org_code", required=True, help="Code of the site or organisation.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(
    username: str, display_name: str, role: str, org_code: str, password_stdin: bool
) -> None:
    """Create an account; the password is prompted for (or read from stdin)."""
    from clinic.accounts.models import Organization
    from clinic.accounts.services import AccountError, create_user

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    )
    with unit_of_work() as uow:
        organization = uow.session.scalar(
            sa.select(Organization).where(Organization.code == org_code.upper())
        )
        if organization is None:
            raise click.ClickException(f"there is no organisation with code {org_code!r}")
        try:
            user = create_user(
                uow,
                actor=None,
                username=username,
                display_name=display_name,
                role=Role(role),
                organization_id=organization.id,
                password=password,
            )
        except AccountError as error:
            raise _fail(error) from error
    click.echo(f"created {role} {user.username} at {organization.code}")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Deactivate an account: its sessions end and its tokens are revoked at once."""
    from clinic.accounts.services import set_user_active

    with unit_of_work() as uow:
        set_user_active(uow, _user_by_name(uow, username), actor=None, is_active=False)
    click.echo(f"deactivated {username}; its sessions ended and its tokens were revoked")


@cli.group()
def accounts() -> None:
    """Account hygiene."""


@accounts.command("expire")
def accounts_expire() -> None:
    """Deactivate every account unused for ACCOUNT_UNUSED_DEACTIVATE_DAYS (no sign-in,
    no API token use, no renewal): meant for a daily timer."""
    from datetime import timedelta

    from flask import current_app

    from clinic.admin.hygiene import expire_unused

    with unit_of_work() as uow:
        days = int(current_app.config["ACCOUNT_UNUSED_DEACTIVATE_DAYS"])
        expired = expire_unused(uow, after=timedelta(days=days))
    for username in expired:
        click.echo(f"deactivated {username}: unused for more than {days} days")
    click.echo(f"{len(expired)} accounts deactivated")


# -- tokens ----------------------------------------------------------------------


@cli.group()
def tokens() -> None:
    """Bearer tokens for the FHIR API."""


@tokens.command("create")
@click.option("--username", required=True, help="The user the token acts as.")
@click.option("--name", required=True, help="What will use the token.")
@click.option("--days", type=int, default=None, help="Lifetime in days (default 90).")
def tokens_create(username: str, name: str, days: int | None) -> None:
    """Create a token and print it once. Only its hash is kept."""
    from clinic.accounts.services import AccountError, actor_for, create_token

    with unit_of_work() as uow:
        user = _usable_user_by_name(uow, username)
        try:
            issued = create_token(
                uow,
                actor=actor_for(user),
                name=name,
                days=days or current_app.config["API_TOKEN_DEFAULT_DAYS"],
                max_days=current_app.config["API_TOKEN_MAX_DAYS"],
            )
        except AccountError as error:
            raise _fail(error) from error
    click.echo(
        f"token {issued.token.id} for {user.username}, expires {issued.token.expires_at:%Y-%m-%d}:"
    )
    click.echo(issued.secret)


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    from clinic.accounts.models import ApiToken
    from clinic.accounts.services import actor_for, revoke_token

    with unit_of_work() as uow:
        token = uow.session.get(ApiToken, token_id)
        if token is None:
            raise click.ClickException(f"there is no token {token_id}")
        revoke_token(uow, token_id, actor=actor_for(token.user))
    click.echo(f"revoked {token_id}")


# -- audit ------------------------------------------------------------------------


@cli.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's Merkle tree from the stored events; exit 1 on any mismatch."""
    from clinic.audit.services import AUDIT_LOG, verify_audit_trail
    from clinic.ledger.services import log_origin

    with unit_of_work() as uow:
        report = verify_audit_trail(uow.session, log_origin(current_app.config, AUDIT_LOG))
    _echo_report("audit", "events", report)


def _echo_report(log_name: str, noun: str, report: Any) -> None:
    if report.is_valid:
        pending = f"; {report.pending} not yet integrated" if report.pending else ""
        click.echo(
            f"{log_name} log verified: {report.size} {noun}, root matches, "
            f"{report.checkpoints} signed checkpoint(s) verify, "
            f"{report.exported} exported checkpoint(s) match{pending}"
        )
        return
    click.echo(f"{log_name} log NOT valid: {report.problem}", err=True)
    sys.exit(1)


@cli.group()
def custody() -> None:
    """The chain-of-custody log."""


@custody.command("verify")
def custody_verify() -> None:
    """Recompute the custody log's Merkle tree from the stored custody events and
    photograph intakes; exit 1 on any mismatch."""
    from clinic.evidence.services import CUSTODY_LOG, verify_custody_log
    from clinic.ledger.services import log_origin

    with unit_of_work() as uow:
        report = verify_custody_log(uow.session, log_origin(current_app.config, CUSTODY_LOG))
        _audit_operator(uow, EventKind.READ, "CustodyLog")
    _echo_report("custody", "entries", report)


@audit.command("proof")
@click.argument("log_index", type=int)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".")
)
def audit_proof(log_index: int, out_dir: Path) -> None:
    """Export audit entry LOG_INDEX as JSON with its c2sp.org/tlog-proof, for
    offline checking with `clinic-verify`."""
    from clinic.audit.models import AuditEntry
    from clinic.audit.services import AUDIT_LOG
    from clinic.ledger.services import LedgerError, export_proof

    with unit_of_work() as uow:
        entry = uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.log_index == log_index))
        if entry is None:
            raise click.ClickException(f"there is no audit entry {log_index}")
        try:
            proof = export_proof(uow.session, AUDIT_LOG, log_index)
        except LedgerError as error:
            raise click.ClickException(str(error)) from error
        event = entry.leaf_fields()
        _audit_operator(uow, EventKind.EXPORT, f"AuditEvent/{entry.id}")
    out_dir.mkdir(parents=True, exist_ok=True)
    event_file = out_dir / f"audit-{log_index}.json"
    proof_file = out_dir / f"audit-{log_index}.tlog-proof"
    event_file.write_text(json.dumps(event, ensure_ascii=False, indent=1) + "\n")
    proof_file.write_text(proof.text())
    click.echo(f"wrote {event_file} and {proof_file}")


def _audit_operator(uow: Any, kind: Any, reference: str) -> None:
    from clinic.audit.services import AuditRecord

    uow.audit(AuditRecord(kind=kind, channel="cli", actor=None, entities=(reference,)))


# -- keys and checkpoints ---------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Log signing keys (Ed25519, c2sp.org/signed-note)."""


@keys.command("generate")
@click.option("--log", "log_name", default="audit", show_default=True)
def keys_generate(log_name: str) -> None:
    """Create (or rotate) the signing key of a log. The private key goes to
    instance/keys/ (mode 0600); the public key is published at
    /.well-known/transparency-log-keys and kept after rotation."""
    from clinic.ledger.services import generate_key, log_origin

    name = log_origin(current_app.config, log_name)
    with unit_of_work() as uow:
        signer = generate_key(uow.session, Path(current_app.instance_path), name)
        _audit_operator(uow, EventKind.CREATE, f"SigningKey/{signer.verifier.key_id.hex()}")
    click.echo(f"new signing key for {name}; its verifier key (publish it):")
    click.echo(str(signer.verifier))


@keys.command("list")
def keys_list() -> None:
    """Every verifier key in the database, current and retired, and whether the
    trusted keys file (LOG_VERIFIER_KEYS) lists it: only those are used."""
    from clinic.ledger.models import SigningKey
    from clinic.ledger.services import trusted_keys

    trusted = {str(key) for key in trusted_keys()}
    with unit_of_work() as uow:
        for key in uow.session.scalars(sa.select(SigningKey).order_by(SigningKey.created_at)):
            state = f"retired {key.retired_at:%Y-%m-%d}" if key.retired_at else "current"
            if key.verifier_key not in trusted:
                state += ", NOT TRUSTED: not in the trusted keys file"
            click.echo(f"{key.verifier_key}  ({state})")


@keys.command("trust")
@click.argument("verifier_keys", nargs=-1)
def keys_trust(verifier_keys: tuple[str, ...]) -> None:
    """Add verifier keys to the trusted keys file (LOG_VERIFIER_KEYS). Without
    arguments: the keys whose private halves are in instance/keys/, current and
    retired (for a clinic whose keys were made before the file existed). Never
    from the database: a key found only there is not to be believed."""
    from clinic.ledger.services import app_log_files, instance_signers
    from clinic.ledger.standalone import VerificationError, parse_verifier_key

    files = app_log_files()
    try:
        wanted = [parse_verifier_key(text) for text in verifier_keys] or [
            signer.verifier for signer in instance_signers(Path(current_app.instance_path))
        ]
    except VerificationError as error:
        raise click.ClickException(str(error)) from error
    if not wanted:
        raise click.ClickException("there are no log signing keys in instance/keys/")
    for key in wanted:
        added = files.trust(key)
        click.echo(f"{'trusted' if added else 'already trusted'}: {key}")
    click.echo(f"trusted keys file: {files.verifier_keys_file}")


@cli.group("media-key")
def media_key() -> None:
    """The media key: it wraps every photograph's data key. Kept in
    instance/keys/media.key (mode 0600), never in the database. Back it up apart
    from the database: a lost media key is lost photographs."""


@media_key.command("status")
def media_key_status() -> None:
    """The current media key's id, how many photographs each key protects, and
    anything wrong: a damaged or missing key, a rotation left half done."""
    from clinic.media.vault import key_report

    keyring = current_app.extensions["clinic.media_keys"]
    with unit_of_work() as uow:
        report = key_report(uow.session, keyring)
    for line in report.lines:
        click.echo(line)
    if report.problems:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        sys.exit(1)


@media_key.command("rotate")
def media_key_rotate() -> None:
    """Make a new media key and re-wrap every photograph's data key under it, in
    one transaction; the photographs themselves are not re-encrypted. The old key
    is kept as media.<id>.retired for backups taken before the rotation. A
    rotation left half done is first finished (if it committed) or its unused key
    set aside; no key file is ever deleted. The whole rotation holds the key
    folder's lock: a second rotation meanwhile is refused at once (exit 1)."""
    from clinic.media.vault import VaultError, key_ids_in_use, rewrap_all

    keyring = current_app.extensions["clinic.media_keys"]

    def settle() -> None:
        with unit_of_work() as uow:
            in_use = key_ids_in_use(uow.session)
        settled = keyring.settle_rotation(in_use)
        if settled:
            click.echo(settled)

    try:
        with keyring.lock(wait=False):
            settle()
            old, new = keyring.begin_rotation()
            try:
                with unit_of_work() as uow:
                    count = rewrap_all(uow.session, keyring, old, new)
                    _audit_operator(uow, EventKind.UPDATE, f"MediaKey/{new.key_id}")
            except BaseException:
                # Whether the re-wrap committed is the database's to say, not ours to guess.
                settle()
                raise
            keyring.finish_rotation()
    except VaultError as error:
        raise _fail(error) from error
    click.echo(f"media key {old.key_id} replaced by {new.key_id}; {count} photograph(s) re-wrapped")
    click.echo(
        f"back up instance/keys/media.key now; keep media.{old.key_id}.retired with older backups"
    )


@cli.group()
def log() -> None:
    """Transparency logs: integration, signed checkpoints."""


@log.command("integrate")
@click.option("--follow", is_flag=True, help="Keep integrating, every --interval seconds.")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=10_000, show_default=True)
def log_integrate(follow: bool, interval: float, batch: int) -> None:
    """Sequence the records written since the last integration into the Merkle logs."""
    import time

    from clinic.core.db import db
    from clinic.ledger.services import integrate_all

    while True:
        added = integrate_all(db.session, wait=True, batch=batch)
        if not follow:
            click.echo(f"integrated {added} record(s)")
            return
        if added:
            click.echo(f"integrated {added} record(s)")
        time.sleep(interval)


@log.command("consistency")
@click.option("--log", "log_name", default="audit", show_default=True)
@click.argument("old_size")
@click.argument("new_size", required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write old.checkpoint, new.checkpoint and the proof there, for clinic-verify.",
)
def log_consistency(
    log_name: str, old_size: str, new_size: str | None, out_dir: Path | None
) -> None:
    """Print the RFC 9162 consistency proof between two tree sizes, one base64
    hash a line: that the tree of OLD_SIZE is a prefix of the tree of NEW_SIZE
    (default: the newest signed checkpoint's size)."""
    from clinic.ledger.services import LedgerError, parse_tree_size, prove_log_consistency

    with unit_of_work() as uow:
        try:
            proof = prove_log_consistency(
                uow.session,
                log_name,
                parse_tree_size("OLD_SIZE", old_size),
                None if new_size is None else parse_tree_size("NEW_SIZE", new_size),
            )
        except LedgerError as error:
            raise click.ClickException(str(error)) from error
        _audit_operator(
            uow, EventKind.READ, f"LogConsistency/{log_name}/{proof.old_size}/{proof.new_size}"
        )
    click.echo(proof.text(), nl=False)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in (
            (f"{log_name}-{proof.old_size}.checkpoint", proof.old_checkpoint),
            (f"{log_name}-{proof.new_size}.checkpoint", proof.new_checkpoint),
            (f"{log_name}-{proof.old_size}-{proof.new_size}.consistency", proof.text()),
        ):
            if content is not None:
                (out_dir / name).write_text(content)
                written.append(name)
        click.echo(f"wrote {', '.join(written)} in {out_dir}", err=True)


@log.command("checkpoint")
@click.option("--log", "log_name", default="audit", show_default=True)
def log_checkpoint(log_name: str) -> None:
    """Integrate what is pending, then sign the log's current tree head (run it on
    a schedule, e.g. hourly)."""
    from clinic.core.db import db
    from clinic.ledger.services import (
        LedgerError,
        active_signer,
        app_log_files,
        create_checkpoint,
        integrate_all,
        log_origin,
    )

    name = log_origin(current_app.config, log_name)
    integrate_all(db.session)
    with unit_of_work() as uow:
        try:
            signer = active_signer(uow.session, Path(current_app.instance_path), name)
        except LedgerError as error:
            raise click.ClickException(str(error)) from error
        checkpoint = create_checkpoint(uow.session, log_name, name, signer)
        note = checkpoint.note
        _audit_operator(uow, EventKind.CREATE, f"LogCheckpoint/{log_name}/{checkpoint.tree_size}")
    click.echo(note, nl=False)
    click.echo(
        f"exported to {app_log_files().export_path(log_name)}: ship that file off this machine",
        err=True,
    )


# -- exports ------------------------------------------------------------------------


@cli.group()
def fhir() -> None:
    """FHIR exports, decided and audited like any other read."""


@fhir.command("export")
@click.option(
    "--username", required=True, help="The user the export is made for; their access applies."
)
@click.option("--type", "resource_type", required=True)
def fhir_export(username: str, resource_type: str) -> None:
    """Write every resource of a type that the user may see, as NDJSON on stdout."""
    from clinic.access import AccessDenied
    from clinic.accounts.services import actor_for
    from clinic.fhir.outcome import FhirError
    from clinic.fhir.services import Caller, export_resources

    with unit_of_work() as uow:
        user = _usable_user_by_name(uow, username)
        caller = Caller(uow, actor_for(user), "cli", current_app.extensions["clinic.profiles"])
        try:
            for version in export_resources(caller, resource_type):
                click.echo(json.dumps(version.content, separators=(",", ":"), ensure_ascii=False))
        except (FhirError, AccessDenied) as error:
            raise click.ClickException(f"refused: {error}") from error


# -- demo ---------------------------------------------------------------------------


@cli.command("demo")
def demo() -> None:
    """Load demo sites, organisations, one user per role and a few survivors.
    Safe to run again: it adds only what is missing and prints the logins."""
    from clinic.demo import load_demo

    with unit_of_work() as uow:
        logins = load_demo(uow, current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("Demo logins (also in instance/demo-logins.txt; demo accounts only):")
    click.echo(f"  {'username':<18} {'role':<11} {'site':<7} {'password':<22} authenticator key")
    for username, role, site, password, key in logins:
        click.echo(f"  {username:<18} {role:<11} {site:<7} {password:<22} {key}")
    click.echo(
        "Sign-in asks for a code too: add the key to an authenticator app, or run "
        "`clinic demo-code USERNAME` for the current one."
    )


@cli.command("demo-code")
@click.argument("username")
def demo_code(username: str) -> None:
    """Print the current sign-in code of a demo account (from instance/demo-logins.txt;
    no other account has its key anywhere but encrypted in the database)."""
    import pyotp

    from clinic.demo import read_demo_keys

    keys = read_demo_keys(Path(current_app.instance_path))
    key = keys.get(username.strip().casefold())
    if key is None:
        raise click.ClickException(f"{username} is not a demo account (see `clinic demo`).")
    click.echo(pyotp.TOTP(key).now())


def main() -> None:
    cli(prog_name="clinic")
