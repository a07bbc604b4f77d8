"""Account services directly: rules on users, organisations and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.access import AccessDenied
from clinic.access.roles import OrganizationKind, Role
from clinic.accounts.models import ApiToken, User
from clinic.accounts.services import (
    AccountError,
    actor_for,
    authenticate_token,
    create_organization,
    create_token,
    create_user,
    hash_secret,
)
from clinic.cli import unit_of_work
from tests.conftest import PASSWORD, World


def _user(uow, username: str) -> User:  # type: ignore[no-untyped-def]
    user = uow.session.scalar(sa.select(User).where(User.username == username))
    assert user is not None
    return user


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "x"}, "username"),
        ({"username": "Bad Name!"}, "username"),
        ({"username": "examiner"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": "new.person-secret-phrase"}, "password"),
        ({"role": Role.POLICE}, "organization_id"),
        ({"display_name": "  "}, "display_name"),
    ],
)
def test_user_rules(app: Flask, world: World, changes: dict, field: str) -> None:  # type: ignore[type-arg]
    arguments = {
        "username": "new.person",
        "display_name": "New Person",
        "role": Role.EXAMINER,
        "organization_id": world.organizations["NORTH"],
        "password": PASSWORD,
    } | changes
    with app.app_context(), pytest.raises(AccountError) as refused, unit_of_work() as uow:
        create_user(uow, actor=actor_for(_user(uow, "admin")), **arguments)
    assert refused.value.field == field


def test_police_belong_to_a_force_and_staff_to_a_site(app: Flask, world: World) -> None:
    with app.app_context(), unit_of_work() as uow:
        admin = actor_for(_user(uow, "admin"))
        create_user(
            uow,
            actor=admin,
            username="new.officer",
            display_name="Officer",
            role=Role.POLICE,
            organization_id=world.organizations["HILLPOL"],
            password=PASSWORD,
        )
        with pytest.raises(AccountError):
            create_user(
                uow,
                actor=admin,
                username="bad.examiner",
                display_name="X",
                role=Role.EXAMINER,
                organization_id=world.organizations["HILLPOL"],
                password=PASSWORD,
            )


def test_only_admins_create_users_and_organisations(app: Flask) -> None:
    with app.app_context(), unit_of_work() as uow:
        examiner = actor_for(_user(uow, "examiner"))
        with pytest.raises(AccessDenied):
            create_user(
                uow,
                actor=examiner,
                username="sneaky",
                display_name="S",
                role=Role.ADMIN,
                organization_id=examiner.organization_id,
                password=PASSWORD,
            )
        with pytest.raises(AccessDenied):
            create_organization(
                uow,
                app.extensions["clinic.profiles"],
                actor=examiner,
                kind=OrganizationKind.POLICE,
                name="Fake",
                code="FAKE",
            )


def test_tokens_are_stored_hashed_and_expire(app: Flask, engine: sa.Engine) -> None:
    with app.app_context(), unit_of_work() as uow:
        user = _user(uow, "examiner")
        issued = create_token(uow, actor=actor_for(user), name="ehr", days=1, max_days=365)
        assert issued.secret.startswith("fct_")
        token_id = issued.token.id
    with engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT token_hash, prefix FROM api_tokens WHERE id = :i"), {"i": token_id}
        ).one()
        everything = " ".join(
            str(v) for row in connection.exec_driver_sql("SELECT * FROM api_tokens") for v in row
        )
    assert stored[0] == hash_secret(issued.secret)
    assert issued.secret not in everything
    with app.app_context(), unit_of_work() as uow:
        assert authenticate_token(uow, issued.secret) is not None
        token = uow.session.get(ApiToken, token_id)
        assert token is not None
        token.expires_at = token.created_at - timedelta(seconds=1)
        uow.session.flush()
        assert authenticate_token(uow, issued.secret) is None


@pytest.mark.parametrize("days", [0, 366, -5])
def test_token_lifetime_is_bounded(app: Flask, days: int) -> None:
    with app.app_context(), pytest.raises(AccountError), unit_of_work() as uow:
        create_token(
            uow, actor=actor_for(_user(uow, "examiner")), name="x", days=days, max_days=365
        )


def test_a_token_use_is_recorded_to_the_minute_and_revocation_is_immediate(
    app: Flask, engine: sa.Engine
) -> None:
    """Reads do not write the token row on every request, but a revoked token fails
    on the very next request."""
    from clinic.accounts.services import TOKEN_USE_RESOLUTION, revoke_token

    with app.app_context(), unit_of_work() as uow:
        user = _user(uow, "examiner")
        issued = create_token(uow, actor=actor_for(user), name="ehr", days=1, max_days=365)
        token_id = issued.token.id

    def last_used():  # type: ignore[no-untyped-def]
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT last_used_at FROM api_tokens WHERE id = :i"), {"i": token_id}
            ).scalar_one()

    with app.app_context(), unit_of_work() as uow:
        assert authenticate_token(uow, issued.secret) is not None
    first = last_used()
    assert first is not None
    with app.app_context(), unit_of_work() as uow:
        assert authenticate_token(uow, issued.secret) is not None
        assert not uow.session.dirty  # nothing to write within the minute
    assert last_used() == first
    with app.app_context(), unit_of_work() as uow:
        token = uow.session.get(ApiToken, token_id)
        assert token is not None
        token.last_used_at = token.last_used_at - TOKEN_USE_RESOLUTION  # type: ignore[operator]
    with app.app_context(), unit_of_work() as uow:
        assert authenticate_token(uow, issued.secret) is not None
    assert last_used() != first
    with app.app_context(), unit_of_work() as uow:
        revoke_token(uow, token_id, actor=actor_for(_user(uow, "examiner")))
    with app.app_context(), unit_of_work() as uow:
        assert authenticate_token(uow, issued.secret) is None
