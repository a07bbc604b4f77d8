"""Safety for intimate-partner cases (the follow-up issue, point 6): where the
safety assessment will start from what she said at the exam.

Only the carry-over point exists so far. The exam's mental state and immediate
safety answers are being added to the exam record separately; when they land,
`carried_over_from_exam` is the one place that reads them into the assessment,
so the assessment never asks her again what she already told the examiner.
"""

from __future__ import annotations

from collections.abc import Mapping

from clinic.exam.services import ExamRecord


def carried_over_from_exam(record: ExamRecord) -> Mapping[str, str]:
    """Her immediate-safety answers at the exam, by safety-assessment question code
    ("yes", "no" or "not-asked"), to pre-fill the assessment. Empty until the exam
    records them: nothing is guessed from free text."""
    del record  # read here once the exam holds structured safety answers
    return {}
