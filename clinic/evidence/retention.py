"""How long evidence is kept, and the site's evidence deadlines.

Rules (docs/design.md section 6, the custody issue):

* Each site sets a retention period by the case's reporting mode and the
  survivor's age group (adult, minor), counted from the day the kit was collected
  or, for minors, from her 18th birthday. A site that has not set a rule uses
  DEFAULT_RULES, which its administrators are expected to review.
* The disposal date is fixed when the kit is sealed (the kit and every item in it
  get the same date), recorded in the sealing custody event, and printed on the
  sheet the survivor takes home.
* A date once set is never made earlier: a survivor's objection extends it by the
  site's extension period; a change of reporting mode recomputes it and keeps the
  later date. Each change is a `retention-extended` custody event in the log.
* Destruction is possible only from the disposal date (services._destroy).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from clinic.access import Action, Actor, decide, require, search_scope
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case, ReportingMode
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.unit_of_work import UnitOfWork
from clinic.evidence.models import (
    AgeGroup,
    CountedFrom,
    CustodyState,
    EvidenceItem,
    RetentionRule,
    SiteEvidencePolicy,
)
from clinic.i18n import N_
from clinic.i18n.sentences import Word, sentence
from clinic.i18n.values import VALUE_WORDS


@dataclass(frozen=True)
class RetentionTerms:
    years: int
    months: int
    counted_from: CountedFrom


# Used until a site's administrators set their own rules (admin → site → retention).
# Placeholders within the range real rules span (26 months to decades); review them.
DEFAULT_RULES: dict[tuple[ReportingMode, AgeGroup], RetentionTerms] = {
    (ReportingMode.REPORTED, AgeGroup.ADULT): RetentionTerms(30, 0, CountedFrom.COLLECTION),
    (ReportingMode.REPORTED, AgeGroup.MINOR): RetentionTerms(30, 0, CountedFrom.MAJORITY),
    (ReportingMode.UNREPORTED, AgeGroup.ADULT): RetentionTerms(2, 2, CountedFrom.COLLECTION),
    (ReportingMode.UNREPORTED, AgeGroup.MINOR): RetentionTerms(7, 0, CountedFrom.MAJORITY),
    (ReportingMode.ANONYMOUS, AgeGroup.ADULT): RetentionTerms(2, 2, CountedFrom.COLLECTION),
    (ReportingMode.ANONYMOUS, AgeGroup.MINOR): RetentionTerms(7, 0, CountedFrom.MAJORITY),
}


@dataclass(frozen=True)
class SiteDeadlines:
    transfer_limit_days: int
    objection_extension_months: int
    coming_due_days: int


DEFAULT_OBJECTION_EXTENSION_MONTHS = 24
DEFAULT_COMING_DUE_DAYS = 90


# The age groups as screens name them.
AGE_GROUP_WORDS = {"adult": N_("adult"), "minor": N_("minor")}


class RetentionRefused(DomainError):
    """A retention setting or change the rules do not allow."""


def add_months(day: date, months: int) -> date:
    """`day` plus whole months; the 31st becomes the last day of a shorter month."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- settings --------------------------------------------------------------------------


def rules_for_site(
    session: Session, site_id: str
) -> dict[tuple[ReportingMode, AgeGroup], RetentionTerms]:
    rules = dict(DEFAULT_RULES)
    for row in session.scalars(sa.select(RetentionRule).where(RetentionRule.site_id == site_id)):
        rules[(ReportingMode(row.reporting_mode), AgeGroup(row.age_group))] = RetentionTerms(
            row.years, row.months, CountedFrom(row.counted_from)
        )
    return rules


def site_deadlines(session: Session, site_id: str, default_transfer_days: int) -> SiteDeadlines:
    row = session.get(SiteEvidencePolicy, site_id)
    if row is None:
        return SiteDeadlines(
            default_transfer_days, DEFAULT_OBJECTION_EXTENSION_MONTHS, DEFAULT_COMING_DUE_DAYS
        )
    return SiteDeadlines(
        row.transfer_limit_days, row.objection_extension_months, row.coming_due_days
    )


def set_site_retention(
    uow: UnitOfWork,
    *,
    actor: Actor,
    site_id: str,
    rules: dict[tuple[ReportingMode, AgeGroup], RetentionTerms],
    deadlines: SiteDeadlines,
) -> None:
    """Replace a site's retention rules and deadlines (administrators). Dates already
    set on sealed kits do not change."""
    from clinic.access.policy import ResourceFacts
    from clinic.accounts.models import Organization

    require(actor, Action.UPDATE, "RetentionRule")
    site = uow.session.get(Organization, site_id)
    if site is None or site.kind != "site":
        raise RetentionRefused(N_("Retention is set for clinic sites only."), "site")
    require(
        actor,
        Action.UPDATE,
        "RetentionRule",
        ResourceFacts("RetentionRule", site_id, site_id=site_id),
    )
    for (mode, group), terms in rules.items():
        if terms.years < 0 or not 0 <= terms.months < 12 or terms.years * 12 + terms.months == 0:
            raise RetentionRefused(
                sentence(
                    "%(mode)s, %(group)s: give a period of at least one month (years, and "
                    "months from 0 to 11).",
                    mode=Word(VALUE_WORDS["reporting-mode"][mode.value], english_text=mode.value),
                    group=Word(AGE_GROUP_WORDS[group.value], english_text=group.value),
                ),
                f"{mode.value}-{group.value}",
            )
        if group is AgeGroup.ADULT and terms.counted_from is CountedFrom.MAJORITY:
            raise RetentionRefused(
                sentence(
                    "%(mode)s, adult: counting from the 18th birthday applies to minors only.",
                    mode=Word(VALUE_WORDS["reporting-mode"][mode.value], english_text=mode.value),
                ),
                f"{mode.value}-{group.value}",
            )
    for name, value in (
        ("transfer_limit_days", deadlines.transfer_limit_days),
        ("objection_extension_months", deadlines.objection_extension_months),
        ("coming_due_days", deadlines.coming_due_days),
    ):
        if value <= 0:
            raise RetentionRefused(N_("Give a positive number."), name)
    now = utcnow()
    for (mode, group), terms in rules.items():
        row = uow.session.get(RetentionRule, (site_id, mode.value, group.value))
        if row is None:
            row = RetentionRule(site_id=site_id, reporting_mode=mode.value, age_group=group.value)
            uow.session.add(row)
        row.years, row.months, row.counted_from = (
            terms.years,
            terms.months,
            terms.counted_from.value,
        )
        row.updated_at, row.updated_by = now, actor.username
    policy = uow.session.get(SiteEvidencePolicy, site_id)
    if policy is None:
        policy = SiteEvidencePolicy(site_id=site_id)
        uow.session.add(policy)
    policy.transfer_limit_days = deadlines.transfer_limit_days
    policy.objection_extension_months = deadlines.objection_extension_months
    policy.coming_due_days = deadlines.coming_due_days
    policy.updated_at, policy.updated_by = now, actor.username
    uow.session.flush()
    uow.audit(
        AuditRecord(
            kind=EventKind.UPDATE,
            channel="web",
            actor=actor,
            entities=(f"Organization/{site_id}",),
            reasons=("retention rules and evidence deadlines set",),
        )
    )


# -- disposal dates --------------------------------------------------------------------


def disposal_date_for(session: Session, kit: EvidenceItem) -> date:
    """The disposal date the site's rule gives a kit collected for its case."""
    case = session.get(Case, kit.case_id) if kit.case_id else None
    mode = ReportingMode(case.reporting_mode) if case else ReportingMode.UNREPORTED
    group = AgeGroup.MINOR if case is not None and case.is_minor else AgeGroup.ADULT
    terms = rules_for_site(session, kit.site_id)[(mode, group)]
    start = kit.collected_at.date()
    if terms.counted_from is CountedFrom.MAJORITY and case is not None and case.is_minor:
        start = max(start, majority_date(case))
    return add_months(start, terms.years * 12 + terms.months)


def majority_date(case: Case) -> date:
    """The survivor's 18th birthday, or the latest it can be from the age she gave
    (so that evidence is never destroyed early)."""
    opened = case.opened_at.date()
    age = case.age_at_registration or 0
    return add_months(opened, max(0, 18 - age) * 12)


def fix_disposal_date_at_sealing(session: Session, item: EvidenceItem) -> date:
    """Called when an item or its kit is sealed: the kit's date, set once for the
    kit and all its items, never earlier than a date already set."""
    kit = session.get(EvidenceItem, item.kit_id) if item.kit_id else item
    assert kit is not None
    due = kit.disposal_due or disposal_date_for(session, kit)
    members = [
        kit,
        *list(session.scalars(sa.select(EvidenceItem).where(EvidenceItem.kit_id == kit.id))),
    ]
    for member in members:
        if member.disposal_due is None or member.disposal_due < due:
            member.disposal_due = due
    return item.disposal_due or due


def _kit_and_items(
    session: Session, kit: EvidenceItem, *, lock: bool = False
) -> list[EvidenceItem]:
    query = sa.select(EvidenceItem).where(EvidenceItem.kit_id == kit.id)
    return [kit, *session.scalars(query.with_for_update() if lock else query)]


def extend_retention(
    uow: UnitOfWork, *, actor: Actor, kit_id: str, reason: str, default_transfer_days: int
) -> date:
    """The survivor objects to destruction: move the kit's date (and its items') on
    by the site's extension period, recorded in the custody log."""
    from clinic.evidence.services import EvidenceNotFound, item_facts

    kit = uow.session.scalar(
        sa.select(EvidenceItem).where(EvidenceItem.id == kit_id).with_for_update()
    )
    if kit is None or not decide(actor, Action.READ, "EvidenceItem", item_facts(kit)).permitted:
        raise EvidenceNotFound(N_("There is no such evidence item here."))
    require(actor, Action.CREATE, "CustodyEvent", operation="retention-extended")
    if kit.kit_id is not None:
        raise RetentionRefused(N_("Extend the retention of the whole kit, from the kit's page."))
    if kit.disposal_due is None:
        raise RetentionRefused(N_("The kit has no disposal date yet: it is set when it is sealed."))
    if not reason.strip():
        raise RetentionRefused(N_("Say how the survivor objected, and when."), "reason")
    deadlines = site_deadlines(uow.session, kit.site_id, default_transfer_days)
    due = add_months(kit.disposal_due, deadlines.objection_extension_months)
    _move_disposal_date(uow, actor, kit, due, f"survivor objects: {reason.strip()}")
    return due


def apply_reporting_mode_change(uow: UnitOfWork, *, actor: Actor, case: Case) -> None:
    """After a reporting-mode change: recompute each sealed kit's date under the
    new mode and keep the later one."""
    kits = uow.session.scalars(
        sa.select(EvidenceItem)
        .where(EvidenceItem.case_id == case.id, EvidenceItem.kit_id.is_(None))
        .with_for_update()
    )
    for kit in kits:
        if kit.disposal_due is None or kit.state == CustodyState.DESTROYED.value:
            continue
        due = disposal_date_for(uow.session, kit)
        if due > kit.disposal_due:
            _move_disposal_date(
                uow, actor, kit, due, f"reporting mode changed to {case.reporting_mode}"
            )


def _move_disposal_date(
    uow: UnitOfWork, actor: Actor, kit: EvidenceItem, due: date, note: str
) -> None:
    from clinic.evidence.services import _append_event

    now = utcnow()
    members = [
        kit,
        *list(
            uow.session.scalars(
                sa.select(EvidenceItem).where(EvidenceItem.kit_id == kit.id).with_for_update()
            )
        ),
    ]
    for member in members:
        if member.state in (CustodyState.DESTROYED.value, CustodyState.DECLINED.value):
            continue
        if member.disposal_due is not None and member.disposal_due >= due:
            continue
        member.disposal_due = due
        _append_event(
            uow,
            actor,
            member,
            "retention-extended",
            occurred_at=now,
            note=note,
            from_holder=member.holder,
            to_holder=member.holder,
            seal_number=member.seal_number,
            disposal_due=due,
        )
        member.last_event_at = max(member.last_event_at, now)
    uow.session.flush()


# -- what custodians see ---------------------------------------------------------------


@dataclass(frozen=True)
class DueItem:
    item: EvidenceItem
    is_overdue: bool
    days_left: int


def coming_due(
    uow: UnitOfWork, *, actor: Actor, default_transfer_days: int, today: date | None = None
) -> tuple[list[DueItem], SiteDeadlines]:
    """Kits of the actor's site whose disposal date is within the site's notice
    window or past, not yet destroyed, soonest first."""
    decision = require(actor, Action.SEARCH, "EvidenceItem")
    today = today or utcnow().date()
    deadlines = site_deadlines(uow.session, actor.organization_id, default_transfer_days)
    horizon = today + timedelta(days=deadlines.coming_due_days)
    sites = search_scope(actor, Action.SEARCH, "EvidenceItem")
    query = (
        sa.select(EvidenceItem)
        .where(
            EvidenceItem.kit_id.is_(None),
            EvidenceItem.disposal_due.is_not(None),
            EvidenceItem.disposal_due <= horizon,
            EvidenceItem.state.not_in((CustodyState.DESTROYED.value, CustodyState.DECLINED.value)),
        )
        .order_by(EvidenceItem.disposal_due, EvidenceItem.label)
        .limit(500)
    )
    if sites is not None:
        query = query.where(EvidenceItem.site_id.in_(sites))
    from clinic.evidence.services import item_facts

    found = [
        DueItem(kit, kit.disposal_due <= today, (kit.disposal_due - today).days)  # type: ignore[operator]
        for kit in uow.session.scalars(query)
        if decide(actor, Action.SEARCH, "EvidenceItem", item_facts(kit)).permitted
    ]
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel="web",
            actor=actor,
            reasons=decision.reasons,
            entities=tuple(f"EvidenceItem/{due.item.id}" for due in found),
            query="EvidenceItem?disposal-due=le" + horizon.isoformat(),
        )
    )
    return found, deadlines
