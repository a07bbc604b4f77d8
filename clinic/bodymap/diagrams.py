"""The body diagrams, read from diagrams.json (the clinic may extend it).

A drawing is one diagram (a figure: adult female, adult male, child, or an
anogenital diagram) seen from one view; its regions are polygons in diagram
units named by body-region codes. Regions are in drawing order, so a point
belongs to the topmost region containing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from clinic.i18n.sentences import Coded, Sentence, sentence

DIAGRAMS_FILE = Path(__file__).with_name("diagrams.json")

Point = tuple[float, float]


@dataclass(frozen=True)
class Region:
    code: str  # body-region code
    points: tuple[Point, ...]

    def contains(self, x: float, y: float) -> bool:
        """Even-odd rule: a ray to the right crosses the outline an odd number of times."""
        inside = False
        points = self.points
        for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    @property
    def centre(self) -> Point:
        """The centroid of the polygon (where a mark placed by keyboard goes)."""
        area = cx = cy = 0.0
        points = self.points
        for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
            cross = x1 * y2 - x2 * y1
            area += cross
            cx += (x1 + x2) * cross
            cy += (y1 + y2) * cross
        if abs(area) < 1e-9:
            return points[0]
        return (round(cx / (3 * area), 1), round(cy / (3 * area), 1))


@dataclass(frozen=True)
class Drawing:
    diagram: str
    view: str
    label: str  # "Adult female, front"
    width: float
    height: float
    is_anogenital: bool
    regions: tuple[Region, ...]
    her_left_on_the_viewers: str | None = None  # "left", "right"; None: one side shown

    @property
    def code(self) -> str:
        return f"{self.diagram}:{self.view}"

    @property
    def said_label(self) -> Sentence:
        """The label as a sentence: "Adult female, front" in records, "Adulte,
        femme, face antérieure" on a French screen (the `said` filter)."""
        diagram, view = self.label.split(", ", 1)
        return sentence(
            "%(diagram)s, %(view)s",
            diagram=Coded("body-diagram", self.diagram, english_text=diagram),
            view=Coded("body-diagram-view", self.view, inline=True, english_text=view),
        )

    def region_at(self, x: float, y: float) -> str | None:
        polygon = self.polygon_at(x, y)
        return polygon.code if polygon else None

    def polygon_at(self, x: float, y: float) -> Region | None:
        """The topmost polygon holding the point."""
        for region in reversed(self.regions):
            if region.contains(x, y):
                return region
        return None

    def polygons_of(self, code: str) -> list[Region]:
        return [region for region in self.regions if region.code == code]

    def her_side(self, polygon: Region) -> str | None:
        """Her "left" or "right" for a polygon of a region drawn on both sides of
        this view (her left forearm, her right thigh); None when it is not."""
        if self.her_left_on_the_viewers is None or len(self.polygons_of(polygon.code)) < 2:
            return None
        on_viewers_right = polygon.centre[0] > self.width / 2
        her_left_on_right = self.her_left_on_the_viewers == "right"
        return "left" if on_viewers_right == her_left_on_right else "right"

    @property
    def region_codes(self) -> list[str]:
        """Each region code once, in drawing order."""
        return list(dict.fromkeys(region.code for region in self.regions))

    def free_point(
        self, code: str, taken: list[Point], spacing: float, side: str | None = None
    ) -> Point | None:
        """Where a mark for the region goes when no point is given: the middle of
        its largest polygon, on her `side` if the region is drawn on both (or the
        nearest point to it that is in the region and not under another), moved
        aside from the marks already `taken` if it can be. None when the drawing
        has no such region."""
        polygons = self.polygons_of(code)
        if not polygons:
            return None
        on_her_side = [polygon for polygon in polygons if self.her_side(polygon) == side]
        if side is not None and on_her_side:
            polygons = on_her_side
        largest = max(polygons, key=_area)
        cx, cy = largest.centre
        xs = [p[0] for p in largest.points]
        ys = [p[1] for p in largest.points]
        steps = 16
        candidates = [(cx, cy)] + [
            (
                round(min(xs) + (max(xs) - min(xs)) * i / steps, 1),
                round(min(ys) + (max(ys) - min(ys)) * j / steps, 1),
            )
            for i in range(1, steps)
            for j in range(1, steps)
        ]
        inside = sorted(
            (p for p in candidates if self.region_at(*p) == code),
            key=lambda p: (p[0] - cx) ** 2 + (p[1] - cy) ** 2,
        )
        if not inside:
            return largest.points[0]
        for point in inside:
            if all((point[0] - x) ** 2 + (point[1] - y) ** 2 >= spacing**2 for x, y in taken):
                return point
        return inside[0]


def _area(region: Region) -> float:
    points = region.points
    return abs(
        sum(
            x1 * y2 - x2 * y1
            for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True)
        )
    )


@dataclass(frozen=True)
class DiagramBook:
    diagrams: dict[str, str]  # code -> label
    views: dict[str, str]  # code -> label
    anogenital: frozenset[str]  # diagram codes of the anogenital diagrams
    drawings: dict[str, Drawing]  # "diagram:view" -> drawing

    def drawing(self, diagram: str, view: str) -> Drawing | None:
        return self.drawings.get(f"{diagram}:{view}")

    @property
    def anogenital_regions(self) -> frozenset[str]:
        """Region codes found only on the anogenital diagrams."""
        on_body = {
            code
            for drawing in self.drawings.values()
            if not drawing.is_anogenital
            for code in drawing.region_codes
        }
        return frozenset(
            code
            for drawing in self.drawings.values()
            if drawing.is_anogenital
            for code in drawing.region_codes
            if code not in on_body
        )


@cache
def diagram_book(path: Path = DIAGRAMS_FILE) -> DiagramBook:
    document = json.loads(path.read_text())
    diagrams = {code: entry["label"] for code, entry in document["diagrams"].items()}
    anogenital = frozenset(
        code for code, entry in document["diagrams"].items() if entry.get("anogenital")
    )
    views = dict(document["views"])
    drawings = {}
    for entry in document["drawings"]:
        drawing = Drawing(
            diagram=entry["diagram"],
            view=entry["view"],
            label=f"{diagrams[entry['diagram']]}, {views[entry['view']].lower()}",
            width=float(entry["width"]),
            height=float(entry["height"]),
            is_anogenital=entry["diagram"] in anogenital,
            her_left_on_the_viewers=document.get("her_left_is_on_the_viewers", {}).get(
                entry["view"]
            ),
            regions=tuple(
                Region(r["region"], tuple((float(x), float(y)) for x, y in r["points"]))
                for r in entry["regions"]
            ),
        )
        drawings[drawing.code] = drawing
    return DiagramBook(diagrams, views, anogenital, drawings)
