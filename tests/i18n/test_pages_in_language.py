"""Pages rendered in French and Spanish through the real app show no English that
the catalogues or our CodeSystems' designations translate: every text node and
every attribute people read is compared with the English messages and the English
displays of our coded values."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from clinic import create_app
from clinic.audit import said as audit_said
from clinic.exam import services as exam_services
from clinic.fhir.terminology import code_systems
from clinic.i18n import TRANSLATIONS_DIR, catalogue_path
from tests.conftest import PASSWORD, DatabaseFactory, bind_expert
from tests.consent.helpers import all_items, record
from tests.exam.helpers import call, complete_exam, record_exam_consent, record_vitals, start
from tests.followup.helpers import agreed_plan, signed_exam
from tests.helpers import collect_kit, csrf_token, login, open_case
from tests.media.helpers import camera_jpeg, record_photo_consent, take

LANGUAGES = ("fr", "es")
# Why the signed exam was amended, as the examiner typed it.
AMENDED_WHY = "Left out at sign-off by mistake."
SPLIT = re.compile(r"%\([^)]+\)[sdif]|%[sdif]|<[^>]+>")


@cache
def english_messages(language: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The English messages that read differently in `language`: whole messages
    (matched against whole text nodes) and their longer runs of words (found
    anywhere on the page)."""
    with catalogue_path(TRANSLATIONS_DIR, language).open("rb") as source:
        catalog = read_po(source, locale=language)
    whole: set[str] = set()
    runs: set[str] = set()
    # What the language itself writes ("Main" is French for a hand, and an English
    # message too) is never taken for English.
    own: set[str] = set()
    for message in catalog:
        if isinstance(message.string, str) and message.string:
            own.add(" ".join(message.string.split()))
    for concepts in code_systems().values():
        for concept in concepts.values():
            if language in concept.designations:
                own.add(" ".join(concept.designations[language].split()))
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or message.string == message.id:
            continue
        whole.add(" ".join(message.id.split()))
        for run in SPLIT.split(message.id):
            run = " ".join(run.split()).strip(" .,:;()")
            if len(run.split()) >= 4:
                runs.add(run)
    # Our coded values: each English display whose designation in `language` differs.
    for concepts in code_systems().values():
        for concept in concepts.values():
            if concept.designations.get(language, concept.display) != concept.display:
                whole.add(" ".join(concept.display.split()))
    return frozenset(whole - own), tuple(sorted(runs))


@cache
def english_sentences(language: str) -> re.Pattern[str]:
    """The English messages with named values (a report line, a refusal) that read
    differently in `language`, as one pattern: each value may be anything, the
    words around it are the English ones. Messages with fewer than two words of
    their own ("%(act)s: %(answer)s", "from %(start)s") are left out: they would
    match any text."""
    with catalogue_path(TRANSLATIONS_DIR, language).open("rb") as source:
        catalog = read_po(source, locale=language)
    shapes = []
    for message in catalog:
        if not isinstance(message.id, str) or message.string == message.id:
            continue
        parts = SPLIT.split(" ".join(message.id.split()))
        if len(parts) < 2 or len(re.findall(r"[A-Za-z]{2,}", " ".join(parts))) < 2:
            continue
        shapes.append(".+?".join(re.escape(part) for part in parts))
    return re.compile("|".join(f"(?:{shape})" for shape in shapes) or "(?!)")


def visible_text(page: str) -> list[str]:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.DOTALL)
    attributes = re.findall(r'\b(?:aria-label|title|alt|placeholder|data-label)="([^"]*)"', page)
    nodes = re.split(r"<[^>]+>", page)
    texts = [" ".join(html.unescape(t).split()) for t in [*attributes, *nodes]]
    return [t for t in texts if t]


def english_on(page: str, language: str) -> list[str]:
    """The English messages on the page, leaving out what is printed for her in her
    own language (an article marked with another lang, such as her case card) and
    what is shown as written (AS_WRITTEN)."""
    page = re.sub(
        rf'<article\b[^>]*\blang="(?!{language}")[^"]*"[^>]*>.*?</article>', " ", page, flags=re.S
    )
    page = AS_WRITTEN.sub(" ", page)
    whole, runs = english_messages(language)
    texts = visible_text(page)
    sentences = english_sentences(language)
    found = [t for t in texts if t in whole or t.strip(" .:·") in whole or sentences.fullmatch(t)]
    joined = " ".join(texts)
    found += [run for run in runs if run in joined]
    return found


# English words no French or Spanish sentence uses: function words ("on" is French,
# "has", "he" and "no" are Spanish, "or" and "as" are both: they are not in the
# list) and the names of months and days. A composed English sentence (a summary
# a service wrote, an f-string refusal, a date in English words) is not in the
# catalogue, but it cannot do without them.
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "with",
        "was",
        "were",
        "of",
        "not",
        "been",
        "by",
        "at",
        "is",
        "are",
        "to",
        "for",
        "from",
        "this",
        "that",
        "which",
        "she",
        "her",
        "his",
        "it",
        "they",
        "their",
        "be",
        "will",
        "should",
        "after",
        "before",
        "until",
        "between",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)
WORD = re.compile(r"[^\W\d_]+")
SPANISH_MAY = re.compile(r"\b\d{1,2} may\b", flags=re.I)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# What this test's data typed in English, as a person would: her account and the
# examiner's notes (tests/exam/helpers.py), kit and item names (tests/helpers.py),
# the expert her consent names. It is shown as written in every language; only
# these texts are taken out before the function words are looked for. Proper
# names and other data carry none of the words above.
TYPED = (
    "He held me down and I couldn't breathe.",
    "Quiet, tearful, answered every question.",
    "Tender on touch.",
    "Sexual assault evidence kit",
    AMENDED_WHY,
)


# Text shown in the language it was written in, and marked so (lang="en"): the
# English-language guidance a follow-up schedule cites (<cite lang="en">); an
# audit event's exact words, offered beside what they say (<details data-record>);
# and what the audit trail recorded in words it has no known shape for (an older
# record's), marked data-as-recorded: a recorded text it can say in the reader's
# language is not exempt (`sayable_but_as_recorded`). Machine text (<code>: a
# query, a reference, a command) is no sentence.
AS_WRITTEN = re.compile(
    r'<cite lang="en">.*?</cite>|<details class="as-recorded" data-record>.*?</details>'
    r'|<(\w+) lang="en" data-as-recorded>.*?</\1>|<code>.*?</code>'
    # A case reference and an evidence label are random letters and digits:
    # "SA-CMJE-BY4N" and "NORTH-K4BY7Q2MX-01" hold no word.
    r"|\bSA-[A-Z0-9]{4}-[A-Z0-9]{4}\b|\b[A-Z0-9]+-K[A-Z0-9]{8}(?:-\d+)?\b",
    flags=re.S,
)
RECORD = re.compile(r'<details class="as-recorded" data-record>.*?</details>', flags=re.S)
AS_RECORDED = re.compile(r'<(\w+) lang="en" data-as-recorded>(.*?)</\1>', flags=re.S)


def sayable_but_as_recorded(page: str) -> list[str]:
    """Texts shown as recorded, in English, though the audit trail's shapes say
    them in the reader's language (outside the record's exact words)."""
    texts = [html.unescape(m[2]) for m in AS_RECORDED.finditer(RECORD.sub(" ", page))]
    return [
        text
        for text in texts
        if audit_said.reason(text).said is not None
        or audit_said.outcome(text).said is not None
        or audit_said.query(text).said is not None
    ]


def english_words_on(page: str, language: str) -> list[str]:
    """The visible texts of the page holding an English function word (whole word,
    any case), once what the test typed as data is taken out; what is printed for
    her in another language (an article with its own lang) is left out."""
    page = re.sub(
        rf'<article\b[^>]*\blang="(?!{language}")[^"]*"[^>]*>.*?</article>', " ", page, flags=re.S
    )
    page = AS_WRITTEN.sub(" ", page)
    found = []
    for text in visible_text(page):
        for typed in TYPED:
            text = text.replace(typed, " ")
        text = UUID.sub(" ", text)  # record ids ("be93" is no word)
        if language == "es":
            text = SPANISH_MAY.sub(" ", text)  # "7 may 2026" is Spanish for 7 May
        if any(word.lower() in ENGLISH_WORDS for word in WORD.findall(text)):
            found.append(text)
    return found


# The test world's display names (data, not messages) that happen to be messages
# too: an examiner named "Examiner" signs the report.
PEOPLE = {"Auditor", "Examiner"}


def not_yet_translated(path: str) -> set[str]:
    return PEOPLE


# (who signs in, path): the screens whose templates are marked.
PAGES: list[tuple[str | None, Callable[[dict[str, str]], str]]] = [
    (None, lambda s: "/login"),
    (None, lambda s: "/no-such-page"),
    ("examiner", lambda s: "/"),
    ("police", lambda s: "/"),
    ("admin", lambda s: "/"),
    ("examiner", lambda s: "/account/password"),
    ("examiner", lambda s: "/account/tokens"),
    ("examiner", lambda s: "/no-such-page"),
    ("examiner", lambda s: "/cases/"),
    ("examiner", lambda s: "/cases/new"),
    ("examiner", lambda s: f"/cases/{s['case']}"),
    ("examiner", lambda s: f"/cases/{s['case']}/card"),
    ("counsellor", lambda s: f"/cases/{s['case']}"),
    ("examiner", lambda s: f"/cases/{s['case']}/consent"),
    # The form is recorded in the language chosen for it (English unless chosen).
    (
        "examiner",
        lambda s: f"/cases/{s['case']}/consent/exam-treatment/record?lang={s['language']}",
    ),
    ("examiner", lambda s: f"/cases/{s['case']}/consent/c/{s['consent']}"),
    ("examiner", lambda s: f"/cases/{s['case']}/consent/c/{s['consent']}/withdraw"),
    ("examiner", lambda s: f"/cases/{s['case']}/consent/c/{s['consent']}/withdraw?everything=yes"),
    ("counsellor", lambda s: f"/cases/{s['case']}/consent/shared"),
    *(
        ("examiner", lambda s, step=step: f"/exams/{s['exam']}/{step}")
        for step in (
            "consent",
            "timing",
            "history",
            "steps/incident",
            "general",
            "injuries",
            "injuries/1",
            "anogenital",
            "guidance",
            "laboratory",
            "treatment",
        )
    ),
    ("examiner", lambda s: f"/exams/{s['exam']}"),
    # An exam just started, the anogenital part declined: what stands before sign-off.
    ("examiner", lambda s: f"/exams/{s['underway']}"),
    ("examiner", lambda s: f"/exams/{s['underway']}/anogenital"),
    ("admin", lambda s: "/admin/organizations"),
    ("admin", lambda s: "/admin/users"),
    ("admin", lambda s: f"/admin/users/{s['examiner']}"),
    ("admin", lambda s: f"/admin/organizations/{s['site']}"),
    ("admin", lambda s: f"/admin/organizations/{s['site']}/retention"),
    ("auditor", lambda s: "/audit/"),
    ("auditor", lambda s: "/audit/verify"),
    ("examiner", lambda s: "/evidence/"),
    ("examiner", lambda s: "/evidence/collect"),
    ("custodian", lambda s: "/evidence/"),
    ("custodian", lambda s: "/evidence/due"),
    ("custodian", lambda s: "/evidence/locations"),
    ("examiner", lambda s: f"/evidence/kits/{s['kit']}/labels"),
    ("examiner", lambda s: f"/evidence/items/{s['kit']}"),
    ("custodian", lambda s: f"/evidence/items/{s['kit']}"),
    ("examiner", lambda s: f"/exams/{s['exam']}/report"),
    # A signed exam, amended after sign-off: its screens and its printed report.
    ("examiner", lambda s: f"/exams/{s['unplanned']}"),
    ("examiner", lambda s: f"/exams/{s['unplanned']}/anogenital"),
    ("examiner", lambda s: f"/exams/{s['unplanned']}/report"),
    ("examiner", lambda s: f"/exams/{s['exam']}/photos"),
    ("examiner", lambda s: f"/cases/{s['case']}/expert"),
    ("expert", lambda s: "/expert/photos"),
    ("examiner", lambda s: f"/evidence/items/{s['item']}"),
    ("custodian", lambda s: f"/evidence/items/{s['item']}"),
    ("custodian", lambda s: "/evidence/find?label=NO-SUCH-LABEL"),
    ("examiner", lambda s: f"/exams/{s['exam']}/photos"),
    ("examiner", lambda s: f"/exams/{s['exam']}/followup"),
    ("examiner", lambda s: f"/exams/{s['unplanned']}/followup"),
    *(
        ("counsellor", lambda s, page=page: f"/followup/plans/{s['plan']}{page}")
        for page in (
            "",
            "/contact",
            "/contact-wishes",
            "/notes",
            "/safety",
            "/referrals",
            "/appointment-card",
            "/aftercare",
        )
    ),
    ("counsellor", lambda s: "/followup/caseload"),
    ("admin", lambda s: "/admin/partner-services"),
    ("police", lambda s: "/releases/"),
    ("police", lambda s: f"/releases/{s['request']}"),
    ("examiner", lambda s: "/releases/incoming"),
    ("examiner", lambda s: f"/releases/incoming/{s['request']}"),
]
USERS = {"police": "officer"}


def _filed_request(app: Flask, reference: str) -> str:
    """A police officer's release request citing her case reference; its id."""
    client = app.test_client()
    login(client, "officer", PASSWORD)
    response = client.post(
        "/releases/",
        data={
            "cited_reference": reference,
            "crime_reference": "RP/2026/7",
            "requested": ["report"],
            "csrf_token": csrf_token(client, "/releases/"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]


def _in_language(client: FlaskClient, language: str, *, signed_in: bool) -> None:
    token = csrf_token(client, "/account/password" if signed_in else "/login")
    client.post("/language", data={"language": language, "csrf_token": token})


@dataclass(frozen=True)
class Site:
    """The records every page is rendered from, built once for the module: the
    pages only read them, in each language in turn."""

    app: Flask
    ids: dict[str, str]


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from clinic.core.db import db

    url = databases.new_database()
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": tmp_path_factory.mktemp("pages") / "instance",
            "SECRET_KEY": "test-secret",
            "SESSION_COOKIE_SECURE": False,
            "TESTING": True,
        }
    )
    world = databases.world
    case = open_case(app)
    consent = record(
        app,
        case.id,
        "information-sharing/v1",
        all_items(app, "information-sharing/v1") | {"gp": False},
        language="es",
    )
    record_photo_consent(app, case.id)
    exam = complete_exam(app, case.id)
    record_vitals(app, exam, heart_rate=88, temperature="36.8", systolic=128, diastolic=84)
    call(app, "examiner", exam_services.request_lab_tests, exam_id=exam, requested={"hiv": "Lab"})
    call(app, "examiner", exam_services.add_lab_result, exam_id=exam, test="hiv", result="negative")
    take(app, exam, [("a.jpg", camera_jpeg(seed=7))])
    take(app, exam, [("b.jpg", camera_jpeg(seed=8))], intimate=True, region="other", site="vulva")
    bind_expert(app, case.id)
    kit = collect_kit(app, "examiner", case.id)
    # A second survivor, her exam signed off and her follow-up plan agreed; a third,
    # her exam signed off and her plan still to agree.
    followed = open_case(app)
    plan = agreed_plan(app, signed_exam(app, followed.id))
    unplanned = signed_exam(app, open_case(app).id)
    call(
        app,
        "examiner",
        exam_services.record_anogenital,
        exam_id=unplanned,
        findings="No injuries seen.",
        reason=AMENDED_WHY,
    )
    underway_case = open_case(app)
    record_exam_consent(app, underway_case.id, anogenital_exam=False)
    underway = start(app, underway_case.id)
    ids = {
        "underway": underway,
        "case": case.id,
        "consent": consent,
        "exam": exam,
        "kit": kit.kit.id,
        "item": kit.items[0].id,
        "examiner": world["examiner"].user_id,
        "site": world.organizations["NORTH"],
        "plan": plan,
        "unplanned": unplanned,
        "request": _filed_request(app, case.reference),
    }
    yield Site(app, ids)
    db.dispose(app)
    databases.drop(url)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_on_pages_in_another_language(site: Site, language: str) -> None:
    app, ids = site.app, {**site.ids, "language": language}
    failures = []
    clients: dict[str | None, FlaskClient] = {}
    for who, path_of in PAGES:
        if who not in clients:
            client = app.test_client()
            if who is not None:
                login(client, USERS.get(who, who), PASSWORD)
            _in_language(client, language, signed_in=who is not None)
            clients[who] = client
        path = path_of(ids)
        page = clients[who].get(path).get_data(as_text=True)
        # The consent as signed prints in her language (Spanish here), whoever reads it.
        expected = "es" if re.search(r"/consent/c/[^/?]+$", path) else language
        assert f'<html lang="{expected}"' in page, path
        found = [t for t in english_on(page, language) if t not in not_yet_translated(path)]
        found += [t for t in english_words_on(page, language) if t not in found]
        found += sayable_but_as_recorded(page)
        if found:
            failures.append(f"{who} {path}: {found}")
    assert not failures, "\n".join(failures)


def test_the_check_finds_english_sentences_and_coded_values() -> None:
    assert english_on("<li>Exam started: Sunday 6 December 2026, 10:00 (UTC)</li>", "fr")
    assert english_on("<p>She allows phone call only.</p>", "es")
    assert english_on("<td>Phone call</td>", "fr") == ["Phone call"]
    assert english_on("<li>Début de l'examen : 6 déc. 2026, 10:00 (UTC)</li>", "fr") == []
    assert english_on("<td>Appel téléphonique</td>", "fr") == []


def test_the_check_finds_english() -> None:
    page = "<html><body><h1>Sign in</h1><p>Nothing was changed. Please try again.</p></body></html>"
    assert "Sign in" in english_on(page, "fr")
    page = '<nav aria-label="Exam steps"></nav><p>Bienvenue</p>'
    assert english_on(page, "fr") == ["Exam steps"]
    assert english_on("<h1>Se connecter</h1>", "fr") == []
    # "Main" is an English message (a navigation's name) and French for a hand.
    assert english_on('<td>Main</td><nav aria-label="Principal"></nav>', "fr") == []


def test_the_check_finds_composed_english() -> None:
    """English no catalogue holds (a summary a service composed, a date in English
    words) is found by its function words and the names of months and days; French
    and Spanish words that contain them ("noté", "Méat") are not, nor what the test
    typed, an id, a cited guideline or a log's reasons kept as recorded."""
    assert english_words_on("<li>Bruise with a tear, left forearm</li>", "fr")
    assert english_words_on("<td>Agression : Sunday 6 December 2026, 03:14 (UTC)</td>", "fr")
    assert english_words_on('<td title="Seal the whole kit">x</td>', "es")
    assert english_words_on("<p>Méat urétral ; noté ici ; el paciente y la mujer</p>", "fr") == []
    assert english_words_on(f"<p>{TYPED[0]}</p>", "fr") == []
    assert english_words_on("<p>Observation/0a83685f-4cba-4978-9345-b9f821cf3d19</p>", "fr") == []
    assert english_words_on('<cite lang="en">WHO, Clinical management of rape</cite>', "es") == []
    page = '<small lang="en" data-as-recorded>role examiner may read it</small>'
    assert english_words_on(page, "fr") == []
    assert english_words_on('<small lang="en">role examiner may read the Consent</small>', "fr")
    assert english_words_on("<td><code>Patient?name=the</code></td>", "es") == []


def test_the_check_finds_recorded_words_it_could_say() -> None:
    """An audit reason of a known shape left as recorded is found; one of no known
    shape, and the record's exact words offered beside, are not."""
    page = '<small lang="en" data-as-recorded>role examiner may read Consent (own-site)</small>'
    assert sayable_but_as_recorded(page) == ["role examiner may read Consent (own-site)"]
    assert sayable_but_as_recorded('<small lang="en" data-as-recorded>refused</small>')
    assert sayable_but_as_recorded('<small lang="en" data-as-recorded>a wish of hers</small>') == []
    page = (
        '<details class="as-recorded" data-record><summary>Tel qu&#39;enregistré</summary>'
        '<p><small lang="en" data-as-recorded>role examiner may read Consent (own-site)</small>'
        "</p></details>"
    )
    assert sayable_but_as_recorded(page) == []
    assert english_words_on(page, "fr") == []
