"""Whole numbers typed into a URL, a form or a header.

`str.isdigit()` is true for "²" and for a hundred-digit number: `int()` then fails,
or the database overflows. An id or a version is a short run of ASCII digits.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def small_whole_number(text: str | None, digits: int = 9) -> int | None:
    """`text` as a whole number of ASCII digits, at most `digits` of them, else None.
    Nine digits stay below 2**31 (an integer column); eighteen below 2**63 (a big
    integer column)."""
    if text is None or len(text) > digits or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)
