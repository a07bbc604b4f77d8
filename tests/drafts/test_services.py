"""The drafts service: bound to its author and page, encrypted, restored once,
expiring and purged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.unit_of_work import UnitOfWork
from clinic.drafts.models import SavedDraft
from clinic.drafts.services import (
    DraftNotKept,
    DraftSettings,
    forget_draft,
    keep_draft,
    purge_expired_drafts,
    take_draft,
)

KEY = "test-secret"
SETTINGS = DraftSettings(lifetime=timedelta(hours=12), max_bytes=10_000, max_per_user=3)
FIELDS = [("narrative", "She said he held her down."), ("act_oral-penetration", "no")]


@pytest.fixture
def uow(app: Flask) -> Iterator[UnitOfWork]:
    with app.app_context(), unit_of_work() as unit:
        yield unit


def user(uow: UnitOfWork, username: str) -> User:
    found = uow.session.scalar(sa.select(User).where(User.username == username))
    assert found is not None
    return found


def test_a_draft_is_given_back_once_to_its_author_only(uow: UnitOfWork) -> None:
    examiner, other = user(uow, "examiner"), user(uow, "examiner.south")
    keep_draft(uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    assert take_draft(uow, actor=actor_for(other), path="/p", secret_key=KEY) is None
    assert take_draft(uow, actor=actor_for(examiner), path="/q", secret_key=KEY) is None
    assert take_draft(uow, actor=actor_for(examiner), path="/p", secret_key=KEY) == FIELDS
    assert take_draft(uow, actor=actor_for(examiner), path="/p", secret_key=KEY) is None


def test_a_draft_read_for_a_page_not_shown_stays_until_it_is_forgotten(
    uow: UnitOfWork,
) -> None:
    """The web layer reads without deleting and forgets only once the form page was
    shown, so a redirect on the way never consumes it unseen."""
    examiner, other = user(uow, "examiner"), user(uow, "examiner.south")
    keep_draft(uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    keep_draft(uow, owner=other, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    mine = actor_for(examiner)
    assert take_draft(uow, actor=mine, path="/p", secret_key=KEY, delete=False) == FIELDS
    assert take_draft(uow, actor=mine, path="/p", secret_key=KEY, delete=False) == FIELDS
    forget_draft(uow, actor=mine, path="/p")
    assert take_draft(uow, actor=mine, path="/p", secret_key=KEY) is None
    # Forgetting hers left her colleague's own draft alone.
    assert take_draft(uow, actor=actor_for(other), path="/p", secret_key=KEY) == FIELDS


def test_a_draft_moved_to_another_user_or_read_with_another_key_cannot_be_opened(
    uow: UnitOfWork,
) -> None:
    examiner, other = user(uow, "examiner"), user(uow, "examiner.south")
    draft = keep_draft(
        uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS
    )
    assert draft is not None
    assert b"held her down" not in draft.sealed
    draft.user_id = other.id  # a tampered row: the user is part of the sealed data
    uow.session.flush()
    assert take_draft(uow, actor=actor_for(other), path="/p", secret_key=KEY) is None
    keep_draft(uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    assert take_draft(uow, actor=actor_for(examiner), path="/p", secret_key="another") is None


def test_drafts_expire_and_are_purged(uow: UnitOfWork) -> None:
    examiner = user(uow, "examiner")
    draft = keep_draft(
        uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS
    )
    assert draft is not None
    draft.expires_at = draft.created_at - timedelta(seconds=1)
    uow.session.flush()
    assert purge_expired_drafts(uow) == 1
    assert uow.session.scalar(sa.select(sa.func.count()).select_from(SavedDraft)) == 0
    # Restoring a draft also purges what has expired, hers or anyone's.
    stale = keep_draft(
        uow, owner=examiner, path="/q", fields=FIELDS, secret_key=KEY, settings=SETTINGS
    )
    assert stale is not None
    keep_draft(uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    stale.expires_at = stale.created_at - timedelta(seconds=1)
    uow.session.flush()
    assert take_draft(uow, actor=actor_for(examiner), path="/p", secret_key=KEY) == FIELDS
    assert uow.session.scalar(sa.select(sa.func.count()).select_from(SavedDraft)) == 0


def test_a_newer_post_replaces_the_older_and_only_the_newest_are_kept(uow: UnitOfWork) -> None:
    examiner = user(uow, "examiner")
    for path in ("/a", "/a", "/b", "/c", "/d"):
        keep_draft(uow, owner=examiner, path=path, fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    paths = set(uow.session.scalars(sa.select(SavedDraft.path)))
    assert len(paths) == SETTINGS.max_per_user
    assert "/d" in paths


def test_nothing_worth_keeping_and_what_cannot_be_kept(uow: UnitOfWork) -> None:
    examiner = user(uow, "examiner")
    only_secrets = [("csrf_token", "t"), ("new_password", "p" * 20), ("narrative", "  ")]
    assert (
        keep_draft(
            uow, owner=examiner, path="/p", fields=only_secrets, secret_key=KEY, settings=SETTINGS
        )
        is None
    )
    with pytest.raises(DraftNotKept):
        keep_draft(
            uow,
            owner=examiner,
            path="/p",
            fields=[("narrative", "x" * 20_000)],
            secret_key=KEY,
            settings=SETTINGS,
        )
    examiner.is_active = False
    with pytest.raises(DraftNotKept):
        keep_draft(uow, owner=examiner, path="/p", fields=FIELDS, secret_key=KEY, settings=SETTINGS)
    assert uow.session.scalar(sa.select(sa.func.count()).select_from(SavedDraft)) == 0
