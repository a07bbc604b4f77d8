"""Account hygiene through HTTP and the command line: unused accounts listed,
renewed or deactivated; refused at sign-in once unused too long; the periodic
access review confirmed with who, when and the hash of what was reviewed."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import ApiToken, User, UserSession
from clinic.admin.models import AccessReview, AccountRenewal
from clinic.cli import cli
from clinic.core.clock import utcnow
from tests.conftest import PASSWORD, World
from tests.helpers import csrf_token, login

GUESSED_ID = "00000000-0000-4000-8000-000000000000"


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def _age(engine: sa.Engine, username: str, days: int) -> None:
    """Make the account look created, signed in and used `days` ago, and no later."""
    then = utcnow() - timedelta(days=days)
    with engine.begin() as connection:
        user_id = connection.scalar(sa.select(User.id).where(User.username == username))
        connection.execute(sa.update(User).where(User.id == user_id).values(created_at=then))
        connection.execute(
            sa.update(UserSession).where(UserSession.user_id == user_id).values(created_at=then)
        )
        connection.execute(
            sa.update(ApiToken).where(ApiToken.user_id == user_id).values(last_used_at=None)
        )
        connection.execute(sa.delete(AccountRenewal).where(AccountRenewal.user_id == user_id))


def _active(engine: sa.Engine, username: str) -> bool:
    with engine.connect() as connection:
        return bool(connection.scalar(sa.select(User.is_active).where(User.username == username)))


def test_unused_accounts_are_listed_for_administrators(app: Flask, engine: sa.Engine) -> None:
    _age(engine, "custodian", 61)
    _age(engine, "counsellor.south", 30)
    admin = _signed_in(app, "admin")
    page = admin.get("/admin/unused")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ">custodian<" in text
    assert ">counsellor.south<" not in text  # used within 60 days
    assert ">expert<" not in text  # an expert's account ends with its own period


@pytest.mark.parametrize(
    ("username", "status"),
    [("examiner", 403), ("auditor", 403), ("counsellor", 403), ("officer", 404)],
)
def test_only_administrators_see_and_renew_unused_accounts(
    app: Flask, engine: sa.Engine, world: World, username: str, status: int
) -> None:
    _age(engine, "custodian", 61)
    client = _signed_in(app, username)
    assert client.get("/admin/unused").status_code == status
    token = csrf_token(client, "/account/tokens")
    renewed = client.post(
        f"/admin/users/{world['custodian'].user_id}/renew", data={"csrf_token": token}
    )
    assert renewed.status_code == status
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(AccountRenewal)) == 0
    assert client.get("/admin/access-review").status_code == status
    confirmed = client.post("/admin/access-review", data={"csrf_token": token, "digest": "x"})
    assert confirmed.status_code == status
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(AccessReview)) == 0


def test_a_renewed_account_is_no_longer_listed_nor_expired(
    app: Flask, engine: sa.Engine, world: World, database_url: str, tmp_path: Path
) -> None:
    _age(engine, "custodian", 95)
    admin = _signed_in(app, "admin")
    token = csrf_token(admin, "/admin/unused")
    renewed = admin.post(
        f"/admin/users/{world['custodian'].user_id}/renew", data={"csrf_token": token}
    )
    assert renewed.status_code == 302
    assert ">custodian<" not in admin.get("/admin/unused").get_data(as_text=True)
    guessed = admin.post(f"/admin/users/{GUESSED_ID}/renew", data={"csrf_token": token})
    assert guessed.status_code == 404
    assert _run_expire(database_url, tmp_path).exit_code == 0
    assert _active(engine, "custodian")
    assert login(app.test_client(), "custodian", PASSWORD).status_code == 302


def _run_expire(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "DATABASE_URL": database_url,
        "CLINIC_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "cli-test",
    }
    return CliRunner().invoke(cli, ["accounts", "expire"], env=env, catch_exceptions=False)


def test_the_daily_command_deactivates_accounts_unused_too_long(
    app: Flask, engine: sa.Engine, world: World, database_url: str, tmp_path: Path
) -> None:
    _age(engine, "custodian", 91)
    _age(engine, "counsellor.south", 89)
    result = _run_expire(database_url, tmp_path)
    assert result.exit_code == 0
    assert "deactivated custodian" in result.output
    assert not _active(engine, "custodian")
    assert _active(engine, "counsellor.south")
    assert _active(engine, "expert")
    # Its tokens were revoked with it.
    with engine.connect() as connection:
        assert (
            connection.scalar(
                sa.select(sa.func.count())
                .select_from(ApiToken)
                .where(
                    ApiToken.user_id == world["custodian"].user_id, ApiToken.revoked_at.is_(None)
                )
            )
            == 0
        )


def test_an_account_unused_too_long_cannot_sign_in_even_before_the_command_runs(
    app: Flask, engine: sa.Engine
) -> None:
    _age(engine, "custodian", 91)
    refused = login(app.test_client(), "custodian", PASSWORD)
    assert refused.status_code == 401
    # The same words as for a wrong password: nothing learnt about the account.
    assert "not right, or the account is not active" in refused.get_data(as_text=True)
    _age(engine, "counsellor", 89)
    assert login(app.test_client(), "counsellor", PASSWORD).status_code == 302


def test_reactivating_an_expired_account_renews_it(
    app: Flask, engine: sa.Engine, world: World, database_url: str, tmp_path: Path
) -> None:
    _age(engine, "custodian", 91)
    assert _run_expire(database_url, tmp_path).exit_code == 0
    admin = _signed_in(app, "admin")
    token = csrf_token(admin, "/admin/users")
    again = admin.post(
        f"/admin/users/{world['custodian'].user_id}/active", data={"csrf_token": token}
    )
    assert again.status_code == 302
    assert login(app.test_client(), "custodian", PASSWORD).status_code == 302


def test_the_access_review_is_confirmed_with_who_when_and_the_hash_of_the_list(
    app: Flask, engine: sa.Engine
) -> None:
    admin = _signed_in(app, "admin")
    page = admin.get("/admin/access-review")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No access review has been recorded yet" in text
    assert "South Hospital Programme (SOUTH)" in text
    token = csrf_token(admin, "/admin/access-review")
    import re

    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]{64})"', text)
    assert digest is not None
    confirmed = admin.post(
        "/admin/access-review", data={"csrf_token": token, "digest": digest.group(1)}
    )
    assert confirmed.status_code == 302
    with engine.connect() as connection:
        [review] = connection.execute(sa.select(AccessReview)).all()
    assert review.reviewed_by == "admin"
    assert review.digest == digest.group(1)
    assert hashlib.sha256(review.snapshot.encode()).hexdigest() == review.digest
    assert ["examiner.south", "examiner", "South Hospital Programme (SOUTH)", True] in json.loads(
        review.snapshot
    )
    after = admin.get("/admin/access-review").get_data(as_text=True)
    assert "Last review:" in after
    assert "Overdue" not in after


def test_a_list_changed_since_it_was_shown_is_not_confirmed(app: Flask, engine: sa.Engine) -> None:
    admin = _signed_in(app, "admin")
    import re

    text = admin.get("/admin/access-review").get_data(as_text=True)
    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]{64})"', text)
    assert digest is not None
    with engine.begin() as connection:
        connection.execute(
            sa.update(User).where(User.username == "custodian").values(role="examiner")
        )
    token = csrf_token(admin, "/admin/access-review")
    stale = admin.post(
        "/admin/access-review", data={"csrf_token": token, "digest": digest.group(1)}
    )
    assert stale.status_code == 409
    assert "The list changed since you opened it" in stale.get_data(as_text=True)
    forged = admin.post("/admin/access-review", data={"csrf_token": token, "digest": "0" * 64})
    assert forged.status_code == 409
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(AccessReview)) == 0


def test_a_review_older_than_the_interval_is_shown_overdue(app: Flask, engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(AccessReview).values(
                reviewed_at=utcnow() - timedelta(days=91),
                reviewed_by="admin",
                digest="0" * 64,
                accounts=1,
                snapshot="[]",
            )
        )
    text = _signed_in(app, "admin").get("/admin/access-review").get_data(as_text=True)
    assert "Overdue: reviews are due every 90 days." in text
