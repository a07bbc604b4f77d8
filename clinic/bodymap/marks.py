"""Placing a mark on a body diagram: the rules a mark meets, whichever way it was
placed (a tap on the drawing, or a diagram and region chosen from lists).

A tapped mark must lie on the body, in the injury's region (or anywhere on the
body for the region "other"); a mark without a point goes to the middle of the
region on the chosen drawing, beside the marks already there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clinic.bodymap.diagrams import DiagramBook, Drawing
from clinic.core.errors import DomainError
from clinic.i18n import N_
from clinic.i18n.sentences import Coded, Sentence, Word, sentence

# The region code for a place no diagram region names.
OTHER_REGION = "other"

# What a refused mark says (one table of words, next to the field it is about).
MESSAGES = {
    "no-drawing": sentence("Choose a body diagram and view from the list."),
    "half-point": sentence(
        "The mark's point is incomplete: tap the diagram again, or choose the region only."
    ),
    "not-a-number": sentence(
        "The mark's point is not a number: tap the diagram again, or choose the region only."
    ),
    "off-body": sentence(
        "The mark is beside the body, not on it: tap on the body, or choose the region only."
    ),
    "other-needs-point": sentence(
        "A mark for the region “Other” needs a point: tap the diagram where the injury is, "
        "or choose the region it is in."
    ),
}


def _no_view(diagram: Any) -> Sentence:
    return sentence(
        "The %(diagram)s diagram has no such view: choose one from the list.", diagram=diagram
    )


def _outside(drawing: Drawing) -> Sentence:
    return sentence(
        "The mark is outside the %(drawing)s diagram (%(width)s wide, %(height)s high): tap on "
        "the body, or choose the region only.",
        drawing=drawing.said_label,
        width=format(drawing.width, "g"),
        height=format(drawing.height, "g"),
    )


def _wrong_region(found: Any, region: Any) -> Sentence:
    return sentence(
        "The mark is on the %(found)s, but the injury's region is %(region)s: choose the region "
        "where you placed the mark, place it again, or tick “Move the mark to the middle of "
        "the region”.",
        found=found,
        region=region,
    )


def _region_absent(drawing: Drawing, region: Any) -> Sentence:
    return sentence(
        "The %(drawing)s diagram has no %(region)s region: choose another diagram or view, or "
        "another region.",
        drawing=drawing.said_label,
        region=region,
    )


def _wrong_side(found_side: str, side: str, region: Any) -> Sentence:
    return sentence(
        "The mark is on her %(found_side)s %(region)s, but “Exactly where” says %(side)s: tap "
        "her %(side)s %(region)s, or correct “Exactly where”.",
        found_side=Word(SIDES[found_side], english_text=found_side),
        side=Word(SIDES[side], english_text=side),
        region=region,
    )


# Her sides, as words within a sentence.
SIDES = {"left": N_("left"), "right": N_("right")}


def _region(code: str, labels: Mapping[str, str]) -> Coded:
    """A body region within a sentence, as records have always written it (lower case)."""
    return Coded("body-region", code, inline=True, english_text=labels.get(code, code).lower())


# The words for her sides in “Exactly where”, and the side each names.
SIDE_WORDS = {"left": "left", "right": "right"}

# Marks closer than this (diagram units) overlap on the drawing.
MARK_SPACING = 14.0


class MarkRefused(DomainError):
    """A mark that cannot be placed as asked; the message says why."""


@dataclass(frozen=True)
class BodyMapMark:
    """An injury's mark on a body diagram: the drawing (diagram and view) and the
    point in diagram units (clinic/bodymap/diagrams.json)."""

    diagram: str  # body-diagram code
    view: str  # body-diagram-view code
    x: Decimal
    y: Decimal
    number: int  # the injury's number in the exam, shown on the map


@dataclass(frozen=True)
class MarkRequest:
    """Where the examiner asked for the mark: a drawing, and a point if tapped."""

    diagram: str
    view: str
    x: Decimal | None = None
    y: Decimal | None = None


def drawing_of(book: DiagramBook, request: MarkRequest) -> Drawing:
    if request.diagram not in book.diagrams:
        raise MarkRefused(MESSAGES["no-drawing"], "drawing")
    drawing = book.drawing(request.diagram, request.view)
    if drawing is None:
        raise MarkRefused(
            _no_view(
                Coded("body-diagram", request.diagram, english_text=book.diagrams[request.diagram])
            ),
            "drawing",
        )
    return drawing


def place_mark(
    book: DiagramBook,
    request: MarkRequest,
    *,
    region: str,
    number: int,
    labels: Mapping[str, str],
    site: str = "",
    taken: list[tuple[float, float]] | None = None,
) -> BodyMapMark:
    """The mark as recorded. A point must be on the body, in the region and, for a
    region drawn on both sides, on the side `site` names; without one the mark goes
    to the middle of the region on that side, clear of the marks `taken`."""
    drawing = drawing_of(book, request)
    side = side_named(site)
    if (request.x is None) != (request.y is None):
        raise MarkRefused(MESSAGES["half-point"], "drawing")
    if request.x is not None and request.y is not None:
        if not (request.x.is_finite() and request.y.is_finite()):
            raise MarkRefused(MESSAGES["not-a-number"], "drawing")
        x, y = float(request.x), float(request.y)
        if not (0 <= x <= drawing.width and 0 <= y <= drawing.height):
            raise MarkRefused(_outside(drawing), "drawing")
        polygon = drawing.polygon_at(x, y)
        if polygon is None:
            raise MarkRefused(MESSAGES["off-body"], "drawing")
        found = polygon.code
        if region != OTHER_REGION and found != region:
            raise MarkRefused(
                _wrong_region(_region(found, labels), _region(region, labels)), "region"
            )
        found_side = drawing.her_side(polygon)
        if side is not None and found_side is not None and found_side != side:
            raise MarkRefused(_wrong_side(found_side, side, _region(found, labels)), "site")
        return BodyMapMark(request.diagram, request.view, _rounded(x), _rounded(y), number)
    if region == OTHER_REGION:
        raise MarkRefused(MESSAGES["other-needs-point"], "drawing")
    point = drawing.free_point(region, taken or [], MARK_SPACING, side)
    if point is None:
        raise MarkRefused(_region_absent(drawing, _region(region, labels)), "drawing")
    return BodyMapMark(
        request.diagram, request.view, _rounded(point[0]), _rounded(point[1]), number
    )


def side_named(site: str) -> str | None:
    """Her side, when “Exactly where” names one and only one (“left forearm”)."""
    words = set(re.findall(r"[^\W\d_]+", site.lower()))
    sides = {side for word, side in SIDE_WORDS.items() if word in words}
    return sides.pop() if len(sides) == 1 else None


def _rounded(value: float) -> Decimal:
    return Decimal(str(round(value, 1)))
