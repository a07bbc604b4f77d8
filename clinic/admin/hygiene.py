"""Account hygiene (docs/design.md section 4b): accounts left unused are listed for
administrators after ACCOUNT_UNUSED_LIST_DAYS and deactivated after
ACCOUNT_UNUSED_DEACTIVATE_DAYS unless an administrator renews them; and the
periodic access review, in which an administrator confirms who holds which role
at which site.

An account's last use is the latest of: its creation, a sign-in, a use of one of
its API tokens, and a renewal. Medical experts' accounts end with their own period
(docs/design.md section 4) and are left out.

Services take the unit of work and the acting user; they flush, never commit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.access import Action, Actor, ResourceFacts, require
from clinic.access.roles import Role
from clinic.accounts.models import ApiToken, Organization, User, UserSession
from clinic.admin.models import AccessReview, AccountRenewal
from clinic.audit.services import AuditRecord, EventKind
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.i18n import N_


class HygieneRefused(DomainError):
    pass


def _latest(session: Session, user_ids: list[str] | None) -> dict[str, dict[str, datetime]]:
    """user id -> {"sign_in", "token", "renewal"}: the latest of each, where any."""
    found: dict[str, dict[str, datetime]] = {}
    queries = (
        ("sign_in", UserSession.user_id, sa.func.max(UserSession.created_at)),
        ("token", ApiToken.user_id, sa.func.max(ApiToken.last_used_at)),
        ("renewal", AccountRenewal.user_id, sa.func.max(AccountRenewal.renewed_at)),
    )
    for name, column, latest in queries:
        query = sa.select(column, latest).group_by(column)
        if user_ids is not None:
            query = query.where(column.in_(user_ids))
        for user_id, moment in session.execute(query):
            if moment is not None:
                found.setdefault(user_id, {})[name] = moment
    return found


def _last_used(user: User, latest: dict[str, datetime]) -> datetime:
    return max([user.created_at, *latest.values()])


def unused_too_long(session: Session, user: User, now: datetime, after: timedelta) -> bool:
    """Whether the account has gone unused longer than `after` (the sign-in check)."""
    if Role(user.role) is Role.EXPERT:
        return False
    latest = _latest(session, [user.id]).get(user.id, {})
    return now - _last_used(user, latest) > after


@dataclass(frozen=True)
class UnusedAccount:
    user: User
    last_used: datetime
    last_sign_in: datetime | None
    deactivated_on: datetime


def _active_staff(session: Session) -> list[User]:
    return list(
        session.scalars(
            sa.select(User)
            .where(User.is_active.is_(True), User.role != Role.EXPERT.value)
            .order_by(User.username)
        )
    )


def unused_accounts(
    uow: UnitOfWork, *, actor: Actor, listed_after: timedelta, deactivated_after: timedelta
) -> list[UnusedAccount]:
    """Active accounts unused for longer than `listed_after`, longest unused first,
    with the day each will be deactivated unless renewed."""
    require(actor, Action.SEARCH, "User")
    now = utcnow()
    users = _active_staff(uow.session)
    latest = _latest(uow.session, None)
    found = []
    for user in users:
        used = _last_used(user, latest.get(user.id, {}))
        if now - used > listed_after:
            found.append(
                UnusedAccount(
                    user, used, latest.get(user.id, {}).get("sign_in"), used + deactivated_after
                )
            )
    found.sort(key=lambda account: account.last_used)
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            entities=tuple(f"User/{a.user.id}" for a in found),
            reasons=("unused accounts",),
        )
    )
    return found


def renew_account(uow: UnitOfWork, *, actor: Actor | None, user: User) -> AccountRenewal:
    """An administrator's word that the account is still needed: counts as a use.
    `actor` None: the operator's CLI."""
    if actor is not None:
        require(actor, Action.UPDATE, "User", ResourceFacts("User", user.id))
    renewal = AccountRenewal(
        user_id=user.id, renewed_at=utcnow(), renewed_by=actor.username if actor else "operator"
    )
    uow.session.add(renewal)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web" if actor else "cli",
            actor=actor,
            entities=(f"User/{user.id}",),
            reasons=("account renewed",),
        )
    )
    return renewal


def expire_unused(uow: UnitOfWork, *, after: timedelta) -> list[str]:
    """Deactivate every active account unused for longer than `after` (the daily
    `clinic accounts expire`): their sessions end and their tokens are revoked.
    Returns their usernames."""
    from clinic.accounts.services import set_user_active

    now = utcnow()
    latest = _latest(uow.session, None)
    expired = []
    for user in _active_staff(uow.session):
        if now - _last_used(user, latest.get(user.id, {})) > after:
            set_user_active(uow, user, actor=None, is_active=False)
            expired.append(user.username)
    return expired


# -- the access review ----------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    user_id: str
    username: str
    display_name: str
    role: str
    site: str
    active: bool
    last_sign_in: datetime | None


@dataclass(frozen=True)
class ReviewList:
    rows: list[ReviewRow]
    digest: str
    snapshot: str
    last: AccessReview | None
    overdue: bool


def _review_rows(session: Session) -> list[ReviewRow]:
    users = session.execute(
        sa.select(User, Organization)
        .join(Organization, User.organization_id == Organization.id)
        .order_by(Organization.code, User.role, User.username)
    ).all()
    latest = _latest(session, None)
    return [
        ReviewRow(
            user.id,
            user.username,
            user.display_name,
            user.role,
            f"{organization.name} ({organization.code})",
            user.is_active,
            latest.get(user.id, {}).get("sign_in"),
        )
        for user, organization in users
    ]


def _snapshot(rows: list[ReviewRow]) -> str:
    """What the administrator confirms: who, which role, which site, whether active.
    (The last sign-in is shown but not part of it: it changes with every sign-in.)"""
    return json.dumps(
        [[r.username, r.role, r.site, r.active] for r in rows],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def last_review(session: Session) -> AccessReview | None:
    return session.scalar(
        sa.select(AccessReview).order_by(AccessReview.reviewed_at.desc()).limit(1)
    )


def review_is_overdue(last: AccessReview | None, now: datetime, interval: timedelta) -> bool:
    return last is None or now - last.reviewed_at > interval


def access_review(uow: UnitOfWork, *, actor: Actor, interval: timedelta) -> ReviewList:
    """Who holds which role at which site, with their last sign-in; the last review
    and whether the next one is overdue. Audited."""
    require(actor, Action.READ, "AccessReview")
    rows = _review_rows(uow.session)
    snapshot = _snapshot(rows)
    last = last_review(uow.session)
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            entities=tuple(f"User/{r.user_id}" for r in rows),
            reasons=("access review",),
        )
    )
    return ReviewList(
        rows,
        hashlib.sha256(snapshot.encode()).hexdigest(),
        snapshot,
        last,
        review_is_overdue(last, utcnow(), interval),
    )


def confirm_access_review(uow: UnitOfWork, *, actor: Actor, digest: str) -> AccessReview:
    """The administrator confirms the list as she saw it (`digest`, from the page):
    recorded with who, when, the list and its SHA-256. A list that changed since
    she opened the page is not confirmed."""
    require(actor, Action.CREATE, "AccessReview")
    rows = _review_rows(uow.session)
    snapshot = _snapshot(rows)
    current = hashlib.sha256(snapshot.encode()).hexdigest()
    if digest != current:
        raise HygieneRefused(
            N_("The list changed since you opened it. Review it again, then confirm."), "digest"
        )
    review = AccessReview(
        reviewed_at=utcnow(),
        reviewed_by=actor.username,
        digest=current,
        accounts=len(rows),
        snapshot=snapshot,
    )
    uow.session.add(review)
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.CREATE,
            channel="web",
            actor=actor,
            entities=(f"AccessReview/{review.id}",),
            reasons=("access review confirmed", f"sha256 {current}", f"{len(rows)} accounts"),
        )
    )
    return review
