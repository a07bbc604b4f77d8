"""Evidence screens: collection and labels for examiners; the store, custody
actions and the verified chain for custodians."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import segno
import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from markupsafe import Markup

from clinic.access import Action, decide
from clinic.access.roles import OrganizationKind
from clinic.accounts.models import Organization
from clinic.core.clock import utcnow
from clinic.core.images import png_from_data_url
from clinic.core.web import current_actor, current_uow, view_rule
from clinic.evidence.forms import (
    MAX_ITEMS,
    MORE_ROWS,
    CollectForm,
    CustodyForm,
    ExtendRetentionForm,
    KitBenchForm,
    LabelSearchForm,
    LocationForm,
    RetireLocationForm,
)
from clinic.evidence.locations import (
    LocationRefused,
    add_location,
    retire_location,
    site_locations,
)
from clinic.evidence.models import CustodyState, EvidenceItem, EvidenceKind
from clinic.evidence.retention import (
    RetentionRefused,
    coming_due,
    extend_retention,
    site_deadlines,
)
from clinic.evidence.services import (
    CustodyInput,
    CustodyRefused,
    EvidenceNotFound,
    ItemSpec,
    available_actions,
    chain_of,
    check_chain,
    collect_kit,
    find_by_label,
    kit_contents,
    list_items,
    record_custody,
    seal_and_store_kit,
)
from clinic.i18n import N_, format_day
from clinic.ledger.said import problem as verification_problem

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

ACTION_LABELS = {
    "sealed": N_("Seal"),
    "stored": N_("Store"),
    "checked-out": N_("Check out"),
    "transferred": N_("Transfer to a laboratory"),
    "returned": N_("Record return"),
    "seal-broken": N_("Break the seal"),
    "destroyed": N_("Destroy (two people)"),
}
# The fields each action's form shows.
ACTION_FIELDS = {
    "sealed": ("seal_number", "note"),
    "stored": ("seal_number", "location", "note"),
    "checked-out": ("seal_number", "to_person", "note"),
    "transferred": (
        "seal_number",
        "receiver_organization_id",
        "receiver_name",
        "receiver_signature",
        "note",
    ),
    "returned": ("seal_number", "is_seal_intact", "note"),
    "seal-broken": ("note",),
    "destroyed": ("seal_number", "second_person", "second_person_password", "note"),
}


@bp.get("/")
@view_rule(Action.SEARCH, "EvidenceItem")
def items() -> Any:
    return _items_page(LabelSearchForm(), 200)


@bp.get("/find")
@view_rule(Action.SEARCH, "EvidenceItem")
def find() -> Any:
    """Find an item by its label, typed or scanned: an exact label opens the item."""
    search = LabelSearchForm(request.args)
    if not search.validate():
        return _items_page(search, 422)
    try:
        found = find_by_label(current_uow(), actor=current_actor(), label=search.label.data or "")
    except EvidenceNotFound as missing:
        search.label.errors = [missing.said()]
        return _items_page(search, 404)
    return redirect(url_for("evidence.item", item_id=found.id))


def _items_page(search: LabelSearchForm, status: int) -> Any:
    state = request.args.get("state") or None
    if state and state not in {s.value for s in CustodyState}:
        state = None
    actor = current_actor()
    deadlines = site_deadlines(
        current_uow().session, actor.organization_id, current_app.config["TRANSFER_OVERDUE_DAYS"]
    )
    limit = timedelta(days=deadlines.transfer_limit_days)
    overdue_before = utcnow() - limit
    only_overdue = request.args.get("overdue") == "1"
    found = list_items(
        current_uow(),
        actor=actor,
        state=state,
        overdue_before=overdue_before if only_overdue else None,
    )
    return render_template(
        "evidence/items.html",
        items=found,
        state=state,
        states=[s.value for s in CustodyState],
        only_overdue=only_overdue,
        overdue_before=overdue_before,
        overdue_days=limit.days,
        search=search,
    ), status


def _cases() -> list[tuple[str, str]]:
    """The site's cases, by case reference (never by name)."""
    from clinic.cases.services import list_cases

    return [(case.id, case.reference) for case in list_cases(current_uow(), actor=current_actor())]


def _rows_in_restored_draft() -> int:
    rows = [
        int(match.group(1))
        for name, _value in g.get("restored_draft") or ()
        if (match := re.fullmatch(r"items-(\d{1,3})-\w+", name))
    ]
    return max(rows) + 1 if rows else 0


@bp.route("/collect", methods=["GET", "POST"])
@view_rule(Action.CREATE, "Specimen")
def collect() -> Any:
    form = CollectForm(cases=_cases())
    if request.method == "GET" and request.args.get("case"):
        form.case_id.data = request.args["case"]
    if request.method == "GET":
        # A kit typed before her session ended comes back with every row it had.
        for _ in range(min(_rows_in_restored_draft(), MAX_ITEMS) - len(form.items)):
            form.items.append_entry()
    status = 200
    items_error = None
    if request.method == "POST" and request.form.get("more_rows"):
        # More rows, nothing saved: what was typed stays.
        for _ in range(min(MORE_ROWS, MAX_ITEMS - len(form.items))):
            form.items.append_entry()
        return render_template(
            "evidence/collect.html",
            form=form,
            items_error=None,
            max_rows=MAX_ITEMS,
            add_rows=MORE_ROWS,
        ), 200
    if form.validate_on_submit():
        specs = [
            ItemSpec(
                EvidenceKind(row.kind.data),
                (row.item_name.data or "").strip() or row.kind.data.capitalize(),
                container=row.container.data or None,
                body_site=row.body_site.data or None,
                is_declined=bool(row.is_declined.data),
                declined_reason=row.declined_reason.data or None,
            )
            for row in form.items
            if row.kind.data
        ]
        try:
            kit = collect_kit(
                current_uow(),
                current_app.extensions["clinic.profiles"],
                actor=current_actor(),
                case_id=form.case_id.data or "",
                kit_name=form.kit_name.data or "",
                items=specs,
            )
        except CustodyRefused as refused:
            if refused.field == "items":
                items_error = refused.said()
            else:
                target = form.case_id if refused.field == "case_id" else form.kit_name
                target.errors.append(refused.said())
            status = 422
        else:
            flash(
                gettext(
                    "Kit %(label)s recorded with %(count)s items. Print the labels, then seal.",
                    label=kit.kit.label,
                    count=len(kit.items),
                )
            )
            return redirect(url_for("evidence.labels", kit_id=kit.kit.id))
    elif form.is_submitted():
        status = 422
    return render_template(
        "evidence/collect.html",
        form=form,
        items_error=items_error,
        max_rows=MAX_ITEMS,
        add_rows=MORE_ROWS,
    ), status


@bp.get("/kits/<kit_id>/labels")
@view_rule(Action.READ, "EvidenceItem")
def labels(kit_id: str) -> Any:
    try:
        kit, contents = kit_contents(current_uow(), actor=current_actor(), kit_id=kit_id)
    except EvidenceNotFound:
        abort(404)
    # An item offered and declined was never collected: it gets no label.
    collected = [item for item in contents if item.state != CustodyState.DECLINED.value]
    declined = [item for item in contents if item.state == CustodyState.DECLINED.value]
    codes = {
        item.label: Markup(segno.make(item.label, error="m").svg_inline(scale=3, omitsize=False))  # noqa: S704 - SVG made by segno from our own label
        for item in (kit, *collected)
    }
    return render_template(
        "evidence/labels.html", kit=kit, items=collected, declined=declined, codes=codes
    )


@bp.get("/items/<item_id>")
@view_rule(Action.READ, "EvidenceItem")
def item(item_id: str) -> Any:
    return _item_page(item_id, None, 200)


def _item_page(
    item_id: str,
    failed: CustodyForm | None,
    status: int,
    retention_form: ExtendRetentionForm | None = None,
    bench_form: KitBenchForm | None = None,
) -> Any:
    uow, actor = current_uow(), current_actor()
    try:
        record, events = chain_of(uow, actor=actor, item_id=item_id)
    except EvidenceNotFound:
        abort(404)
    receivers, locations = _lab_receivers(), _locations()
    forms = {}
    for action in available_actions(actor, record):
        form = (
            failed
            if failed is not None and failed.action.data == action
            else CustodyForm(formdata=None, receivers=receivers, locations=locations)
        )
        form.action.data = action
        if action == "returned" and failed is None:
            form.is_seal_intact.data = True
        _give_unique_ids(form, action)
        forms[action] = form
    proof = check_chain(uow, events)
    extend_form = None
    if (
        record.kit_id is None
        and record.disposal_due is not None
        and record.state not in (CustodyState.DESTROYED.value, CustodyState.DECLINED.value)
        and decide(actor, Action.CREATE, "CustodyEvent", operation="retention-extended").permitted
    ):
        extend_form = retention_form or ExtendRetentionForm(formdata=None)
    bench = _bench(record, bench_form, locations) if record.kit_id is None else None
    return render_template(
        "evidence/item.html",
        item=record,
        bench=bench,
        extend_form=extend_form,
        events=events,
        forms=forms,
        fields=ACTION_FIELDS,
        labels=ACTION_LABELS,
        proof=proof,
        chain_problem=verification_problem(proof.problem),
    ), status


def _bench(record: Any, failed: KitBenchForm | None, locations: Any) -> dict[str, Any] | None:
    """The whole-kit action for this person, if any item of the kit is waiting for
    it: sealing (examiners and custodians), and storing too (custodians)."""
    actor = current_actor()
    may_seal = decide(actor, Action.CREATE, "CustodyEvent", operation="sealed").permitted
    may_store = decide(actor, Action.CREATE, "CustodyEvent", operation="stored").permitted
    if not may_seal:
        return None
    # The kit itself was decided (and its reading audited) by chain_of: its items
    # are of its site and case.
    contents = current_uow().session.scalars(
        sa.select(EvidenceItem).where(EvidenceItem.kit_id == record.id).order_by(EvidenceItem.label)
    )
    members = [m for m in (*contents, record) if m.state != CustodyState.DECLINED.value]
    waiting = [
        m
        for m in members
        if m.state in (CustodyState.COLLECTED.value, CustodyState.RETURNED.value)
        or (may_store and m.state == CustodyState.SEALED.value)
    ]
    if not waiting:
        return None
    form = failed or KitBenchForm(formdata=None, locations=locations)
    typed = {row.item_id.data: row.seal_number.data for row in form.seals} if failed else {}
    while len(form.seals):
        form.seals.pop_entry()
    for member in members:
        form.seals.append_entry({"item_id": member.id, "seal_number": typed.get(member.id)})
    return {
        "form": form,
        "members": members,
        "stores": may_store,
        "title": gettext("Seal and store the whole kit")
        if may_store
        else gettext("Seal the whole kit"),
    }


def _lab_receivers() -> list[tuple[str, str]]:
    """Who evidence may be transferred to, for the transfer form: active laboratories,
    and police forces (only items in a release approved for that force go)."""
    receivers = current_uow().session.scalars(
        sa.select(Organization)
        .where(
            Organization.kind.in_([OrganizationKind.LAB.value, OrganizationKind.POLICE.value]),
            Organization.is_active.is_(True),
        )
        .order_by(Organization.kind, Organization.name)
    )
    return [
        (
            org.id,
            org.name
            if org.kind == OrganizationKind.LAB
            else gettext("%(name)s (released items only)", name=org.name),
        )
        for org in receivers
    ]


def _locations() -> list[tuple[str, str]]:
    """The active storage locations of the actor's site, for the store form."""
    return [
        (place.name, place.condition)
        for place in site_locations(current_uow(), current_actor().organization_id)
    ]


@bp.get("/signatures/<sha256>")
@view_rule(Action.READ, "CustodyEvent")
def signature(sha256: str) -> Any:
    from flask import Response

    from clinic.evidence.services import signature_for

    try:
        png = signature_for(current_uow(), actor=current_actor(), sha256=sha256)
    except EvidenceNotFound:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Content-Disposition": "inline"})


def _give_unique_ids(form: CustodyForm, action: str) -> None:
    """Several action forms share a page: each field gets an id of its own, so
    that every label names its own input (screen readers, and clicks on labels)."""
    for field in form:
        field.id = f"{action}-{field.name}"
        field.label.field_id = field.id


@bp.post("/items/<item_id>/custody")
@view_rule(Action.READ, "EvidenceItem")
def custody(item_id: str) -> Any:
    uow = current_uow()
    form = CustodyForm(receivers=_lab_receivers(), locations=_locations())
    if not form.validate_on_submit():
        return _item_page(item_id, form, 422)
    action = form.action.data or ""
    details = CustodyInput(
        seal_number=form.seal_number.data,
        is_seal_intact=bool(form.is_seal_intact.data) if action == "returned" else None,
        location=form.location.data,
        to_person=form.to_person.data,
        receiver_name=form.receiver_name.data,
        receiver_organization_id=form.receiver_organization_id.data or None,
        receiver_signature_png=png_from_data_url(form.receiver_signature.data),
        second_person=form.second_person.data,
        second_person_password=form.second_person_password.data,
        note=form.note.data,
    )
    try:
        event = record_custody(
            uow, actor=current_actor(), item_id=item_id, action=action, details=details
        )
    except EvidenceNotFound:
        abort(404)
    except CustodyRefused as refused:
        field = getattr(form, refused.field, None) if refused.field else None
        (field.errors if field is not None else form.note.errors).append(refused.said())
        return _item_page(item_id, form, 422)
    flash(
        gettext(
            "%(action)s: recorded as custody event %(index)s.",
            action=gettext(ACTION_LABELS[action]),
            index=event.id,
        )
    )
    return redirect(url_for("evidence.item", item_id=item_id))


@bp.post("/kits/<kit_id>/bench")
@view_rule(Action.READ, "EvidenceItem")
def bench(kit_id: str) -> Any:
    """Seal (and store) a whole kit in one action: one custody event per item and
    action, all or nothing."""
    form = KitBenchForm(locations=_locations())
    if not form.validate_on_submit():
        return _item_page(kit_id, None, 422, bench_form=form)
    stores = decide(current_actor(), Action.CREATE, "CustodyEvent", operation="stored").permitted
    if stores and not form.location.data:
        form.refusal = "Choose where the kit is stored."
        return _item_page(kit_id, None, 422, bench_form=form)
    try:
        events = seal_and_store_kit(
            current_uow(),
            actor=current_actor(),
            kit_id=kit_id,
            seals={row.item_id.data or "": row.seal_number.data or "" for row in form.seals},
            location=form.location.data if stores else None,
            note=form.note.data,
        )
    except EvidenceNotFound:
        abort(404)
    except CustodyRefused as refused:
        form.refusal = refused.said()
        return _item_page(kit_id, None, 422, bench_form=form)
    flash(
        gettext(
            "Whole kit: %(count)s custody events recorded, one per item and action.",
            count=len(events),
        )
    )
    return redirect(url_for("evidence.item", item_id=kit_id))


@bp.post("/kits/<kit_id>/retention")
@view_rule(Action.READ, "EvidenceItem")
def extend(kit_id: str) -> Any:
    """Record the survivor's objection to destruction: the kit is kept longer."""
    form = ExtendRetentionForm()
    if not form.validate_on_submit():
        return _item_page(kit_id, None, 422, form)
    try:
        due = extend_retention(
            current_uow(),
            actor=current_actor(),
            kit_id=kit_id,
            reason=form.reason.data or "",
            default_transfer_days=current_app.config["TRANSFER_OVERDUE_DAYS"],
        )
    except EvidenceNotFound:
        abort(404)
    except RetentionRefused as refused:
        form.reason.errors.append(refused.said())
        return _item_page(kit_id, None, 422, form)
    flash(gettext("Retention extended: kept until at least %(day)s.", day=format_day(due)))
    return redirect(url_for("evidence.item", item_id=kit_id))


@bp.get("/due")
@view_rule(Action.SEARCH, "EvidenceItem")
def due() -> Any:
    """Kits coming due for disposal, and past it."""
    found, deadlines = coming_due(
        current_uow(),
        actor=current_actor(),
        default_transfer_days=current_app.config["TRANSFER_OVERDUE_DAYS"],
    )
    return render_template("evidence/due.html", found=found, deadlines=deadlines)


@bp.route("/locations", methods=["GET", "POST"])
@view_rule(Action.SEARCH, "StorageLocation")
def locations() -> Any:
    uow, actor = current_uow(), current_actor()
    form = LocationForm()
    status = 200
    if form.validate_on_submit():
        try:
            added = add_location(
                uow, actor=actor, name=form.name.data or "", condition=form.condition.data or ""
            )
        except LocationRefused as refused:
            form.name.errors.append(refused.said())
            status = 422
        else:
            flash(gettext("%(name)s added.", name=added.name))
            return redirect(url_for("evidence.locations"))
    elif form.is_submitted():
        status = 422
    places = site_locations(uow, actor.organization_id, include_retired=True)
    return render_template(
        "evidence/locations.html",
        form=form,
        places=places,
        retire_form=RetireLocationForm(formdata=None),
    ), status


@bp.post("/locations/retire")
@view_rule(Action.UPDATE, "StorageLocation")
def retire() -> Any:
    form = RetireLocationForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        place = retire_location(
            current_uow(), actor=current_actor(), location_id=form.location_id.data or ""
        )
    except LocationRefused:
        abort(404)
    flash(gettext("%(name)s retired: it takes no new items.", name=place.name))
    return redirect(url_for("evidence.locations"))
