"""The lists the exam records from, as data the clinic reads and extends.

Everything an examiner chooses from on the steps added for the national post-rape
care form fields lives here: kinds of place, relationships, anogenital sites per
anatomy, TEARS findings, examination methods, laboratory tests, and the questions
of each structured step, in the order the screens ask them. The forms, the FHIR
codes, the printed report and the CodeSystems in fhir_profiles/ are all built
from these tables, so they cannot drift apart.

To extend a list: add the code and its display here, bump the vocabulary's
`version`, then run `python scripts/write_exam_vocabularies.py` to rewrite its
CodeSystem and ValueSet and `python scripts/record_code_system_versions.py` to
record the new version (a test fails until the files match, and when a code or
display changes without a version bump). A code, once used in a record, is never
removed or renamed: records written with it must stay readable.

Every code is the project's own (CodeSystem `…/CodeSystem/<vocabulary>`): LOINC
and SNOMED CT have codes for several of these, but a code is used only where its
code and display are certain, and mapping is left to the receiving system.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clinic.i18n import N_


@dataclass(frozen=True)
class Vocabulary:
    """One of our CodeSystems (and the ValueSet of all its codes)."""

    id: str  # CodeSystem/<id>
    title: str
    description: str
    terms: dict[str, str]  # code -> display, in the order screens show them
    # Bumped whenever a code or display changes (a test holds the hash recorded
    # for each version: fhir_profiles/CODE-SYSTEM-VERSIONS).
    version: str = "0.1.0"


def _vocabulary(id: str, title: str, description: str, **terms: str) -> Vocabulary:
    return Vocabulary(id, title, description, {k.replace("_", "-"): v for k, v in terms.items()})


# -- the structured anogenital examination (issue point 4) -------------------------

ANATOMIES = {"female": "Female anatomy", "male": "Male anatomy", "both": "Both anatomies"}


@dataclass(frozen=True)
class AnogenitalSite:
    code: str
    display: str
    anatomy: str  # a key of ANATOMIES
    needs_speculum: bool = False  # seen only with a speculum


ANOGENITAL_SITES: tuple[AnogenitalSite, ...] = (
    AnogenitalSite("labia-majora", "Labia majora", "female"),
    AnogenitalSite("labia-minora", "Labia minora", "female"),
    AnogenitalSite("clitoral-hood", "Clitoris and clitoral hood", "female"),
    AnogenitalSite("urethral-meatus", "Urethral meatus", "both"),
    AnogenitalSite("vestibule", "Vestibule", "female"),
    AnogenitalSite("fossa-navicularis", "Fossa navicularis", "female"),
    AnogenitalSite("posterior-fourchette", "Posterior fourchette", "female"),
    AnogenitalSite("hymen", "Hymen", "female"),
    AnogenitalSite("vagina", "Vagina", "female"),
    AnogenitalSite("cervix", "Cervix", "female", needs_speculum=True),
    AnogenitalSite("penis-shaft", "Penis (shaft)", "male"),
    AnogenitalSite("glans-foreskin", "Glans and foreskin", "male"),
    AnogenitalSite("scrotum", "Scrotum", "male"),
    AnogenitalSite("perineum", "Perineum", "both"),
    AnogenitalSite("perianal", "Perianal skin", "both"),
    AnogenitalSite("anus", "Anus and anal canal", "both"),
)
ANOGENITAL_SITES_BY_CODE = {site.code: site for site in ANOGENITAL_SITES}

# TEARS: tears, ecchymosis, abrasions, redness, swelling; or none seen.
ANOGENITAL_FINDINGS = {
    "tear": "Tear (laceration)",
    "ecchymosis": "Ecchymosis (bruise)",
    "abrasion": "Abrasion",
    "redness": "Redness",
    "swelling": "Swelling",
    "none": "No injury seen",
}
EXAM_METHODS = {
    "direct-view": "Direct view",
    "speculum": "Speculum",
    "colposcope": "Colposcope",
    "toluidine-blue": "Toluidine blue dye",
}
SPECULUM_METHOD = "speculum"
NO_FINDING = "none"


# -- the structured steps (issue points 1, 2, 3, 5, 6, 9) ---------------------------


class Kind(StrEnum):
    ANSWER = "answer"  # yes / no / not known
    CHOICE = "choice"  # one code of a vocabulary
    CHOICES = "choices"  # any codes of a vocabulary
    TEXT = "text"
    DATE = "date"  # a day, never in the future
    COUNT = "count"  # a whole number in [low, high]


@dataclass(frozen=True)
class Question:
    code: str  # in CodeSystem exam-question
    label: str  # its display, and the question on screen
    kind: Kind
    options: str | None = None  # the vocabulary of a choice
    low: int = 0
    high: int = 0
    unit: str | None = None  # UCUM, for a count that is a quantity (years)
    required: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Sheet:
    """One Observation a step writes: its questions are its components."""

    key: str  # the slot (or, when repeated, its prefix: "assailant:1")
    code: str  # exam-observation code of the Observation
    section: str  # exam-section code
    title: str
    questions: tuple[Question, ...]
    repeat: int = 0  # more than 0: this many rows, one Observation each

    def slots(self) -> tuple[str, ...]:
        if self.repeat:
            return tuple(f"{self.key}:{n}" for n in range(1, self.repeat + 1))
        return (self.key,)


@dataclass(frozen=True)
class StepSheets:
    """A screen of the exam made of sheets, in the order examiners ask them."""

    code: str  # in the URL and the report's section code
    title: str
    sheets: tuple[Sheet, ...]
    intro: str = ""
    advice: str = ""  # printed with the section (e.g. danger signs)
    needs_act: str | None = None  # an act of the history that must not be "no"


A = Kind.ANSWER

BASELINE = StepSheets(
    "baseline",
    N_("Clinical baseline"),
    (
        Sheet(
            "baseline",
            "clinical-baseline",
            "baseline",
            N_("Clinical baseline"),
            (
                Question("lmp", "First day of the last menstrual period", Kind.DATE),
                Question(
                    "contraception", "Contraception in use", Kind.CHOICES, options="contraception"
                ),
                Question("known-pregnancy", "Known to be pregnant", A),
                Question(
                    "pregnancy-test",
                    "Pregnancy test today",
                    Kind.CHOICE,
                    options="pregnancy-test-result",
                ),
                Question(
                    "last-consensual-intercourse",
                    "Last consensual intercourse (date)",
                    Kind.DATE,
                    hint=N_("Before the assault; it helps the laboratory interpret DNA."),
                ),
                Question(
                    "allergies", "Allergies", Kind.TEXT, hint=N_("Write “none known” if none.")
                ),
                Question("current-medicines", "Current medicines", Kind.TEXT),
                Question("medical-history", "Relevant medical history", Kind.TEXT),
                Question("surgical-history", "Relevant surgical history", Kind.TEXT),
                Question(
                    "obstetric-gynaecological-history",
                    "Obstetric and gynaecological history",
                    Kind.TEXT,
                ),
                Question(
                    "hepatitis-b-vaccination",
                    "Hepatitis B vaccination",
                    Kind.CHOICE,
                    options="vaccination-status",
                ),
                Question(
                    "tetanus-vaccination",
                    "Tetanus vaccination",
                    Kind.CHOICE,
                    options="vaccination-status",
                ),
                Question("disabilities", "Disabilities", Kind.TEXT),
            ),
        ),
    ),
    intro=N_("Her health before the assault, as she tells it and as tests show today."),
)

INCIDENT = StepSheets(
    "incident",
    N_("The incident"),
    (
        Sheet(
            "incident",
            "incident-details",
            "incident",
            N_("Place and circumstances"),
            (
                Question("place-kind", "Kind of place", Kind.CHOICE, options="place-kind"),
                Question("place-area", "Area (town, district, landmark)", Kind.TEXT),
                Question("assailant-count", "Number of assailants", Kind.COUNT, low=1, high=50),
                Question("weapons", "Weapons used or shown", A),
                Question("threats", "Threats made", A),
                Question("restraint", "Restrained", A),
                Question("struggle", "Struggle", A),
                Question("weapons-threats-details", "Weapons, threats: what", Kind.TEXT),
                Question("substances-suspected", "Drugs or alcohol suspected", A),
                Question("substances", "What, and when last taken", Kind.TEXT),
                Question("memory-gaps", "Gaps in memory", A),
                Question("drowsiness", "Drowsiness", A),
                Question("police-report", "Already reported to the police", A),
                Question("police-report-details", "Reported when and where", Kind.TEXT),
                Question("care-elsewhere", "Care already received elsewhere", A),
                Question("care-elsewhere-details", "Where, and what was given", Kind.TEXT),
            ),
        ),
        Sheet(
            "assailant",
            "assailant",
            "incident",
            N_("Assailant"),
            (
                Question(
                    "relationship",
                    "Relationship to her",
                    Kind.CHOICE,
                    options="assailant-relationship",
                ),
                Question("sex", "Sex", Kind.CHOICE, options="assailant-sex"),
                Question(
                    "approximate-age",
                    "Approximate age (years)",
                    Kind.COUNT,
                    low=5,
                    high=100,
                    unit="a",
                ),
            ),
            repeat=4,
        ),
        Sheet(
            "assailant-marks",
            "marks-on-assailant",
            "incident",
            N_("Marks she may have left on the assailant"),
            (
                Question("scratched", "She scratched the assailant", A),
                Question("bit", "She bit the assailant", A),
                Question("marks-where", "Where on the assailant, and other marks", Kind.TEXT),
            ),
        ),
    ),
    intro=N_("Her account of the incident: write what she says; “not known” is an answer."),
)

# Asked twice: in the history's acts checklist (CodeSystem assault-act) and on the
# incident step (exam-question). Incident question -> the history's act. Sign-off
# is refused while one says yes and the other no (clinic/exam/services.py).
ASKED_TWICE = {
    "restraint": "restraints",
    "substances-suspected": "drugs-alcohol-suspected",
}

STRANGULATION_ADVICE = N_(
    "After strangulation, serious harm can appear hours or days later. Return at once "
    "(or call emergency services) for: difficulty breathing or swallowing, a changed or "
    "hoarse voice, neck pain or swelling, drooling, fainting, confusion or drowsiness, "
    "a seizure, weakness or numbness, vision changes, or vomiting."
)

STRANGULATION = StepSheets(
    "strangulation",
    N_("Non-fatal strangulation"),
    (
        Sheet(
            "strangulation",
            "strangulation-assessment",
            "strangulation",
            N_("What she reports"),
            (
                Question(
                    "strangulation-method",
                    "Method",
                    Kind.CHOICES,
                    options="strangulation-method",
                ),
                Question("strangulation-duration", "How long, if known", Kind.TEXT),
                Question("loss-of-consciousness", "Loss of consciousness", A),
                Question("incontinence", "Incontinence (urine or faeces)", A),
                Question("voice-change", "Voice changes", A),
                Question("swallowing-change", "Difficulty or pain swallowing", A),
                Question("breathing-difficulty", "Difficulty breathing", A),
            ),
        ),
        Sheet(
            "strangulation-signs",
            "strangulation-signs",
            "strangulation-signs",
            N_("Visible signs"),
            (
                Question("petechiae", "Petechiae (face, eyes, neck)", A),
                Question("neck-marks", "Marks on the neck", A),
                Question("signs-details", "Signs seen: where and what", Kind.TEXT),
            ),
        ),
    ),
    intro=N_("Only when she reports strangulation or suffocation. Record marks as injuries too."),
    advice=STRANGULATION_ADVICE,
    needs_act="strangulation",
)

MENTAL_STATE = StepSheets(
    "mental-state",
    N_("Mental state and immediate safety"),
    (
        Sheet(
            "mental-state",
            "mental-state-safety",
            "mental-state",
            N_("Mental state and immediate safety"),
            (
                Question("appearance", "Appearance and behaviour", Kind.TEXT),
                Question("mood", "Mood", Kind.CHOICES, options="mood"),
                Question("self-harm-thoughts", "Thoughts of harming herself", A, required=True),
                Question("harm-others-thoughts", "Thoughts of harming others", A, required=True),
                Question("safe-place-tonight", "A safe place to go tonight", A, required=True),
                Question("assailant-risk", "Immediate risk from the assailant", A, required=True),
                Question("safety-actions", "What was arranged for her safety", Kind.TEXT),
            ),
        ),
    ),
    intro=N_("Ask each question; the follow-up team reads these answers."),
)

CLOTHING = StepSheets(
    "clothing",
    N_("Clothing"),
    (
        Sheet(
            "clothing",
            "clothing",
            "clothing",
            N_("Clothing"),
            (
                Question("worn-at-time", "Wearing the clothes she wore at the time", A),
                Question("changed-since", "Changed clothes since", A),
                Question("clothing-state", "State", Kind.CHOICES, options="clothing-state"),
                Question("clothing-collected", "Clothing collected as evidence", A),
                Question("packaging", "How packaged", Kind.CHOICE, options="packaging"),
                Question("clothing-description", "Items and what was seen", Kind.TEXT),
            ),
        ),
    ),
    intro=N_("Collected items are also recorded as evidence, with their labels."),
)

STRUCTURED_STEPS: dict[str, StepSheets] = {
    step.code: step for step in (BASELINE, INCIDENT, STRANGULATION, MENTAL_STATE, CLOTHING)
}


def answer_field(slot: str, question: str) -> str:
    """The form field of a question on a sheet's slot ("assailant:2", "sex" ->
    "assailant_2__sex"): one name shared by the form, the service's refusals
    and the template."""
    return f"{slot.replace(':', '_').replace('-', '_')}__{question.replace('-', '_')}"


# -- laboratory tests (issue point 7) ----------------------------------------------

LAB_TESTS = {
    "pregnancy": "Pregnancy test",
    "hiv": "HIV",
    "hepatitis-b": "Hepatitis B",
    "hepatitis-c": "Hepatitis C",
    "syphilis": "Syphilis",
    "chlamydia-gonorrhoea-naat": "Chlamydia and gonorrhoea (NAAT)",
    "toxicology-blood": "Toxicology (blood)",
    "toxicology-urine": "Toxicology (urine)",
}
# The tests that need a sample her evidence-collection consent asks about (test ->
# that form's item): not requested when she declined it.
LAB_TEST_SAMPLES = {
    "toxicology-blood": "blood",
    "toxicology-urine": "urine",
}
LAB_RESULTS = {
    "negative": "Negative",
    "positive": "Positive",
    "indeterminate": "Indeterminate",
    "detected": "Detected (see the report)",
    "not-detected": "Not detected",
    "not-done": "Not done (sample unsuitable or lost)",
}


VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary(
        "anogenital-site",
        "Anogenital sites",
        "Sites of the structured anogenital examination, for female and male anatomy.",
        {site.code: site.display for site in ANOGENITAL_SITES},
    ),
    Vocabulary(
        "anogenital-finding",
        "Anogenital findings (TEARS)",
        "Findings at an anogenital site: tears, ecchymosis, abrasions, redness, swelling, "
        "or no injury seen.",
        ANOGENITAL_FINDINGS,
    ),
    Vocabulary(
        "exam-method",
        "Examination methods",
        "How an anogenital site was examined.",
        EXAM_METHODS,
    ),
    Vocabulary(
        "exam-question",
        "Exam questions",
        "The questions of the structured exam steps; each is a component of the step's "
        "Observation.",
        {
            question.code: question.label
            for step in STRUCTURED_STEPS.values()
            for sheet in step.sheets
            for question in sheet.questions
        }
        | {"lab-destination": "Sent to"},
    ),
    _vocabulary(
        "contraception",
        "Contraception",
        "Contraception in use at the time of the assault.",
        none="None",
        combined_pill="Combined pill",
        progestogen_only_pill="Progestogen-only pill",
        injection="Injection",
        implant="Implant",
        copper_iud="Copper intrauterine device",
        hormonal_ius="Hormonal intrauterine system",
        condom="Condom",
        other="Other",
    ),
    _vocabulary(
        "pregnancy-test-result",
        "Pregnancy test result",
        "The result of a pregnancy test at the exam.",
        negative="Negative",
        positive="Positive",
        not_done="Not done",
    ),
    _vocabulary(
        "vaccination-status",
        "Vaccination status",
        "Whether she is vaccinated (hepatitis B, tetanus).",
        complete="Complete",
        partial="Partial",
        none="None",
        unknown="Not known",
    ),
    _vocabulary(
        "place-kind",
        "Kind of place",
        "Where the assault happened, by kind of place.",
        her_home="Her home",
        assailant_home="The assailant's home",
        other_home="Another home",
        street="Street or open space",
        vehicle="Vehicle",
        bar_club="Bar, club or party",
        workplace="Workplace",
        school="School or college",
        institution="Institution (care home, prison, hospital)",
        online_arranged="Met through an online contact",
        other="Other",
        unknown="Not known",
    ),
    _vocabulary(
        "assailant-relationship",
        "Relationship of the assailant",
        "The assailant's relationship to her.",
        stranger="Stranger",
        acquaintance="Acquaintance",
        partner="Partner",
        former_partner="Former partner",
        family="Family member",
        friend="Friend",
        authority="Person in authority (teacher, employer, officer)",
        other="Other",
        unknown="Not known",
    ),
    _vocabulary(
        "assailant-sex",
        "Sex of the assailant",
        "The assailant's sex as she describes it.",
        male="Male",
        female="Female",
        unknown="Not known",
    ),
    _vocabulary(
        "strangulation-method",
        "Method of strangulation",
        "How she was strangled or suffocated.",
        hands="Hands",
        arm="Arm (choke hold)",
        ligature="Ligature",
        smothering="Smothering (mouth and nose covered)",
        body_weight="Body weight on neck or chest",
        other="Other",
    ),
    _vocabulary(
        "mood",
        "Mood",
        "Her mood as observed at the exam.",
        calm="Calm",
        anxious="Anxious",
        distressed="Distressed",
        low="Low",
        flat="Flat",
        angry="Angry",
        other="Other",
    ),
    _vocabulary(
        "clothing-state",
        "State of clothing",
        "The state of the clothing worn at the time.",
        torn="Torn",
        stained="Stained",
        wet="Wet",
        dirty="Soiled with earth or debris",
        intact="Intact",
    ),
    _vocabulary(
        "packaging",
        "Packaging",
        "How collected clothing was packaged.",
        paper_bag="Paper bag, sealed",
        paper_envelope="Paper envelope, sealed",
        box="Box, sealed",
        other="Other",
    ),
    Vocabulary(
        "lab-test", "Laboratory tests", "Laboratory tests requested at the exam.", LAB_TESTS
    ),
    Vocabulary(
        "lab-result",
        "Laboratory results",
        "The result of a laboratory test, added to the exam when it arrives.",
        LAB_RESULTS,
    ),
)
VOCABULARIES_BY_ID = {vocabulary.id: vocabulary for vocabulary in VOCABULARIES}


def terms(vocabulary_id: str) -> dict[str, str]:
    return VOCABULARIES_BY_ID[vocabulary_id].terms
