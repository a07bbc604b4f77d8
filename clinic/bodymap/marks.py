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

from clinic.bodymap.diagrams import DiagramBook, Drawing
from clinic.core.errors import DomainError

# The region code for a place no diagram region names.
OTHER_REGION = "other"

# What a refused mark says (one table of words, next to the field it is about).
MESSAGES = {
    "no-drawing": "Choose a body diagram and view from the list.",
    "no-view": "The {diagram} diagram has no such view: choose one from the list.",
    "half-point": "The mark's point is incomplete: tap the diagram again, or choose the region only.",
    "not-a-number": "The mark's point is not a number: tap the diagram again, or choose the region only.",
    "outside": (
        "The mark is outside the {drawing} diagram ({width:g} wide, {height:g} high): tap on "
        "the body, or choose the region only."
    ),
    "off-body": "The mark is beside the body, not on it: tap on the body, or choose the region only.",
    "wrong-region": (
        "The mark is on the {found}, but the injury's region is {region}: choose the region "
        "where you placed the mark, place it again, or tick “Move the mark to the middle of "
        "the region”."
    ),
    "region-absent": (
        "The {drawing} diagram has no {region} region: choose another diagram or view, or "
        "another region."
    ),
    "wrong-side": (
        "The mark is on her {found_side} {region}, but “Exactly where” says {side}: tap her "
        "{side} {region}, or correct “Exactly where”."
    ),
    "other-needs-point": (
        "A mark for the region “Other” needs a point: tap the diagram where the injury is, "
        "or choose the region it is in."
    ),
}

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
            MESSAGES["no-view"].format(diagram=book.diagrams[request.diagram]), "drawing"
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
            raise MarkRefused(
                MESSAGES["outside"].format(
                    drawing=drawing.label, width=drawing.width, height=drawing.height
                ),
                "drawing",
            )
        polygon = drawing.polygon_at(x, y)
        if polygon is None:
            raise MarkRefused(MESSAGES["off-body"], "drawing")
        found = polygon.code
        if region != OTHER_REGION and found != region:
            raise MarkRefused(
                MESSAGES["wrong-region"].format(
                    found=labels.get(found, found).lower(), region=labels[region].lower()
                ),
                "region",
            )
        found_side = drawing.her_side(polygon)
        if side is not None and found_side is not None and found_side != side:
            raise MarkRefused(
                MESSAGES["wrong-side"].format(
                    found_side=found_side, side=side, region=labels.get(found, found).lower()
                ),
                "site",
            )
        return BodyMapMark(request.diagram, request.view, _rounded(x), _rounded(y), number)
    if region == OTHER_REGION:
        raise MarkRefused(MESSAGES["other-needs-point"], "drawing")
    point = drawing.free_point(region, taken or [], MARK_SPACING, side)
    if point is None:
        raise MarkRefused(
            MESSAGES["region-absent"].format(drawing=drawing.label, region=labels[region].lower()),
            "drawing",
        )
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
