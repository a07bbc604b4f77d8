"""Recording, replacing, withdrawing and reading the survivor's consents.

Every rule about consent lives here; the screens and the CLI only call it. A
completed form becomes one Consent (clinic.consent.resources); recording the same
form again replaces the active Consent of that form, which becomes inactive and is
referenced by the new one. Withdrawal takes effect in the same transaction: the
decision point reads her Consents afresh.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clinic.access import Action, Actor, decide, require
from clinic.access.roles import OrganizationKind
from clinic.access.terms import DATA_CLASS_SYSTEM, DATA_CLASSES, RECIPIENT_SYSTEM, RECIPIENTS
from clinic.accounts.models import Organization, User
from clinic.audit.services import AuditRecord, EventKind
from clinic.cases.models import Case
from clinic.cases.services import CaseNotFound, _load_case
from clinic.consent.book import consent_book
from clinic.consent.code_systems import is_never_share
from clinic.consent.definitions import LANGUAGES, FormLibrary, FormVersion
from clinic.consent.resources import (
    DRAWN,
    REPLACES_URL,
    SIGNATURE_METHOD_URL,
    SIGNATURE_URL,
    TAKEN_BY_URL,
    TYPED_WITNESSED,
    WITHDRAWAL_METHODS,
    WITHDRAWAL_URL,
    Answers,
    Withdrawal,
    answers_of,
    build_consent,
    extension_value,
    form_key_of,
    item_of,
    parts_of,
    withdrawal_extension,
)
from clinic.core.clock import utcnow
from clinic.core.errors import DomainError
from clinic.core.images import ImageRefused, check_signature_png
from clinic.core.unit_of_work import UnitOfWork
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore, StoredVersion
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Language, Listing, Sentence, Texts, sentence

PROXY_RELATIONSHIPS = {
    "parent": N_("Parent"),
    "guardian": N_("Guardian"),
    "legal-representative": N_("Legal representative"),
    "other": N_("Other"),
}
# The longest a release to police may run without being asked again.
LONGEST_PERMISSION_DAYS = 5 * 366


class ConsentRefused(DomainError):
    """A consent that cannot be recorded or withdrawn as given; names the field.
    When several things are wrong, `problems` lists every (field, message), the
    first also being `field` and `message`."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        problems: list[tuple[str | None, str]] | None = None,
    ) -> None:
        super().__init__(message, field)
        self.problems: list[tuple[str | None, str]] = problems or [(field, message)]


class ConsentNotFound(ConsentRefused):
    """No such consent, or one the caller may not see: the same answer for both."""


# -- recording --------------------------------------------------------------------


def consent_problems(
    uow: UnitOfWork, case: Case, form: FormVersion, answers: Answers, now: datetime
) -> list[tuple[str | None, str]]:
    """Every problem with a completed form at once, as (field, message): every asked
    item answered explicitly, and everything the answers need. The one place these
    rules live; the screen shows them all next to their fields in one response."""
    problems: list[tuple[str | None, str]] = []

    def refuse(field: str, message: Sentence) -> None:
        problems.append((field, message))

    known = {item.id for item in form.items}
    for item_id in answers.agreed:
        if item_id not in known:
            refuse(
                f"item_{item_id}", sentence("The form has no item %(item)s.", item=repr(item_id))
            )
    for item in form.items:
        asked = item.within is None or answers.agreed.get(item.within) is True
        if asked and item.id not in answers.agreed:
            refuse(
                f"item_{item.id}",
                sentence("Ask her about this item and record her answer: agree or decline."),
            )
        if not asked and item.id in answers.agreed:
            refuse(
                f"item_{item.id}",
                sentence("This item is only asked when she agrees to the item it belongs to."),
            )
        named = (answers.person_names.get(item.id) or "").strip()
        if "person-name" in item.asks and answers.agreed.get(item.id) and not named:
            refuse(f"name_{item.id}", sentence("Write the name of the person she names."))
    if answers.language not in form.languages:
        refuse("language", sentence("Choose the language the form was read in."))
    wanted = answers.requested_language
    if (
        wanted
        and wanted != answers.language
        and answers.language in LANGUAGES
        and not (answers.interpreter or "").strip()
    ):
        refuse(
            "interpreter",
            sentence(
                "This form has no %(wanted)s version and was read to her in %(read)s: "
                "record the interpreter.",
                wanted=Language(wanted),
                read=Language(answers.language),
            ),
        )
    given_by = answers.given_by
    if given_by.is_proxy:
        if given_by.proxy_relationship not in PROXY_RELATIONSHIPS:
            refuse("proxy_relationship", sentence("Say how the proxy is related to her."))
        if not (given_by.proxy_reason or "").strip():
            refuse(
                "proxy_reason",
                sentence("Say why a proxy consents for her (a minor, or without capacity)."),
            )
        if case.is_anonymous and given_by.proxy_name:
            refuse(
                "proxy_name",
                sentence(
                    "She is registered anonymously: record the proxy by relationship only, since a "
                    "name would identify her."
                ),
            )
    if not answers.free_choice:
        refuse(
            "free_choice",
            sentence(
                "Consent is recorded only when she confirms no one is pressuring her. If she "
                "cannot, stop and speak with her alone."
            ),
        )
    if answers.signature_method == TYPED_WITNESSED:
        if not (answers.typed_name or "").strip():
            refuse(
                "typed_name",
                sentence(
                    "The person consenting types her full name here, in front of the witness."
                ),
            )
        if not (answers.signature_witness or "").strip():
            refuse(
                "signature_witness",
                sentence(
                    "Name the witness who saw her type her name (a staff member or another "
                    "person present), with their role."
                ),
            )
    elif answers.signature_method == DRAWN:
        try:
            check_signature_png(answers.signature_png)
        except ImageRefused as refused:
            refuse(
                "signature",
                sentence(
                    "%(problem)s The person consenting signs on the screen, or choose to sign "
                    "by typing her name with a witness.",
                    problem=refused.message,
                ),
            )
    else:
        refuse(
            "signature_method",
            sentence("Choose how she signs: drawn, or her typed name witnessed."),
        )
    police_items = [
        item
        for item in form.items
        if item.mapping.recipient == "police" and answers.agreed.get(item.id)
    ]
    if "police-force" in form.asks and police_items:
        if answers.police_force is None:
            refuse("police_force", sentence("Choose the police force she releases to."))
        else:
            force = uow.session.get(Organization, answers.police_force[0])
            if force is None or force.kind != OrganizationKind.POLICE or not force.is_active:
                refuse("police_force", sentence("Choose a police force from the list."))
    if "until" in form.asks and police_items:
        if answers.until is None:
            refuse("until", sentence("Give the date her permission ends."))
        elif answers.until <= now:
            refuse("until", sentence("The end date must be in the future."))
        elif (answers.until - now).days > LONGEST_PERMISSION_DAYS:
            refuse("until", sentence("The end date may be at most five years away."))
    for organization_id, _ in answers.never_share_organizations:
        if uow.session.get(Organization, organization_id) is None:
            refuse("never_share", sentence("Choose organisations from the list."))
            break
    return problems


def _refuse_all(problems: list[tuple[str | None, str]]) -> None:
    if problems:
        field, message = problems[0]
        raise ConsentRefused(message, field, problems)


def check_consent(
    uow: UnitOfWork,
    forms: FormLibrary,
    *,
    actor: Actor,
    case_id: str,
    form_key: str,
    answers: Answers,
) -> list[tuple[str | None, str]]:
    """What record_consent would refuse, without writing anything (for a screen
    whose own fields are already in error, so every problem shows at once)."""
    require(actor, Action.CREATE, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    try:
        form = forms.get(form_key)
    except KeyError as missing:
        raise ConsentRefused(N_("There is no such consent form."), "form") from missing
    return consent_problems(uow, case, form, answers, utcnow())


def _active_of_form(store: ResourceStore, patient_id: str, form: str) -> StoredVersion | None:
    for version in store.of_subject("Consent", f"Patient/{patient_id}"):
        if (
            version.content.get("status") == "active"
            and form_key_of(version.content).split("/")[0] == form
        ):
            return version
    return None


def _deactivate(store: ResourceStore, version: StoredVersion, actor: Actor) -> StoredVersion:
    content = copy.deepcopy(version.content)
    content["status"] = "inactive"
    return store.update(
        "Consent",
        version.logical_id,
        content,
        author_id=actor.user_id,
        expected_version=version.version_id,
    )


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    kind: EventKind,
    entities: tuple[str, ...],
    reason: str,
    channel: str,
) -> None:
    uow.audit(
        AuditRecord(kind=kind, channel=channel, actor=actor, entities=entities, reasons=(reason,))
    )


def record_consent(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    forms: FormLibrary,
    *,
    actor: Actor,
    case_id: str,
    form_key: str,
    answers: Answers,
    channel: str = "web",
) -> StoredVersion:
    """Record a completed form as her Consent, replacing the active Consent of the
    same form (which becomes inactive). One transaction: all or nothing."""
    require(actor, Action.CREATE, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ, lock=True)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    try:
        form = forms.get(form_key)
    except KeyError as missing:
        raise ConsentRefused(N_("There is no such consent form."), "form") from missing
    now = utcnow()
    _refuse_all(consent_problems(uow, case, form, answers, now))
    user = uow.session.get(User, actor.user_id)
    taken_by = (user.display_name if user else actor.username, str(actor.role))
    store = ResourceStore(uow.session, registry)
    previous = _active_of_form(store, case.patient_id, form.form)
    written: list[str] = []
    if previous is not None:
        written.append(_deactivate(store, previous, actor).versioned_reference)
    version = store.create(
        build_consent(
            form,
            replace(answers, taken_by=taken_by),
            patient_id=case.patient_id,
            site_id=case.site_id,
            now=now,
            replaces=previous.logical_id if previous else None,
        ),
        site_id=case.site_id,
        author_id=actor.user_id,
    )
    consent_book(uow).forget(f"Patient/{case.patient_id}")
    if previous is not None:
        # A new decision may narrow what the replaced one released.
        from clinic.release.services import stop_withdrawn_releases

        stop_withdrawn_releases(uow, registry, actor=actor, case=case)
    _audit(
        uow,
        actor,
        EventKind.CREATE,
        (version.versioned_reference, *written),
        f"consent recorded ({form.key}, {answers.language})"
        + (f"; replaces Consent/{previous.logical_id}" if previous else ""),
        channel,
    )
    return version


# -- withdrawal -------------------------------------------------------------------


def _load_consent(
    uow: UnitOfWork, registry: ProfileRegistry, actor: Actor, case: Case, consent_id: str
) -> StoredVersion:
    store = ResourceStore(uow.session, registry)
    version = store.current("Consent", consent_id)
    if (
        version is None
        or version.subject != f"Patient/{case.patient_id}"
        or version.site_id != case.site_id
    ):
        raise ConsentNotFound(N_("No such consent."))
    require(actor, Action.READ, "Consent", version.facts())
    return version


def withdraw(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    consent_id: str,
    withdrawal: Withdrawal,
    channel: str = "web",
) -> StoredVersion:
    """Withdraw a whole Consent (it becomes inactive, a new version recording the
    withdrawal) or some of its items (a new Consent replaces it in which those items
    are declined). Effective at once."""
    require(actor, Action.UPDATE, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ, lock=True)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    version = _load_consent(uow, registry, actor, case, consent_id)
    if version.content.get("status") != "active":
        raise ConsentRefused(
            N_("This consent is no longer in force; there is nothing to withdraw.")
        )
    if withdrawal.method not in WITHDRAWAL_METHODS:
        raise ConsentRefused(
            N_("Say how she told you: in person, by phone or in writing."), "method"
        )
    if not withdrawal.by.strip():
        raise ConsentRefused(
            N_("Say who withdrew: the survivor or her proxy, by name or role."), "by"
        )
    if withdrawal.method == "phone-verified" and not withdrawal.verified:
        raise ConsentRefused(
            N_(
                "By phone, first verify it is her (her code word, or questions only she can answer)."
            ),
            "verified",
        )
    if not withdrawal.items and not withdrawal.everything:
        raise ConsentRefused(
            N_("Say what she withdraws: one item, or the whole consent (chosen explicitly)."),
            "item",
        )
    if withdrawal.items and withdrawal.everything:
        raise ConsentRefused(
            N_("Withdraw either some items or the whole consent, not both."),
            "item",
        )
    store = ResourceStore(uow.session, registry)
    agreed = {item for item, verdict in answers_of(version.content).items() if verdict == "permit"}
    if withdrawal.everything:
        content = copy.deepcopy(version.content)
        content["status"] = "inactive"
        content["extension"].append(withdrawal_extension(withdrawal))
        written = store.update(
            "Consent",
            consent_id,
            content,
            author_id=actor.user_id,
            expected_version=version.version_id,
        )
        reason = "consent withdrawn in full"
    else:
        unknown = [item for item in withdrawal.items if item not in agreed]
        if unknown:
            raise ConsentRefused(
                sentence(
                    "She has not agreed to %(items)s in this consent.",
                    items=Listing(tuple(unknown)),
                ),
                "items",
            )
        _deactivate(store, version, actor)
        written = store.create(
            _narrowed(version, withdrawal),
            site_id=case.site_id,
            author_id=actor.user_id,
        )
        reason = f"consent narrowed: {', '.join(withdrawal.items)} withdrawn"
    consent_book(uow).forget(f"Patient/{case.patient_id}")
    from clinic.release.services import stop_withdrawn_releases

    stop_withdrawn_releases(uow, registry, actor=actor, case=case)
    _audit(
        uow,
        actor,
        EventKind.UPDATE,
        (written.versioned_reference, f"Consent/{consent_id}"),
        f"{reason} ({WITHDRAWAL_METHODS[withdrawal.method]})",
        channel,
    )
    return written


def _narrowed(version: StoredVersion, withdrawal: Withdrawal) -> dict[str, Any]:
    """A copy of the Consent in which the withdrawn items are declined (and what
    was nested in them dropped), replacing it."""
    content = copy.deepcopy(version.content)
    for key in ("id", "meta"):
        content.pop(key, None)
    content["meta"] = {"profile": version.content["meta"]["profile"]}
    content["status"] = "active"
    content["dateTime"] = withdrawal_extension(withdrawal)["extension"][0]["valueDateTime"]
    content["extension"] = [
        e for e in content["extension"] if e["url"] not in (REPLACES_URL, WITHDRAWAL_URL)
    ]
    content["extension"].append(
        {"url": REPLACES_URL, "valueReference": {"reference": f"Consent/{version.logical_id}"}}
    )
    content["extension"].append(withdrawal_extension(withdrawal))

    def narrow(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if item_of(node) in withdrawal.items:
                node["type"] = "deny"
                node.pop("provision", None)
            else:
                narrow(node.get("provision", []))

    narrow(content["provision"]["provision"])
    return content


# -- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemState:
    item_id: str
    text: str
    answer: str  # "agreed", "declined", "withdrawn" or "not asked"
    within: str | None


@dataclass(frozen=True)
class ConsentView:
    """One recorded Consent, read for people."""

    version: StoredVersion
    form: FormVersion
    items: list[ItemState]
    effects: list[str]
    withdrawal: dict[str, list[Any]] | None
    replaces: str | None
    never_share: list[str]

    @property
    def id(self) -> str:
        return self.version.logical_id

    @property
    def status(self) -> str:
        return str(self.version.content["status"])

    @property
    def language(self) -> str:
        return str(self.version.content.get("language", "en"))

    @property
    def recorded_at(self) -> str:
        return str(self.version.content["dateTime"])

    @property
    def signed(self) -> dict[str, str]:
        """How she signed: method (drawn | typed-witnessed), and for a typed name the
        name and the witness. A Consent from before methods were recorded was drawn."""
        parts = parts_of(extension_value(self.version.content, SIGNATURE_METHOD_URL))
        return {key: str(values[0]) for key, values in parts.items()} or {"method": DRAWN}

    @property
    def taken_by(self) -> dict[str, str]:
        """The staff member who took the consent: name and role (empty if unrecorded)."""
        parts = parts_of(extension_value(self.version.content, TAKEN_BY_URL))
        return {key: str(values[0]) for key, values in parts.items()}


@dataclass(frozen=True)
class FormState:
    form: FormVersion
    current: ConsentView | None
    history: list[ConsentView]


def _withdrawn_items(content: dict[str, Any]) -> set[str]:
    extension = extension_value(content, WITHDRAWAL_URL)
    return {str(item) for item in parts_of(extension).get("item", [])} if extension else set()


def view_of(version: StoredVersion, forms: FormLibrary) -> ConsentView:
    content = version.content
    form = forms.get(form_key_of(content))
    answers = answers_of(content)
    withdrawn = _withdrawn_items(content)
    withdrawal_ext = extension_value(content, WITHDRAWAL_URL)
    if withdrawal_ext is not None and not withdrawn:
        withdrawn = {item for item, verdict in answers.items() if verdict == "permit"}
    items = []
    for item in form.items:
        verdict = answers.get(item.id)
        if item.id in withdrawn:
            answer = "withdrawn"
        elif verdict is None:
            answer = "not asked"
        else:
            answer = "agreed" if verdict == "permit" else "declined"
        items.append(ItemState(item.id, item.text["en"], answer, item.within))
    replaces = extension_value(content, REPLACES_URL)
    never_share = [
        node["actor"][0]["reference"].get("display", "")
        for node in content["provision"]["provision"]
        if is_never_share(item_of(node))
    ]
    return ConsentView(
        version=version,
        form=form,
        items=items,
        effects=effects_of(content) if content["status"] == "active" else [],
        withdrawal=parts_of(withdrawal_ext) if withdrawal_ext else None,
        replaces=replaces["reference"] if replaces else None,
        never_share=never_share,
    )


def effects_of(content: dict[str, Any]) -> list[str]:
    """What the Consent means in effect, in plain words: who may receive what,
    except what, until when (sentences a screen says in its reader's language)."""
    effects: list[str] = []
    for node in content["provision"]["provision"]:
        if node.get("type") != "permit":
            continue
        actor = node["actor"][0]
        role = actor["role"]["coding"][0]["code"]
        named = actor["reference"].get("display")
        who: Any = (
            Coded(RECIPIENT_SYSTEM, role, english_text=_capitalised(RECIPIENTS[role]))
            if not named or role in ("case-examiner", "counselling-service")
            else _capitalised(named)
        )
        what = [_data_class(c) for c in node.get("class", [])]
        what += [_item_code(c["coding"][0]) for c in node.get("code", [])]
        verb = node["action"][0]["coding"][0]["code"]
        effect = Sentence(
            _VERBS.get(verb, "%(who)s may " + verb + ": %(what)s"),
            who=who,
            what=Listing(tuple(what)),
        )
        exceptions = [
            _data_class(c)
            for child in node.get("provision", [])
            if child.get("type") == "deny"
            for c in child.get("class", [])
        ]
        if exceptions:
            effect = sentence(
                "%(effect)s, except %(exceptions)s",
                effect=effect,
                exceptions=Listing(tuple(exceptions)),
            )
        end = node.get("period", {}).get("end")
        if end:
            effect = sentence("%(effect)s, until %(day)s", effect=effect, day=end[:10])
        effects.append(effect)
    for node in content["provision"]["provision"]:
        if is_never_share(item_of(node)):
            effects.append(
                sentence(
                    "Nothing may ever go to %(who)s",
                    who=node["actor"][0]["reference"].get("display", ""),
                )
            )
    return effects


def _capitalised(words: str) -> str:
    return f"{words[0].upper()}{words[1:]}" if words else words


def _item_code(coding: dict[str, Any]) -> Any:
    """A consent item's code: one of our consent-form CodeSystems' concepts, by its
    designation in the reader's language (its display as recorded otherwise)."""
    english = coding.get("display", "")
    if coding.get("system") and coding.get("code"):
        return Coded(str(coding["system"]), str(coding["code"]), english_text=english)
    return english


def _data_class(coding: dict[str, Any]) -> Any:
    code = coding["code"]
    english = DATA_CLASSES.get(code, coding.get("display", code))
    if code in DATA_CLASSES:
        return Coded(DATA_CLASS_SYSTEM, code, inline=True, english_text=english)
    return english


# What each action lets the recipient do, as a sentence.
_VERBS = {
    "access": N_("%(who)s may see: %(what)s"),
    "disclose": N_("%(who)s may receive: %(what)s"),
    "collect": N_("%(who)s may collect: %(what)s"),
    "store": N_("%(who)s may keep: %(what)s"),
    "photograph": N_("%(who)s may take: %(what)s"),
    "examine": N_("%(who)s may do: %(what)s"),
    "treat": N_("%(who)s may give: %(what)s"),
    "use": N_("%(who)s may count: %(what)s"),
}


def case_consents(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    forms: FormLibrary,
    *,
    actor: Actor,
    case_id: str,
    channel: str = "web",
) -> tuple[Case, list[FormState]]:
    """Every form with her current Consent and its history (newest first); audited."""
    decision = require(actor, Action.SEARCH, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    store = ResourceStore(uow.session, registry)
    versions = [
        version
        for version in store.of_subject("Consent", f"Patient/{case.patient_id}")
        if decide(actor, Action.READ, "Consent", version.facts()).permitted
    ]
    states = []
    for form in forms.current():
        mine = [
            view_of(version, forms)
            for version in versions
            if form_key_of(version.content).split("/")[0] == form.form
        ]
        mine.sort(key=lambda view: (view.recorded_at, view.version.last_updated), reverse=True)
        current = next((view for view in mine if view.status == "active"), None)
        states.append(FormState(form, current, mine))
    uow.audit(
        AuditRecord(
            kind=EventKind.SEARCH,
            channel=channel,
            actor=actor,
            entities=tuple(version.versioned_reference for version in versions),
            reasons=decision.reasons,
            query=f"Consent?patient=Patient/{case.patient_id}",
        )
    )
    return case, states


def read_consent(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    forms: FormLibrary,
    *,
    actor: Actor,
    case_id: str,
    consent_id: str,
    channel: str = "web",
) -> tuple[Case, ConsentView]:
    """One Consent with its form, for printing; audited."""
    require(actor, Action.READ, "Consent")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    version = _load_consent(uow, registry, actor, case, consent_id)
    _audit(uow, actor, EventKind.READ, (version.versioned_reference,), "consent read", channel)
    return case, view_of(version, forms)


def signature_png(view: ConsentView) -> bytes | None:
    attachment = extension_value(view.version.content, SIGNATURE_URL)
    return base64.b64decode(attachment["data"]) if attachment else None


def police_forces(uow: UnitOfWork) -> list[Organization]:
    return list(
        uow.session.scalars(
            sa.select(Organization)
            .where(Organization.kind == OrganizationKind.POLICE, Organization.is_active.is_(True))
            .order_by(Organization.name)
        )
    )


def other_organizations(uow: UnitOfWork) -> list[Organization]:
    """Organisations she may name in "never share with" (not the clinic's sites)."""
    return list(
        uow.session.scalars(
            sa.select(Organization)
            .where(Organization.kind != OrganizationKind.SITE)
            .order_by(Organization.name)
        )
    )


def survivor_language(
    uow: UnitOfWork, registry: ProfileRegistry, *, actor: Actor, patient_id: str
) -> str:
    """The language she reads: the one recorded on her case, else that of the consent
    she signed most recently (among those the reader may see), English when neither
    is recorded. Used for what she takes home (the case card, aftercare and
    appointment cards, referral letters), whatever the reader's own language."""
    recorded = uow.session.scalar(
        sa.select(Case.language).where(Case.patient_id == patient_id).limit(1)
    )
    if recorded in LANGUAGES:
        return str(recorded)
    store = ResourceStore(uow.session, registry)
    latest: tuple[str, str] | None = None
    for version in store.of_subject("Consent", f"Patient/{patient_id}"):
        if not decide(actor, Action.READ, "Consent", version.facts()).permitted:
            continue
        moment = str(version.content.get("dateTime", ""))
        language = str(version.content.get("language", "en"))
        if language in LANGUAGES and (latest is None or moment > latest[0]):
            latest = (moment, language)
    return latest[1] if latest else "en"


# -- what she shares ---------------------------------------------------------------


def shared_with(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    *,
    actor: Actor,
    case_id: str,
    channel: str = "web",
) -> tuple[Case, list[StoredVersion]]:
    """What her consent lets this reader see of her clinical record beyond their
    role's baseline (for a counsellor: the exam report she shares), each record
    decided on its own, narrative left out. Audited like a search."""
    from clinic.access.policy import CONSENT_GRANTS
    from clinic.fhir.services import Caller

    require(actor, Action.READ, "EpisodeOfCare")
    try:
        case = _load_case(uow, actor, case_id, Action.READ)
    except CaseNotFound as missing:
        raise ConsentNotFound(N_("No such case.")) from missing
    caller = Caller(uow, actor, channel, registry)
    kinds, _ = CONSENT_GRANTS.get(actor.role, (frozenset(), ""))
    shown: list[StoredVersion] = []
    for kind in SHARED_ORDER:
        if kind not in kinds:
            continue
        for version in caller.store.of_subject(kind, f"Patient/{case.patient_id}"):
            allowed = caller.visible(Action.READ, version)
            if allowed is not None:
                shown.append(allowed)
    caller.audit(
        EventKind.SEARCH,
        entities=[version.versioned_reference for version in shown],
        query=f"shared with {actor.role} for case {case.reference}",
    )
    return case, shown


# The order a shared record is read in: the report first, then what it is made of.
SHARED_ORDER = ("Composition", "Encounter", "Observation", "MedicationAdministration")


# Forms about her care at the exam, whose declines the examiner must see while working.
CARE_FORMS = ("exam-treatment", "evidence-collection", "photo-documentation")


@dataclass(frozen=True)
class CareDecisions:
    declined: list[str]  # the items she declined, in words (sentences, said on screen)
    not_recorded: list[str]  # care forms with no consent in force


def care_decisions(
    uow: UnitOfWork,
    registry: ProfileRegistry,
    forms: FormLibrary,
    *,
    actor: Actor,
    patient_id: str,
) -> CareDecisions:
    """For the exam screens: what she declined in the consents about her care that
    the reader may see, and which are not yet recorded."""
    store = ResourceStore(uow.session, registry)
    declined: list[str] = []
    recorded: set[str] = set()
    for version in store.of_subject("Consent", f"Patient/{patient_id}"):
        if version.content.get("status") != "active":
            continue
        if not decide(actor, Action.READ, "Consent", version.facts()).permitted:
            continue
        view = view_of(version, forms)
        if view.form.form not in CARE_FORMS:
            continue
        recorded.add(view.form.form)
        declined.extend(
            Sentence("%(item)s", item=Texts(view.form.item(i.item_id).text))
            for i in view.items
            if i.answer in ("declined", "withdrawn")
        )
    missing: list[str] = [
        Sentence("%(title)s", title=Texts(f.title))
        for f in forms.current()
        if f.form in CARE_FORMS and f.form not in recorded
    ]
    return CareDecisions(declined, missing)
