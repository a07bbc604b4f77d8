"""The safety assessment's checklist: one reviewable table of questions, the
threshold at which the total of "yes" answers marks her at high risk, and what her
exam's structured answers carry over. The wording is ours; the checklist's shape
(questions answered yes, no or not asked; the number of yes answers; high risk at a
threshold or on professional judgement) is that of a recognised checklist.

Source: SafeLives, *Dash risk checklist* (Domestic Abuse, Stalking and Harassment
and Honour Based Violence Risk Identification, Assessment and Management Model,
2009), which marks high risk at 14 or more "yes" answers, or on the professional
judgement of the person asking. Our questions follow the order and subject of its
27 questions in our own plain words; they are not the official form. A site that
uses the official checklist, or its own threshold, must have its lead for
domestic abuse review this table and set the threshold in site_settings/ (README,
"Safety assessment").
"""

from __future__ import annotations

from dataclasses import dataclass

from clinic.fhir.canonical import CODE_SYSTEM
from clinic.i18n import N_

CHECKLIST_ID = "ipv-risk-checklist"
CHECKLIST_VERSION = "1"
CHECKLIST_TITLE = "Intimate-partner risk checklist (Dash style)"
CHECKLIST_SOURCE = N_(
    "Modelled on the SafeLives Dash risk checklist (2009): 27 questions answered yes, "
    "no or not asked; high risk at 14 or more yes answers, or on professional judgement."
)
# The number of "yes" answers at which she is at high risk, unless the site sets
# its own (site_settings/<SITE CODE>.toml, [safety] high_risk_threshold).
DEFAULT_HIGH_RISK_THRESHOLD = 14

QUESTION_SYSTEM = f"{CODE_SYSTEM}/safety-question"
ANSWER_SYSTEM = f"{CODE_SYSTEM}/safety-answer"
RISK_SYSTEM = f"{CODE_SYSTEM}/safety-risk"
FLAG_SYSTEM = f"{CODE_SYSTEM}/safety-flag"

# How a question may be answered (CodeSystem safety-answer).
ANSWERS: dict[str, str] = {"yes": "Yes", "no": "No", "not-asked": "Not asked"}
YES = "yes"
NOT_ASKED = "not-asked"

# The assessment's conclusion (CodeSystem safety-risk).
RISKS: dict[str, str] = {"high": "High risk", "not-high": "Not high risk"}

# The flag raised to the team (CodeSystem safety-flag).
FLAGS: dict[str, str] = {"high-risk": "High risk of harm from a partner or former partner"}


@dataclass(frozen=True)
class SafetyQuestion:
    code: str  # CodeSystem safety-question
    text: str  # as the counsellor asks it (the display)


# "He" is the partner or former partner who harmed her; ask in her words.
QUESTIONS: tuple[SafetyQuestion, ...] = (
    SafetyQuestion("injured-this-time", "Was she injured in what happened this time?"),
    SafetyQuestion("very-frightened", "Is she very frightened?"),
    SafetyQuestion("fears-more-violence", "Is she afraid of further injury or violence?"),
    SafetyQuestion("isolated", "Does she feel cut off from family or friends?"),
    SafetyQuestion(
        "self-harm-thoughts", "Is she having thoughts of harming herself or ending her life?"
    ),
    SafetyQuestion("separated-recently", "Has she left him, or tried to, in the past year?"),
    SafetyQuestion("child-contact-conflict", "Is there conflict over contact with children?"),
    SafetyQuestion(
        "stalking", "Does he keep calling, texting, following or watching her against her will?"
    ),
    SafetyQuestion(
        "pregnant-or-new-baby", "Is she pregnant, or has she had a baby in the last 18 months?"
    ),
    SafetyQuestion("other-children-at-home", "Are there children at home who are not his own?"),
    SafetyQuestion("hurt-children", "Has he ever hurt the children or others she cares for?"),
    SafetyQuestion(
        "threatened-children",
        "Has he ever threatened to hurt or kill the children or others she cares for?",
    ),
    SafetyQuestion("more-often", "Is the abuse happening more often?"),
    SafetyQuestion("getting-worse", "Is the abuse getting worse?"),
    SafetyQuestion("controlling", "Does he try to control what she does, or is he very jealous?"),
    SafetyQuestion("weapons", "Has he ever used a weapon or an object to hurt her?"),
    SafetyQuestion(
        "threatened-to-kill",
        "Has he ever threatened to kill her or someone else, and she believed it?",
    ),
    SafetyQuestion("strangled", "Has he ever tried to strangle, choke, suffocate or drown her?"),
    SafetyQuestion(
        "sexual-abuse", "Does he do or say sexual things that hurt her or make her feel bad?"
    ),
    SafetyQuestion(
        "others-threaten", "Is anyone else threatening her, or someone she is afraid of?"
    ),
    SafetyQuestion("hurt-others", "Does she know if he has hurt anyone else?"),
    SafetyQuestion("hurt-animals", "Has he ever hurt an animal or a pet?"),
    SafetyQuestion("money-problems", "Are there money problems, or does he control the money?"),
    SafetyQuestion(
        "drugs-alcohol-mental-health",
        "Has he had problems with drugs, alcohol or his mental health in the past year?",
    ),
    SafetyQuestion("his-suicide-threats", "Has he ever threatened or tried to take his own life?"),
    SafetyQuestion(
        "broke-orders", "Has he ever broken bail, an injunction or an agreement about contact?"
    ),
    SafetyQuestion("police-history", "Does she know if he has been in trouble with the police?"),
)
QUESTIONS_BY_CODE = {question.code: question for question in QUESTIONS}


# -- what her exam carries over --------------------------------------------------------


@dataclass(frozen=True)
class CarryOver:
    """One structured answer of her exam that answers a checklist question.

    `exam_sheet` / `exam_question` name the exam's answer (clinic/exam/lists.py);
    `answers` maps the exam's answer (yes, no) to the checklist's. An exam answer
    not in `answers` carries nothing: "no" to strangulation in this incident does
    not mean it never happened."""

    question: str  # safety-question code
    exam_sheet: str  # a slot of the exam ("mental-state", "incident", "acts"...)
    exam_question: str  # the exam question's code
    answers: tuple[tuple[str, str], ...]
    said: str  # what the screen says the answer came from


CARRY_OVER: tuple[CarryOver, ...] = (
    # Only her "yes": the checklist's question also asks about depression, which
    # "no" to thoughts of self-harm at the exam does not answer. Carried only when
    # her consent lets the counselling team read her mental state (decision point).
    # Her own fear ("very-frightened") is hers to say: the examiner's judgement of
    # risk from the assailant is not carried into it.
    CarryOver(
        "self-harm-thoughts",
        "mental-state",
        "self-harm-thoughts",
        (("yes", "yes"),),
        N_("At the exam: thoughts of harming herself"),
    ),
    CarryOver(
        "weapons",
        "incident",
        "weapons",
        (("yes", "yes"),),
        N_("At the exam: weapons used or shown"),
    ),
    CarryOver(
        "strangled",
        "acts",
        "strangulation",
        (("yes", "yes"),),
        N_("At the exam: she described strangulation or suffocation"),
    ),
)
# Recorded at the exam without a yes/no question of its own.
INJURY_CARRY_OVER = ("injured-this-time", N_("At the exam: injuries were recorded"))
PARTNER_CARRY_OVER = (
    "sexual-abuse",
    N_("At the exam: a sexual assault by a partner or former partner"),
)
# Relationships (assailant-relationship) that make a case an intimate-partner case.
PARTNER_RELATIONSHIPS = frozenset({"partner", "former-partner"})


# -- the safety plan ------------------------------------------------------------------

# What she may keep ready to leave quickly (the safety plan's checklist).
KEEP_READY: dict[str, str] = {
    "phone": "A charged phone",
    "money": "Money or a bank card",
    "documents": "Identity papers and important documents",
    "keys": "Spare keys",
    "medicines": "Her medicines",
    "children-things": "Things the children need",
    "clothes": "A change of clothes",
}
# Which partner services the safety plan lists among her referrals.
SAFETY_SERVICE_KINDS = ("refuge", "independent-advocate")
