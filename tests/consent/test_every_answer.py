"""Every combination of answers on every shipped consent form gives a valid Consent.

Exhaustive over the item answers of every form (itertools: each top-level item
agreed or declined, and each nested item, asked only under an agreed parent, agreed
or declined), with the circumstances (language, her or a proxy, a person named or
left blank, never-share lists) turned through every value as the combinations go;
then hypothesis over the rest (every circumstance with every combination, and how
she signs). Each Consent is the one the service would write: the service accepts
the answers, and the profile registry validates the Consent as it does on write.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.cases.models import ReportingMode
from clinic.cli import unit_of_work
from clinic.consent.definitions import FormVersion
from clinic.consent.resources import Answers, GivenBy, answers_of, build_consent
from clinic.core.clock import utcnow
from clinic.fhir.validation import validate_resource
from tests.consent.helpers import organization
from tests.helpers import open_case, signature_png

SIGNATURE = signature_png()
PROXY = GivenBy("guardian", "Claire Exemple", "She is 15; her guardian consents with her.")


def combinations(form: FormVersion) -> Iterator[dict[str, bool]]:
    """Every explicit set of answers the form allows: nested items only under an
    agreed parent, where they too are agreed or declined."""
    top = [item.id for item in form.items if item.within is None]
    for verdicts in itertools.product((True, False), repeat=len(top)):
        agreed = dict(zip(top, verdicts, strict=True))
        nested = [item.id for item in form.items if item.within and agreed[item.within]]
        for inner in itertools.product((True, False), repeat=len(nested)):
            yield agreed | dict(zip(nested, inner, strict=True))


def _answers(
    form: FormVersion,
    agreed: dict[str, bool],
    *,
    language: str,
    given_by: GivenBy,
    expert: str,
    police: tuple[str, str],
    never: bool,
    lab: tuple[str, str],
    **signing: Any,
) -> Answers:
    """The answers as the screen sends them: a person-name item always carries the
    name field's text, blank or not, whatever she answered."""
    return Answers(
        agreed=agreed,
        person_names={item.id: expert for item in form.items if "person-name" in item.asks}
        | {
            item.id: "Dr Named Expert"
            for item in form.items
            if "person-name" in item.asks and agreed.get(item.id)
        },
        language=language,
        given_by=given_by,
        interpreter=None,
        witness="Nurse Witness" if never else None,
        free_choice=True,
        signature_png=SIGNATURE,
        police_force=police if "police-force" in form.asks else None,
        until=utcnow() + timedelta(days=90) if "until" in form.asks else None,
        never_share_organizations=(lab,) if never and "never-share" in form.asks else (),
        never_share_people=("Son ancien compagnon",)
        if never and "never-share" in form.asks
        else (),
        **signing,
    )


def _check(app: Flask, uow: Any, case: Any, form: FormVersion, answers: Answers) -> None:
    from clinic.cases.models import Case
    from clinic.consent.services import consent_problems

    registry = app.extensions["clinic.profiles"]
    now = utcnow()
    loaded = uow.session.get(Case, case.id)
    assert consent_problems(uow, loaded, form, answers, now) == [], answers
    consent = build_consent(form, answers, patient_id=case.patient_id, site_id="site", now=now)
    validate_resource(consent, registry)  # raises FhirError, as on write
    recorded = answers_of(consent)
    assert recorded == {k: "permit" if v else "deny" for k, v in answers.agreed.items()}


@pytest.fixture
def survivor(app: Flask) -> Any:
    return open_case(
        app,
        is_anonymous=False,
        name="Léa Exemple",
        birth_date=date(1996, 5, 1),
        age_years=None,
        reporting_mode=ReportingMode.UNREPORTED,
    )


def test_every_answer_combination_of_every_shipped_form_gives_a_valid_consent(
    app: Flask, survivor: Any
) -> None:
    police = organization(app, "RIVERPOL")
    lab = organization(app, "FORLAB")
    library = app.extensions["clinic.consent_forms"]
    counted = 0
    with app.app_context(), unit_of_work() as uow:
        for form in library.current():
            circumstances = itertools.cycle(
                itertools.product(form.languages, (GivenBy(), PROXY), ("", "  ", "Dr Left")),
            )
            for agreed in combinations(form):
                language, given_by, expert = next(circumstances)
                answers = _answers(
                    form,
                    agreed,
                    language=language,
                    given_by=given_by,
                    expert=expert,
                    police=police,
                    never=counted % 2 == 0,
                    lab=lab,
                )
                _check(app, uow, survivor, form, answers)
                counted += 1
    # 16 + 64 + 16 + 48 + 192 + 2 combinations in the forms shipped today.
    assert counted == sum(len(list(combinations(f))) for f in library.current()) >= 300


_FORMS = ("exam-treatment", "evidence-collection", "photo-documentation")
_FORMS += ("information-sharing", "police-release", "statistics")
_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda text: bool(text.strip()))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_answers_circumstances_and_way_of_signing_give_a_valid_consent(
    app: Flask, survivor: Any, data: st.DataObject
) -> None:
    library = app.extensions["clinic.consent_forms"]
    form = library.newest(data.draw(st.sampled_from(_FORMS), label="form"))
    agreed = data.draw(st.sampled_from(list(combinations(form))), label="answers")
    typed = data.draw(st.booleans(), label="typed name")
    signing: dict[str, Any] = {"signature_method": "drawn"}
    if typed:
        signing = {
            "signature_method": "typed-witnessed",
            "typed_name": data.draw(_NAMES, label="typed name").strip(),
            "signature_witness": data.draw(_NAMES, label="witness").strip(),
            "taken_by": ("Examiner", "examiner"),
        }
    answers = _answers(
        form,
        agreed,
        language=data.draw(st.sampled_from(form.languages), label="language"),
        given_by=data.draw(st.sampled_from((GivenBy(), PROXY)), label="given by"),
        expert=data.draw(st.sampled_from(("", " ", "Dr Left"))),
        police=organization(app, "RIVERPOL"),
        never=data.draw(st.booleans(), label="never share"),
        lab=organization(app, "FORLAB"),
        **signing,
    )
    with app.app_context(), unit_of_work() as uow:
        _check(app, uow, survivor, form, answers)
