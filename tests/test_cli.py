"""The `clinic` command against a real database, as an operator runs it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clinic.cli import cli
from tests.conftest import PASSWORD
from tests.helpers import api


@pytest.fixture
def run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "cli-test",
    }

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)

    return invoke


def test_db_upgrade_is_idempotent_and_reports_the_revision(run) -> None:  # type: ignore[no-untyped-def]
    result = run("db", "upgrade")
    assert result.exit_code == 0
    from clinic.core.schema import MIGRATIONS

    newest = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("0*.py"))
    assert f"database at revision {newest}" in result.output
    assert f"newest: {newest}" in run("db", "current").output


def test_users_create_and_tokens_create(run, app) -> None:  # type: ignore[no-untyped-def]
    created = run(
        "users",
        "create",
        "--username",
        "new.nurse",
        "--name",
        "New Nurse",
        "--role",
        "examiner",
        "--org",
        "south",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    issued = run(
        "tokens", "create", "--username", "new.nurse", "--name", "ehr bridge", "--days", "10"
    )
    assert issued.exit_code == 0
    secret = issued.output.strip().splitlines()[-1]
    assert secret.startswith("fct_")
    assert api(app.test_client(), "GET", "/fhir/Patient", secret).status_code == 200
    token_id = issued.output.split()[1]
    assert run("tokens", "revoke", token_id).exit_code == 0
    assert api(app.test_client(), "GET", "/fhir/Patient", secret).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "users",
                "create",
                "--username",
                "no.org",
                "--name",
                "X",
                "--role",
                "examiner",
                "--org",
                "NOPE",
                "--password-stdin",
            ),
            "no organisation",
        ),
        (
            (
                "users",
                "create",
                "--username",
                "bad.officer",
                "--name",
                "X",
                "--role",
                "police",
                "--org",
                "NORTH",
                "--password-stdin",
            ),
            "belongs to a police force",
        ),
        (
            (
                "users",
                "create",
                "--username",
                "short.pass",
                "--name",
                "X",
                "--role",
                "examiner",
                "--org",
                "NORTH",
                "--password-stdin",
            ),
            "at least 12",
        ),
        (("tokens", "create", "--username", "ghost", "--name", "x"), "no user"),
    ],
)
def test_bad_cli_input_gets_a_clear_error(run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, stdin="short\n" if "short.pass" in args else PASSWORD + "\n")
    assert result.exit_code != 0
    assert message in result.output


def test_users_deactivate_revokes_tokens(run, app, world) -> None:  # type: ignore[no-untyped-def]
    assert run("users", "deactivate", "counsellor").exit_code == 0
    assert (
        api(app.test_client(), "GET", "/fhir/Patient", world["counsellor"].token).status_code == 401
    )


def test_export_goes_through_the_decision_point(run, app, world) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import create, patient

    client = app.test_client()
    north = create(client, world["examiner"].token, patient("SA-EXPORT-N"))
    south = create(client, world["examiner.south"].token, patient("SA-EXPORT-S"))
    exported = run("fhir", "export", "--username", "examiner", "--type", "Patient")
    ids = [json.loads(line)["id"] for line in exported.output.splitlines()]
    assert north["id"] in ids
    assert south["id"] not in ids
    refused = run("fhir", "export", "--username", "custodian", "--type", "Patient")
    assert refused.exit_code != 0
    assert "refused" in refused.output
    assert run("fhir", "export", "--username", "officer", "--type", "Patient").output == ""
    police_events = api(
        client, "GET", "/fhir/AuditEvent?subtype=export&altid=officer", world["auditor"].token
    ).get_json()
    assert [e["resource"]["outcome"] for e in police_events["entry"]] == ["4"]
    audit = api(client, "GET", "/fhir/AuditEvent?subtype=export", world["auditor"].token).get_json()
    assert {e["resource"]["agent"][0]["altId"] for e in audit["entry"]} >= {
        "examiner",
        "custodian",
        "officer",
    }


def test_demo_is_idempotent_and_keeps_its_logins_private(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = run("demo")
    assert first.exit_code == 0, first.output
    second = run("demo")
    assert second.exit_code == 0
    assert first.output == second.output
    logins = tmp_path / "instance" / "demo-logins.txt"
    assert stat.S_IMODE(os.stat(logins).st_mode) == 0o600
    assert "examiner" in logins.read_text()


def test_demo_accounts_have_their_second_factor_set_up(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyotp

    shown = run("demo")
    assert "authenticator key" in shown.output
    fields = {
        line.split()[0]: line.split()
        for line in (tmp_path / "instance" / "demo-logins.txt").read_text().splitlines()
        if not line.startswith("#")
    }
    key = fields["examiner"][4]
    assert key in shown.output
    code = run("demo-code", "examiner")
    assert code.exit_code == 0
    assert pyotp.TOTP(key).verify(code.output.strip(), valid_window=1)
    # Kept across runs: the app a newcomer set up goes on working.
    run("demo")
    assert key in (tmp_path / "instance" / "demo-logins.txt").read_text()
    refused = run("demo-code", "someone.else")
    assert refused.exit_code != 0
    assert "not a demo account" in refused.output


def test_demo_cases_carry_a_signed_exam_and_exams_to_resume(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    assert run("demo").exit_code == 0
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            statuses = sorted(connection.exec_driver_sql("SELECT status FROM exams").scalars())
            reports = connection.exec_driver_sql(
                "SELECT count(*) FROM fhir_resources WHERE resource_type = 'Composition'"
            ).scalar()
    finally:
        engine.dispose()
    assert statuses == ["in-progress", "in-progress", "signed"]
    assert reports == 1


def test_audit_verify(run) -> None:  # type: ignore[no-untyped-def]
    result = run("audit", "verify")
    assert result.exit_code == 0
    assert "audit log verified" in result.output


def test_audit_proof_exports_a_verifiable_entry_and_is_audited(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from clinic.ledger.standalone import main as verify_main

    refused = run("audit", "proof", "0", "--out", str(tmp_path))
    assert refused.exit_code != 0
    assert "no checkpoint" in refused.output
    key = run("keys", "generate").output.strip().splitlines()[-1]
    assert run("log", "checkpoint").exit_code == 0
    exported = run("audit", "proof", "2", "--out", str(tmp_path))
    assert exported.exit_code == 0, exported.output
    assert (
        verify_main(
            ["--key", key, str(tmp_path / "audit-2.json"), str(tmp_path / "audit-2.tlog-proof")]
        )
        == 0
    )
    assert "1 signed checkpoint(s) verify" in run("audit", "verify").output


def test_checkpoints_are_exported_and_a_later_one_is_checked_against_an_earlier(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, capsys
) -> None:
    from clinic.ledger.standalone import main as verify_main

    instance = tmp_path / "instance"
    assert run("keys", "generate").exit_code == 0
    first = run("log", "checkpoint")
    assert f"exported to {instance / 'checkpoints' / 'audit.log'}" in first.stderr
    old_size = first.stdout.split("\n")[1]
    run("keys", "list")  # more audit entries
    second = run("log", "checkpoint").stdout
    new_size = second.split("\n")[1]
    export = instance / "checkpoints" / "audit.log"
    assert export.read_text() == f"{first.stdout}\n{second}\n"
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert (
        "2 signed checkpoint(s) verify, 2 exported checkpoint(s) match"
        in run("audit", "verify").output
    )

    out = tmp_path / "proofs"
    proved = run("log", "consistency", old_size, "--out", str(out))
    assert proved.exit_code == 0, proved.output
    files = [
        str(out / f"audit-{old_size}.checkpoint"),
        str(out / f"audit-{new_size}.checkpoint"),
        str(out / f"audit-{old_size}-{new_size}.consistency"),
    ]
    keys = str(instance / "log-verifier-keys.txt")
    capsys.readouterr()
    assert verify_main(["consistency", "--key", keys, *files]) == 0, capsys.readouterr().out
    assert verify_main(["consistency", "--key", keys, files[1], files[0], files[2]]) == 1
    assert "fewer than the older one's" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("0", "2"), "at least 1"),
        (("abc",), "OLD_SIZE must be a whole number"),
        (("3", "2"), "larger than the newer size"),
        (("1", "999999"), "fewer than 999999"),
        (("1", "9" * 30), "larger than any log"),
        (("1",), "no signed checkpoint yet"),
        (("--log", "nothing", "1", "2"), "there is no log 'nothing'"),
    ],
)
def test_log_consistency_refuses_bad_sizes_clearly(
    run, args: tuple[str, ...], message: str
) -> None:  # type: ignore[no-untyped-def]
    result = run("log", "consistency", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_keys_trust_takes_the_instance_keys_never_the_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trusted = tmp_path / "instance" / "log-verifier-keys.txt"
    key = run("keys", "generate").output.strip().splitlines()[-1]
    assert trusted.read_text() == key + "\n"
    trusted.unlink()  # keys made before the file existed
    assert run("log", "checkpoint").exit_code != 0
    assert "NOT TRUSTED" in run("keys", "list").output
    assert "which the trusted keys file" in run("audit", "verify").output
    assert f"trusted: {key}" in run("keys", "trust").output
    assert trusted.read_text() == key + "\n"
    assert "already trusted" in run("keys", "trust", key).output
    assert "not a valid key name" in run("keys", "trust", "a b+00+AA").output
    assert run("log", "checkpoint").exit_code == 0
    assert run("audit", "verify").exit_code == 0


# Every command, and why it may run without asking the decision point about any
# survivor's record: only `fhir export` reads clinical content, and it asks.
OPERATOR_COMMANDS = {
    "db upgrade": "schema migrations; reads no record",
    "db current": "schema revision only",
    "orgs create": "directory entry; written as the operator, audited",
    "orgs activate": "directory entry; written as the operator, audited",
    "orgs deactivate": "directory entry; written as the operator, audited",
    "users create": "accounts; no clinical content",
    "users deactivate": "accounts; no clinical content",
    "accounts expire": "deactivates accounts unused too long; no clinical content",
    "tokens create": "the named user's own token",
    "tokens revoke": "a token, by id",
    "audit verify": "checks the audit log's hashes; prints no entry",
    "audit proof": "an inclusion proof for one audit entry: hashes, no content",
    "keys generate": "signing keys",
    "keys list": "public key ids",
    "keys trust": "adds verifier keys to the trusted keys file; no record",
    "log checkpoint": "signs the log's root; no entry content",
    "log consistency": "hashes proving one tree size a prefix of another; no entry content",
    "log integrate": "sequences stored records into the Merkle logs; prints a count",
    "custody verify": "checks the custody log's hashes; prints no entry",
    "media-key status": "the media key's id and a count of photos per key; no photo",
    "media-key rotate": "re-wraps photos' data keys; reads and shows no photo",
    "demo": "loads demo data as the operator",
    "demo-code": "a demo account's current sign-in code, from the demo logins file",
    "run": "serves the app: every request goes through the route rules and the decision point",
    "routes": "lists the URL rules; reads no record",
    "shell": "Flask's Python shell: as powerful as the database password, for operators only",
}
READS_THROUGH_THE_DECISION_POINT = {"fhir export"}


def _commands(group, prefix: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    import click

    found: set[str] = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found |= _commands(command, f"{path} ")
        else:
            found.add(path)
    return found


def test_every_cli_command_is_accounted_for() -> None:
    assert _commands(cli) == set(OPERATOR_COMMANDS) | READS_THROUGH_THE_DECISION_POINT


def test_the_cli_export_asks_the_decision_point_for_every_record(run, app, world) -> None:  # type: ignore[no-untyped-def]
    from clinic.access.policy import DECISION_LISTENERS
    from tests.helpers import create, patient

    client = app.test_client()
    made = [
        create(client, world["examiner"].token, patient(f"SA-WALK-{n}"))["id"] for n in range(3)
    ]
    asked: list[str] = []

    def listener(actor, action, kind, resource, decision) -> None:  # type: ignore[no-untyped-def]
        if resource is not None:
            asked.append(resource.logical_id)

    DECISION_LISTENERS.append(listener)
    try:
        for username in ("examiner", "counsellor"):
            asked.clear()
            result = run("fhir", "export", "--username", username, "--type", "Patient")
            assert result.exit_code == 0
            assert set(made) <= set(asked), username  # each record decided on its own
            exported = {json.loads(line)["id"] for line in result.output.splitlines()}
            assert exported == (set(made) if username == "examiner" else set())
    finally:
        DECISION_LISTENERS.remove(listener)


def test_an_operator_deactivates_and_reactivates_an_organisation(run, app, world) -> None:  # type: ignore[no-untyped-def]
    """The command line turns an organisation off and on again, which no
    administrator of that organisation can do for themselves; a token of an
    account of it fails while it is inactive and `tokens create` refuses it."""
    officer = world["officer"]
    deactivated = run("orgs", "deactivate", "riverpol")
    assert deactivated.exit_code == 0, deactivated.output
    assert "RIVERPOL is inactive" in deactivated.output
    assert api(app.test_client(), "GET", "/fhir/Patient", officer.token).status_code == 401
    refused = run("tokens", "create", "--username", officer.username, "--name", "x")
    assert refused.exit_code != 0
    assert "inactive organisation" in refused.output
    assert run("orgs", "activate", "RIVERPOL").exit_code == 0
    assert api(app.test_client(), "GET", "/fhir/Patient", officer.token).status_code == 200
    assert "no organisation has the code" in run("orgs", "activate", "NOWHERE").output
