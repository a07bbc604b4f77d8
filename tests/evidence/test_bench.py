"""Evidence at the bench: collection only with her evidence-collection consent,
kits of any size, a whole kit sealed and stored in one action, finding an item by
its label (screen and FHIR), and no label for what she declined."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.core.db import db
from clinic.evidence.models import CustodyEvent, EvidenceItem, EvidenceKind
from clinic.evidence.services import (
    CustodyRefused,
    ItemSpec,
    collect_kit,
    verify_custody_log,
)
from tests.conftest import PASSWORD, World
from tests.consent.helpers import all_items, record
from tests.helpers import api, csrf_token, login, open_case
from tests.helpers import collect_kit as collect_via_helper

EVIDENCE_FORM = "evidence-collection/v1"
WHAT_TO_DO = (
    "Record her evidence-collection consent first (Her consent > Evidence collection and storage)."
)


def _collect(app: Flask, case_id: str, items: list[ItemSpec]) -> Any:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        kit = collect_kit(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            kit_name="Kit",
            items=items,
        )
        uow.session.expunge_all()
        return kit


def _items_of_case(app: Flask, case_id: str) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(EvidenceItem)
                .where(EvidenceItem.case_id == case_id)
            )
            or 0
        )


def _events(app: Flask, action: str | None = None) -> list[CustodyEvent]:
    with app.app_context():
        query = sa.select(CustodyEvent).order_by(CustodyEvent.log_index)
        if action:
            query = query.where(CustodyEvent.action == action)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


# -- point 3: her consent governs collection ----------------------------------------


def test_nothing_is_collected_without_her_evidence_collection_consent(app: Flask) -> None:
    case = open_case(app)
    with pytest.raises(CustodyRefused) as refused:
        _collect(app, case.id, [ItemSpec(EvidenceKind.SWAB, "Swab 1")])
    assert refused.value.message == (
        "Item 1: she has not given evidence-collection consent for swabs. " + WHAT_TO_DO
    )
    assert refused.value.field == "items"
    with pytest.raises(CustodyRefused, match="consent for clothing"):
        _collect(
            app,
            case.id,
            [
                ItemSpec(EvidenceKind.CLOTHING, "Pants", is_declined=True, declined_reason="she"),
                ItemSpec(EvidenceKind.CLOTHING, "Top"),
            ],
        )
    assert _items_of_case(app, case.id) == 0
    # Offered and declined can always be recorded, consent or not.
    declined = _collect(
        app,
        case.id,
        [ItemSpec(EvidenceKind.BLOOD, "Blood", is_declined=True, declined_reason="she declined")],
    )
    assert [i.state for i in declined.items] == ["declined"]


def test_only_the_kinds_her_consent_permits_are_collected(app: Flask) -> None:
    case = open_case(app)
    record(app, case.id, EVIDENCE_FORM, {**all_items(app, EVIDENCE_FORM), "swabs": False})
    with pytest.raises(CustodyRefused, match="Item 1: she declined the collection of swabs"):
        _collect(app, case.id, [ItemSpec(EvidenceKind.SWAB, "Swab 1")])
    # The form never asks about "other" items: none can be collected.
    with pytest.raises(CustodyRefused) as refused:
        _collect(
            app,
            case.id,
            [ItemSpec(EvidenceKind.BLOOD, "Blood"), ItemSpec(EvidenceKind.OTHER, "Tampon")],
        )
    assert refused.value.message.startswith(
        "Item 2: her evidence-collection consent form does not ask about other evidence items"
    )
    assert _items_of_case(app, case.id) == 0
    kit = _collect(
        app, case.id, [ItemSpec(EvidenceKind.BLOOD, "Blood"), ItemSpec(EvidenceKind.HAIR, "Hair")]
    )
    assert [i.kind for i in kit.items] == ["blood", "hair"]


def test_a_withdrawn_evidence_consent_stops_collection(app: Flask) -> None:
    from tests.consent.helpers import withdraw

    case = open_case(app)
    consent_id = record(app, case.id, EVIDENCE_FORM, all_items(app, EVIDENCE_FORM))
    withdraw(app, case.id, consent_id)
    with pytest.raises(CustodyRefused, match="has not given evidence-collection consent for urine"):
        _collect(app, case.id, [ItemSpec(EvidenceKind.URINE, "Urine")])


def test_the_collection_form_says_which_consent_is_missing_and_what_to_do(app: Flask) -> None:
    case = open_case(app)
    client = _signed_in(app, "examiner")
    token = csrf_token(client, f"/evidence/collect?case={case.id}")
    response = client.post(
        "/evidence/collect",
        data={
            "csrf_token": token,
            "case_id": case.id,
            "kit_name": "Kit",
            "items-0-kind": "swab",
            "items-0-item_name": "Swab 1",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="items-error"' in page
    assert "she has not given evidence-collection consent for swabs" in page
    assert "Her consent &gt; Evidence collection and storage" in page
    assert _items_of_case(app, case.id) == 0


# -- kits of any size ------------------------------------------------------------------


def test_a_kit_of_nine_items_through_the_form_with_more_rows(app: Flask) -> None:
    case = open_case(app)
    record(app, case.id, EVIDENCE_FORM, all_items(app, EVIDENCE_FORM))
    client = _signed_in(app, "examiner")
    token = csrf_token(client, f"/evidence/collect?case={case.id}")
    page = client.get(f"/evidence/collect?case={case.id}").get_data(as_text=True)
    assert page.count('class="item-row"') == 6
    kinds = ["swab", "swab", "swab", "blood", "urine", "clothing", "clothing", "hair", "debris"]
    typed = {
        "csrf_token": token,
        "case_id": case.id,
        "kit_name": "Kit",
        **{f"items-{n}-kind": kind for n, kind in enumerate(kinds[:6])},
        **{f"items-{n}-item_name": f"Item {n + 1}" for n in range(6)},
    }
    # "Add more rows" keeps what was typed and saves nothing.
    more = client.post("/evidence/collect", data={**typed, "more_rows": "1"})
    assert more.status_code == 200
    page = more.get_data(as_text=True)
    assert page.count('class="item-row"') == 9
    assert 'value="Item 6"' in page
    assert _items_of_case(app, case.id) == 0
    typed |= {f"items-{n}-kind": kinds[n] for n in range(6, 9)}
    typed |= {f"items-{n}-item_name": f"Item {n + 1}" for n in range(6, 9)}
    response = client.post("/evidence/collect", data=typed)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        items = list(
            db.session.scalars(
                sa.select(EvidenceItem)
                .where(EvidenceItem.case_id == case.id, EvidenceItem.kit_id.is_not(None))
                .order_by(EvidenceItem.label)
            )
        )
    assert [i.kind for i in items] == kinds
    assert items[-1].label.endswith("-09")


# -- a whole kit at once ---------------------------------------------------------------


def _bench(
    client: FlaskClient, kit: Any, seals: dict[str, str], location: str | None = None
) -> Any:
    token = csrf_token(client, f"/evidence/items/{kit.kit.id}")
    data = {"csrf_token": token}
    for n, (item_id, seal) in enumerate(seals.items()):
        data[f"seals-{n}-item_id"] = item_id
        data[f"seals-{n}-seal_number"] = seal
    if location is not None:
        data["location"] = location
    return client.post(f"/evidence/kits/{kit.kit.id}/bench", data=data)


def test_a_whole_kit_of_nine_is_sealed_then_stored_with_one_event_per_item(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    kinds = ("swab",) * 4 + ("blood", "urine", "clothing", "hair", "debris")
    kit = collect_via_helper(app, "examiner", case.id, kinds)
    members = [*kit.items, kit.kit]
    seals = {m.id: f"SEAL-{n:03d}" for n, m in enumerate(members)}
    before = len(_events(app))

    # The examiner seals the whole kit at the exam: one sealed event per item.
    examiner = _signed_in(app, "examiner")
    page = examiner.get(f"/evidence/items/{kit.kit.id}").get_data(as_text=True)
    assert "Seal the whole kit" in page
    assert "Seal and store the whole kit" not in page
    response = _bench(examiner, kit, seals)
    assert response.status_code == 302, response.get_data(as_text=True)
    sealed = _events(app, "sealed")
    assert sorted(e.item_id for e in sealed) == sorted(m.id for m in members)
    assert {e.item_id: e.seal_number for e in sealed} == seals

    # The custodian stores it at the bench: one stored event per item, same location.
    custodian = _signed_in(app, "custodian")
    assert "Seal and store the whole kit" in custodian.get(
        f"/evidence/items/{kit.kit.id}"
    ).get_data(as_text=True)
    response = _bench(custodian, kit, seals, "Store A, freezer 2")
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = _events(app, "stored")
    assert sorted(e.item_id for e in stored) == sorted(m.id for m in members)
    assert {e.location for e in stored} == {"Store A, freezer 2"}
    events = _events(app)
    assert len(events) == before + 2 * len(members)
    assert len({e.log_index for e in events}) == len(events)  # each its own leaf
    with app.app_context():
        assert verify_custody_log(db.session).is_valid
        states = set(
            db.session.scalars(sa.select(EvidenceItem.state).where(EvidenceItem.case_id == case.id))
        )
    assert states == {"stored"}


def test_sealing_and_storing_a_kit_is_all_or_nothing_and_names_the_item(
    app: Flask, world: World
) -> None:
    case = open_case(app)
    kit = collect_via_helper(app, "examiner", case.id, ("swab", "swab", "blood"))
    members = [*kit.items, kit.kit]
    seals = {m.id: f"SEAL-{n}" for n, m in enumerate(members)}
    custodian = _signed_in(app, "custodian")
    before = _events(app)

    # One item without a seal number: nothing in the kit is sealed or stored.
    missing = dict(seals) | {kit.items[1].id: ""}
    response = _bench(custodian, kit, missing, "Store A, freezer 2")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert kit.items[1].label in page
    assert "Nothing in the kit was sealed or stored" in page
    assert len(_events(app)) == len(before)

    # The last one fails (a wrong seal on the kit itself, which comes after its
    # items): the items stored before it in the same action are rolled back.
    response = _bench(custodian, kit, seals, "Store A, freezer 2")
    assert response.status_code == 302
    with app.app_context():
        db.session.execute(
            sa.update(EvidenceItem)
            .where(EvidenceItem.case_id == case.id)
            .values(state="returned", holder="custodian", location=None)
        )
        db.session.commit()
    stored_before = _events(app)
    wrong = dict(seals) | {kit.kit.id: "SEAL-WRONG"}
    response = _bench(custodian, kit, wrong, "Fridge 1")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f"{kit.kit.label} (Sexual assault evidence kit)" in page
    assert "does not match" in page
    assert len(_events(app)) == len(stored_before)
    with app.app_context():
        rows = list(
            db.session.scalars(sa.select(EvidenceItem).where(EvidenceItem.case_id == case.id))
        )
    assert {(r.state, r.location) for r in rows} == {("returned", None)}

    # Without a location the custodian is asked where.
    response = _bench(custodian, kit, seals, "")
    assert response.status_code == 422
    assert "Choose where the kit is stored." in response.get_data(as_text=True)


def test_another_sites_kit_cannot_be_sealed_at_the_bench(app: Flask, world: World) -> None:
    south = open_case(app, "examiner.south")
    kit = collect_via_helper(app, "examiner.south", south.id, ("swab",))
    custodian = _signed_in(app, "custodian")
    token = csrf_token(custodian, "/evidence/")
    response = custodian.post(
        f"/evidence/kits/{kit.kit.id}/bench",
        data={
            "csrf_token": token,
            "seals-0-item_id": kit.items[0].id,
            "seals-0-seal_number": "X",
            "location": "Store A, freezer 2",
        },
    )
    assert response.status_code == 404
    assert not [e for e in _events(app) if e.action != "collected"]


# -- labels ----------------------------------------------------------------------------


def test_no_label_is_printed_for_a_declined_item(app: Flask) -> None:
    case = open_case(app)
    record(
        app, case.id, EVIDENCE_FORM, {**all_items(app, EVIDENCE_FORM), "hair-nails-debris": False}
    )
    kit = _collect(
        app,
        case.id,
        [
            ItemSpec(EvidenceKind.SWAB, "Swab 1"),
            ItemSpec(EvidenceKind.HAIR, "Hair combings", is_declined=True, declined_reason="she"),
        ],
    )
    declined = kit.items[1]
    page = _signed_in(app, "examiner").get(f"/evidence/kits/{kit.kit.id}/labels")
    text = page.get_data(as_text=True)
    sheet = text[text.index('class="label-sheet"') :]
    assert re.findall(r'class="label-id">([^<]+)<', sheet) == [kit.kit.label, kit.items[0].label]
    assert declined.label not in sheet
    assert sheet.count("Collected ") == 2
    assert "No label for what she declined" in text


# -- finding an item by its label: the screen ------------------------------------------


def test_a_scanned_label_opens_the_item_and_anything_else_gets_one_answer(
    app: Flask, world: World
) -> None:
    own = collect_via_helper(app, "examiner", open_case(app).id, ("swab",))
    south = collect_via_helper(app, "examiner.south", open_case(app, "examiner.south").id)
    for username in ("custodian", "examiner"):
        client = _signed_in(app, username)
        found = client.get(f"/evidence/find?label={own.items[0].label}")
        assert found.status_code == 302
        assert found.headers["Location"].endswith(f"/evidence/items/{own.items[0].id}")
        # As a scanner or a person may type it: lower case, stray spaces.
        typed = client.get("/evidence/find", query_string={"label": f" {own.kit.label.lower()} "})
        assert typed.headers["Location"].endswith(f"/evidence/items/{own.kit.id}")

        answers = []
        for label in (south.items[0].label, south.kit.label, "SOUTH-K00000000-01", "NOPE"):
            response = client.get("/evidence/find", query_string={"label": label})
            page = response.get_data(as_text=True)
            error = re.search(r'<p class="error" id="label-error"[^>]*>([^<]+)</p>', page)
            assert error, page
            answers.append((response.status_code, error.group(1)))
            assert south.items[0].id not in page
        assert set(answers) == {(404, "There is no item with this label at your site.")}
    client = _signed_in(app, "counsellor")
    assert client.get(f"/evidence/find?label={own.kit.label}").status_code == 403


# -- finding an item by its label: FHIR ------------------------------------------------


def _bundle_shape(response: Any) -> Any:
    body = response.get_json()
    return (
        response.status_code,
        body["resourceType"],
        body["type"],
        "total" in body,
        body.get("entry", []),
        sorted(body),
        [link["relation"] for link in body.get("link", [])],
    )


def test_custodians_find_a_specimen_by_its_label_without_clinical_detail(
    app: Flask, client: FlaskClient, world: World
) -> None:
    own = collect_via_helper(app, "examiner", open_case(app).id, ("swab", "blood"))
    token = world["custodian"].token
    label = own.items[0].label
    response = api(client, "GET", f"/fhir/Specimen?identifier={label}", token)
    assert response.status_code == 200, response.get_data(as_text=True)
    entries = response.get_json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [own.items[0].id]
    specimen = entries[0]["resource"]
    assert specimen["identifier"][0]["value"] == label
    assert specimen["type"]["coding"][0]["code"] == "swab"
    assert "bodySite" not in specimen["collection"]
    assert "collector" not in specimen["collection"]
    assert "note" not in specimen
    assert "text" not in specimen
    # With the label system too, and several labels at once.
    system = "https://forensic-care.org/fhir/sid/evidence-label"
    both = api(
        client,
        "GET",
        f"/fhir/Specimen?identifier={system}|{label},{own.kit.label}",
        token,
    ).get_json()
    assert {e["resource"]["id"] for e in both["entry"]} == {own.items[0].id, own.kit.id}
    # The examiner still gets the whole Specimen.
    full = api(client, "GET", f"/fhir/Specimen?identifier={label}", world["examiner"].token)
    assert full.get_json()["entry"][0]["resource"]["collection"]["bodySite"] == {"text": "oral"}
    # The search is audited, the label itself redacted.
    with app.app_context():
        from clinic.audit.models import AuditEntry

        audited = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.query.like("Specimen?identifier=%"))
        ).all()
    assert audited
    assert all("[redacted]" in (entry.query or "") for entry in audited)
    assert all(label not in (entry.query or "") for entry in audited)


def test_a_label_of_another_site_answers_exactly_as_an_unknown_one(
    app: Flask, client: FlaskClient, world: World
) -> None:
    south = collect_via_helper(app, "examiner.south", open_case(app, "examiner.south").id)
    own = collect_via_helper(app, "examiner", open_case(app).id, ("swab",))
    guesses = [
        south.items[0].label,
        south.kit.label,
        south.kit.label[:-1] + ("0" if south.kit.label[-1] != "0" else "1"),
        "SOUTH-K00000000-01",
    ]
    for username in ("custodian", "officer", "officer.hill"):
        token = world[username].token
        shapes = {
            repr(_bundle_shape(api(client, "GET", f"/fhir/Specimen?identifier={g}", token)))
            for g in guesses
        }
        assert len(shapes) == 1, (username, shapes)
        assert '"entry"' not in shapes.pop()
    # Police learn nothing of the clinic's own items either; counsellors are refused
    # before any record is looked at; a custodian may not search Specimens otherwise.
    officer = api(
        client, "GET", f"/fhir/Specimen?identifier={own.items[0].label}", world["officer"].token
    )
    assert officer.status_code == 200
    assert officer.get_json().get("entry", []) == []
    counsellor = world["counsellor"].token
    assert (
        api(
            client, "GET", f"/fhir/Specimen?identifier={own.items[0].label}", counsellor
        ).status_code
        == 403
    )
    custodian = world["custodian"].token
    for query in (
        "",
        "?patient=x",
        f"?parent={own.kit.id}",
        f"?identifier={own.kit.label}&patient=x",
    ):
        assert api(client, "GET", f"/fhir/Specimen{query}", custodian).status_code == 403, query
    assert api(client, "GET", f"/fhir/Specimen/{own.items[0].id}", custodian).status_code == 403


def test_the_capability_statement_declares_the_label_search_for_custodians(
    client: FlaskClient,
) -> None:
    statement = api(client, "GET", "/fhir/metadata", None).get_json()
    specimen = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Specimen")
    assert "identifier" in {p["name"] for p in specimen["searchParam"]}
    assert "custodians" in specimen["documentation"]
    assert "identifier" in specimen["documentation"]


def test_a_refused_kit_leaves_nothing_behind_even_if_the_caller_commits(
    app: Flask, world: World
) -> None:
    """The service itself is all or nothing (a savepoint), not only the request."""
    from clinic.evidence.services import KitRefused, seal_and_store_kit

    case = open_case(app)
    kit = collect_via_helper(app, "examiner", case.id, ("swab", "blood", "urine"))
    seals = {m.id: f"SEAL-{n}" for n, m in enumerate([*kit.items, kit.kit])}
    seals[kit.items[2].id] = ""
    before = len(_events(app))
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "custodian"))
        with pytest.raises(KitRefused) as refused:
            seal_and_store_kit(
                uow, actor=actor_for(user), kit_id=kit.kit.id, seals=seals, location="Fridge 1"
            )
        assert refused.value.item_id == kit.items[2].id
        assert refused.value.message.startswith(f"{kit.items[2].label} (Urine 3): ")
    # The unit of work was committed on leaving it, after the refusal.
    assert len(_events(app)) == before
    with app.app_context():
        states = set(
            db.session.scalars(sa.select(EvidenceItem.state).where(EvidenceItem.case_id == case.id))
        )
    assert states == {"collected"}


# -- the decision point ----------------------------------------------------------------


def test_the_decision_point_on_label_lookups_and_collection() -> None:
    from clinic.access import Action, Actor, ResourceFacts, Role, decide
    from clinic.access.consent import Directive, Provision, Recipient, Verdict
    from clinic.access.policy import COLLECT, CUSTODY_VIEW, LABEL_LOOKUP

    custodian = Actor("u1", "custodian", Role.CUSTODIAN, "north")
    own = ResourceFacts("Specimen", "s1", site_id="north", subject="Patient/p1")
    other = ResourceFacts("Specimen", "s2", site_id="south", subject="Patient/p2")

    class Book:
        def __init__(self, *directives: Directive) -> None:
            self.found = directives

        def directives(self, subject: str) -> tuple[Directive, ...]:
            return self.found

    kind_level = decide(custodian, Action.SEARCH, "Specimen", operation=LABEL_LOOKUP)
    assert kind_level.permitted
    assert kind_level.obligations == (CUSTODY_VIEW,)
    assert not decide(custodian, Action.SEARCH, "Specimen").permitted
    assert not decide(custodian, Action.READ, "Specimen", operation=LABEL_LOOKUP).permitted
    found = decide(
        custodian, Action.SEARCH, "Specimen", own, operation=LABEL_LOOKUP, consents=Book()
    )
    assert found.permitted
    assert CUSTODY_VIEW in found.obligations
    hidden = decide(
        custodian, Action.SEARCH, "Specimen", other, operation=LABEL_LOOKUP, consents=Book()
    )
    assert not hidden.permitted
    assert hidden.concealed

    examiner = Actor("u2", "examiner", Role.EXAMINER, "north")
    swab = ResourceFacts(
        "Specimen",
        "",
        site_id="north",
        subject="Patient/p1",
        data_classes=frozenset({"evidence-swab"}),
    )
    permit = Provision(
        Verdict.PERMIT,
        item="swabs",
        recipients=frozenset({Recipient("case-examiner")}),
        actions=frozenset({"collect"}),
        classes=frozenset({"evidence-swab"}),
    )
    consent = Directive("c1", "evidence-collection/v1", True, (permit,))
    assert not decide(
        examiner, Action.CREATE, "Specimen", swab, operation=COLLECT, consents=Book()
    ).permitted
    assert decide(
        examiner, Action.CREATE, "Specimen", swab, operation=COLLECT, consents=Book(consent)
    ).permitted
    blood = ResourceFacts(
        "Specimen",
        "",
        site_id="north",
        subject="Patient/p1",
        data_classes=frozenset({"evidence-blood"}),
    )
    assert not decide(
        examiner, Action.CREATE, "Specimen", blood, operation=COLLECT, consents=Book(consent)
    ).permitted
    assert not decide(examiner, Action.CREATE, "Specimen", swab, operation=COLLECT).permitted


def test_a_label_with_a_control_character_is_no_label_on_every_database(app: Flask) -> None:
    """A scanner's stray control character gets the ordinary answer; a NUL byte,
    which PostgreSQL refuses in text, is refused before any lookup with a page that
    says so (as on every route). Never a server error."""
    client = _signed_in(app, "custodian")
    answer = client.get("/evidence/find", query_string={"label": "NORTH-K\x1b[2~"})
    assert answer.status_code == 404
    assert "There is no item with this label at your site." in answer.get_data(as_text=True)
    for label in ("AB\x00CD", "\x00"):
        refused = client.get("/evidence/find", query_string={"label": label})
        assert refused.status_code == 400
        assert "NUL character" in refused.get_data(as_text=True)
