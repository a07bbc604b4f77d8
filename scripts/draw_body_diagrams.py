"""How the project's body diagrams were first drawn: simple geometric figures,
written to clinic/bodymap/diagrams.json. That file is the source the clinic
reads and may edit by hand (a region is a polygon in diagram units, origin top
left); rerunning this script overwrites it.

    python scripts/draw_body_diagrams.py

Regions are listed in drawing order: a later region is drawn over an earlier
one, and a point is in the topmost region that contains it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "clinic" / "bodymap" / "diagrams.json"
Point = tuple[float, float]

BODY_WIDTH, BODY_HEIGHT = 200, 440
ANOGENITAL_SIZE = 200


def ellipse(
    cx: float, cy: float, rx: float, ry: float, start: float = 0, end: float = 360
) -> list[Point]:
    steps = 20
    points = []
    for n in range(steps + 1):
        angle = math.radians(start + (end - start) * n / steps)
        points.append((cx + rx * math.cos(angle), cy + ry * math.sin(angle)))
    if end - start >= 360:
        points.pop()
    return points


def mirror(points: list[Point], width: float = BODY_WIDTH) -> list[Point]:
    return [(width - x, y) for x, y in points]


def quad(top_left: Point, top_right: Point, bottom_right: Point, bottom_left: Point) -> list[Point]:
    return [top_left, top_right, bottom_right, bottom_left]


class Figure:
    """Proportions of a figure in diagram units (an adult is 7.5 heads tall, a
    young child about 5)."""

    def __init__(
        self, *, head: float, shoulders: float, waist: float, hips: float, breasts: bool
    ) -> None:
        self.head = head  # head height
        self.shoulders = shoulders  # half-width at the shoulders
        self.waist = waist
        self.hips = hips
        self.breasts = breasts
        top = 8
        self.head_top = top
        self.chin = top + head
        self.shoulder_y = self.chin + head * 0.35
        self.body = BODY_HEIGHT - top - 12 - self.shoulder_y  # shoulders to soles
        b = self.body
        self.chest_end = self.shoulder_y + b * 0.21
        self.waist_y = self.shoulder_y + b * 0.30
        self.crotch = self.shoulder_y + b * 0.44
        self.knee_top = self.shoulder_y + b * 0.68
        self.knee_bottom = self.shoulder_y + b * 0.76
        self.ankle_top = self.shoulder_y + b * 0.93
        self.ankle_bottom = self.shoulder_y + b * 0.965
        self.sole = self.shoulder_y + b
        self.elbow = self.shoulder_y + b * 0.24
        self.wrist_top = self.shoulder_y + b * 0.41
        self.wrist_bottom = self.shoulder_y + b * 0.44
        self.fingertips = self.shoulder_y + b * 0.54


def region(code: str, points: list[Point]) -> dict[str, object]:
    return {"region": code, "points": [[round(x, 1), round(y, 1)] for x, y in points]}


def front_or_back(f: Figure, *, back: bool) -> list[dict[str, object]]:
    c = BODY_WIDTH / 2
    head_cx, head_cy, head_rx, head_ry = c, f.head_top + f.head / 2, f.head * 0.40, f.head / 2
    regions = [region("head", ellipse(head_cx, head_cy, head_rx, head_ry))]
    if not back:
        regions.append(
            region(
                "face",
                ellipse(head_cx, head_cy + head_ry * 0.2, head_rx * 0.85, head_ry * 0.8, -15, 195),
            )
        )
    neck_half = f.head * 0.17
    regions.append(
        region(
            "neck",
            quad(
                (c - neck_half, f.chin - 4),
                (c + neck_half, f.chin - 4),
                (c + neck_half * 1.4, f.shoulder_y + 2),
                (c - neck_half * 1.4, f.shoulder_y + 2),
            ),
        )
    )
    s, w, h = f.shoulders, f.waist, f.hips
    leg_gap = 3
    for side in (-1, 1):
        # The arm hangs beside the trunk: upper arm, forearm, wrist, hand.
        out = c + side * s
        arm = f.head * 0.28
        regions.append(
            region(
                "upper-arm",
                quad(
                    (out - side * 2, f.shoulder_y),
                    (out + side * arm, f.shoulder_y + 6),
                    (out + side * (arm + 4), f.elbow),
                    (out + side * 3, f.elbow),
                ),
            )
        )
        regions.append(
            region(
                "forearm",
                quad(
                    (out + side * 3, f.elbow),
                    (out + side * (arm + 4), f.elbow),
                    (out + side * (arm + 8), f.wrist_top),
                    (out + side * 9, f.wrist_top),
                ),
            )
        )
        regions.append(
            region(
                "wrist",
                quad(
                    (out + side * 9, f.wrist_top),
                    (out + side * (arm + 8), f.wrist_top),
                    (out + side * (arm + 8), f.wrist_bottom),
                    (out + side * 9, f.wrist_bottom),
                ),
            )
        )
        regions.append(
            region(
                "hand",
                quad(
                    (out + side * 8, f.wrist_bottom),
                    (out + side * (arm + 10), f.wrist_bottom),
                    (out + side * (arm + 8), f.fingertips),
                    (out + side * 11, f.fingertips),
                ),
            )
        )
    if back:
        regions.append(
            region(
                "back",
                [
                    (c - s, f.shoulder_y),
                    (c + s, f.shoulder_y),
                    (c + w, f.waist_y),
                    (c + h, f.crotch - (f.crotch - f.waist_y) * 0.45),
                    (c - h, f.crotch - (f.crotch - f.waist_y) * 0.45),
                    (c - w, f.waist_y),
                ],
            )
        )
        hip_y = f.crotch - (f.crotch - f.waist_y) * 0.45
        for side in (-1, 1):
            regions.append(
                region(
                    "buttock",
                    [
                        (c, hip_y),
                        (c + side * h, hip_y),
                        (c + side * h * 0.98, f.crotch + 8),
                        (c + side * leg_gap, f.crotch + 8),
                    ],
                )
            )
    else:
        regions.append(
            region(
                "chest",
                [
                    (c - s, f.shoulder_y),
                    (c + s, f.shoulder_y),
                    (c + (s + w) / 2, f.chest_end),
                    (c - (s + w) / 2, f.chest_end),
                ],
            )
        )
        regions.append(
            region(
                "abdomen",
                [
                    (c - (s + w) / 2, f.chest_end),
                    (c + (s + w) / 2, f.chest_end),
                    (c + w, f.waist_y),
                    (c + h, f.crotch - 6),
                    (c, f.crotch + 4),
                    (c - h, f.crotch - 6),
                    (c - w, f.waist_y),
                ],
            )
        )
        if f.breasts:
            for side in (-1, 1):
                regions.append(
                    region("breast", ellipse(c + side * s * 0.45, f.chest_end - 10, s * 0.36, 13))
                )
    leg_top = f.crotch - 6 if not back else f.crotch + 8
    for side in (-1, 1):
        outer = c + side * h
        inner = c + side * leg_gap
        knee_out = c + side * h * 0.72
        knee_in = c + side * (leg_gap + 3)
        ankle_out = c + side * h * 0.48
        ankle_in = c + side * (leg_gap + 6)
        regions.append(
            region(
                "thigh",
                quad(
                    (inner, leg_top if back else f.crotch + 4),
                    (outer, leg_top),
                    (knee_out, f.knee_top),
                    (knee_in, f.knee_top),
                ),
            )
        )
        regions.append(
            region(
                "knee",
                quad(
                    (knee_in, f.knee_top),
                    (knee_out, f.knee_top),
                    (knee_out - side * 1, f.knee_bottom),
                    (knee_in + side * 1, f.knee_bottom),
                ),
            )
        )
        regions.append(
            region(
                "lower-leg",
                quad(
                    (knee_in + side * 1, f.knee_bottom),
                    (knee_out - side * 1, f.knee_bottom),
                    (ankle_out, f.ankle_top),
                    (ankle_in, f.ankle_top),
                ),
            )
        )
        regions.append(
            region(
                "ankle",
                quad(
                    (ankle_in, f.ankle_top),
                    (ankle_out, f.ankle_top),
                    (ankle_out, f.ankle_bottom),
                    (ankle_in, f.ankle_bottom),
                ),
            )
        )
        toe = c + side * (h * 0.48 + (0 if back else 6))
        regions.append(
            region(
                "foot",
                quad(
                    (ankle_in, f.ankle_bottom),
                    (ankle_out, f.ankle_bottom),
                    (toe, f.sole),
                    (ankle_in - side * 1, f.sole),
                ),
            )
        )
    return regions


def side_view(f: Figure) -> list[dict[str, object]]:
    """Her right side: she faces the viewer's right. The left side is its mirror."""
    c = BODY_WIDTH / 2
    depth = f.waist * 0.75  # half the trunk's depth, front to back
    head_cx, head_cy = c + 2, f.head_top + f.head / 2
    regions = [region("head", ellipse(head_cx, head_cy, f.head * 0.45, f.head / 2))]
    regions.append(
        region(
            "face",
            ellipse(
                head_cx + f.head * 0.2,
                head_cy + f.head * 0.12,
                f.head * 0.27,
                f.head * 0.36,
                -80,
                100,
            ),
        )
    )
    regions.append(
        region(
            "neck",
            quad(
                (c - 6, f.chin - 6),
                (c + 8, f.chin - 6),
                (c + 10, f.shoulder_y + 2),
                (c - 8, f.shoulder_y + 2),
            ),
        )
    )
    hip_y = f.crotch - (f.crotch - f.waist_y) * 0.45
    regions.append(
        region(
            "back",
            [
                (c - depth, f.shoulder_y),
                (c, f.shoulder_y),
                (c, f.crotch - 2),
                (c - depth * 0.9, hip_y),
                (c - depth * 0.8, f.waist_y),
            ],
        )
    )
    regions.append(
        region(
            "chest",
            [
                (c, f.shoulder_y),
                (c + depth, f.shoulder_y + 4),
                (c + depth * 1.05, f.chest_end),
                (c, f.chest_end),
            ],
        )
    )
    regions.append(
        region(
            "abdomen",
            [
                (c, f.chest_end),
                (c + depth * 1.05, f.chest_end),
                (c + depth, f.waist_y),
                (c + depth * 1.1, hip_y),
                (c + depth * 0.8, f.crotch),
                (c, f.crotch),
            ],
        )
    )
    regions.append(
        region(
            "buttock",
            [
                (c - depth * 0.9, hip_y),
                (c - 2, hip_y),
                (c - 2, f.crotch + 10),
                (c - depth * 0.95, f.crotch + 4),
                (c - depth * 1.15, f.crotch - 12),
            ],
        )
    )
    if f.breasts:
        regions.append(
            region("breast", ellipse(c + depth * 1.05, f.chest_end - 12, 12, 14, -90, 90))
        )
    leg = depth * 0.9
    regions.append(
        region(
            "thigh",
            quad(
                (c - leg, f.crotch - 4),
                (c + leg, f.crotch - 4),
                (c + leg * 0.7, f.knee_top),
                (c - leg * 0.65, f.knee_top),
            ),
        )
    )
    regions.append(
        region(
            "knee",
            quad(
                (c - leg * 0.65, f.knee_top),
                (c + leg * 0.7, f.knee_top),
                (c + leg * 0.65, f.knee_bottom),
                (c - leg * 0.6, f.knee_bottom),
            ),
        )
    )
    regions.append(
        region(
            "lower-leg",
            quad(
                (c - leg * 0.6, f.knee_bottom),
                (c + leg * 0.65, f.knee_bottom),
                (c + leg * 0.35, f.ankle_top),
                (c - leg * 0.4, f.ankle_top),
            ),
        )
    )
    regions.append(
        region(
            "ankle",
            quad(
                (c - leg * 0.4, f.ankle_top),
                (c + leg * 0.35, f.ankle_top),
                (c + leg * 0.35, f.ankle_bottom),
                (c - leg * 0.4, f.ankle_bottom),
            ),
        )
    )
    regions.append(
        region(
            "foot",
            [
                (c - leg * 0.4, f.ankle_bottom),
                (c + leg * 0.35, f.ankle_bottom),
                (c + leg * 1.6, f.sole - 3),
                (c + leg * 1.6, f.sole),
                (c - leg * 0.5, f.sole),
            ],
        )
    )
    arm = f.head * 0.26
    regions.append(
        region(
            "upper-arm",
            quad(
                (c - arm, f.shoulder_y + 2),
                (c + arm, f.shoulder_y + 2),
                (c + arm * 0.8, f.elbow),
                (c - arm * 0.8, f.elbow),
            ),
        )
    )
    regions.append(
        region(
            "forearm",
            quad(
                (c - arm * 0.8, f.elbow),
                (c + arm * 0.8, f.elbow),
                (c + arm * 0.7 + 4, f.wrist_top),
                (c - arm * 0.6 + 4, f.wrist_top),
            ),
        )
    )
    regions.append(
        region(
            "wrist",
            quad(
                (c - arm * 0.6 + 4, f.wrist_top),
                (c + arm * 0.7 + 4, f.wrist_top),
                (c + arm * 0.7 + 4, f.wrist_bottom),
                (c - arm * 0.6 + 4, f.wrist_bottom),
            ),
        )
    )
    regions.append(
        region(
            "hand",
            quad(
                (c - arm * 0.6 + 3, f.wrist_bottom),
                (c + arm * 0.7 + 5, f.wrist_bottom),
                (c + arm * 0.6 + 6, f.fingertips),
                (c - arm * 0.4 + 4, f.fingertips),
            ),
        )
    )
    return regions


def mirrored(regions: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {"region": r["region"], "points": [[round(BODY_WIDTH - x, 1), y] for x, y in r["points"]]}  # type: ignore[attr-defined]
        for r in regions
    ]


def anogenital_female() -> list[dict[str, object]]:
    s = ANOGENITAL_SIZE
    return [
        region("thigh", quad((0, 0), (62, 0), (58, 150), (0, 150))),
        region("thigh", quad((138, 0), (s, 0), (s, 150), (142, 150))),
        region("buttock", [(0, 150), (58, 150), (100, 168), (142, 150), (s, 150), (s, s), (0, s)]),
        region("perineum", [(62, 0), (138, 0), (142, 150), (100, 168), (58, 150)]),
        region("vulva", ellipse(100, 62, 30, 52)),
        region("vaginal-introitus", ellipse(100, 72, 11, 20)),
        region("posterior-fourchette", ellipse(100, 104, 14, 7)),
        region("anus", ellipse(100, 145, 11, 11)),
    ]


def anogenital_male() -> list[dict[str, object]]:
    s = ANOGENITAL_SIZE
    return [
        region("thigh", quad((0, 0), (58, 0), (54, 150), (0, 150))),
        region("thigh", quad((142, 0), (s, 0), (s, 150), (146, 150))),
        region("buttock", [(0, 150), (54, 150), (100, 168), (146, 150), (s, 150), (s, s), (0, s)]),
        region("perineum", [(58, 0), (142, 0), (146, 150), (100, 168), (54, 150)]),
        region("scrotum", ellipse(100, 78, 30, 30)),
        region("penis", [(88, 0), (112, 0), (112, 52), (100, 60), (88, 52)]),
        region("anus", ellipse(100, 142, 11, 11)),
    ]


def main() -> None:
    figures = {
        "adult-female": Figure(head=52, shoulders=34, waist=24, hips=38, breasts=True),
        "adult-male": Figure(head=52, shoulders=42, waist=30, hips=33, breasts=False),
        "child": Figure(head=82, shoulders=32, waist=27, hips=29, breasts=False),
    }
    drawings = []
    for code, figure in figures.items():
        right = side_view(figure)
        for view, regions in (
            ("front", front_or_back(figure, back=False)),
            ("back", front_or_back(figure, back=True)),
            ("right", right),
            ("left", mirrored(right)),
        ):
            drawings.append(
                {
                    "diagram": code,
                    "view": view,
                    "width": BODY_WIDTH,
                    "height": BODY_HEIGHT,
                    "regions": regions,
                }
            )
    for code, regions in (
        ("anogenital-female", anogenital_female()),
        ("anogenital-male", anogenital_male()),
    ):
        drawings.append(
            {
                "diagram": code,
                "view": "external",
                "width": ANOGENITAL_SIZE,
                "height": ANOGENITAL_SIZE,
                "regions": regions,
            }
        )
    document = {
        "about": (
            "Body diagrams drawn by the project (scripts/draw_body_diagrams.py), "
            "under the project's licence, AGPL-3.0-or-later. Each drawing is a diagram (a "
            "figure) seen from a view; each region is a polygon in diagram units "
            "(origin top left, x to the right, y down) named by its body-region code "
            "(fhir_profiles/CodeSystem-body-region.json). Regions are in drawing order: "
            "a point belongs to the topmost region that contains it. "
            "her_left_is_on_the_viewers: for each view showing both sides, on which side "
            "of the drawing (as the viewer sees it) her left is."
        ),
        "diagrams": {
            "adult-female": {"label": "Adult female", "anogenital": False},
            "adult-male": {"label": "Adult male", "anogenital": False},
            "child": {"label": "Child", "anogenital": False},
            "anogenital-female": {"label": "Anogenital, female", "anogenital": True},
            "anogenital-male": {"label": "Anogenital, male", "anogenital": True},
        },
        "views": {
            "front": "Front",
            "back": "Back",
            "right": "Right side",
            "left": "Left side",
            "external": "External",
        },
        "her_left_is_on_the_viewers": {"front": "right", "back": "left", "external": "right"},
        "drawings": drawings,
    }
    OUT.write_text(as_text(document))


def as_text(document: dict[str, object]) -> str:
    """JSON with one region a line, so a person can find and edit a region."""
    marker = '"@regions@"'
    compact = []
    for drawing in document["drawings"]:  # type: ignore[attr-defined]
        compact.append(drawing.pop("regions"))
        drawing["regions"] = "@regions@"
    text = json.dumps(document, indent=1)
    for regions in compact:
        lines = ",\n".join("   " + json.dumps(r, separators=(", ", ": ")) for r in regions)
        text = text.replace(marker, "[\n" + lines + "\n  ]", 1)
    return text + "\n"


if __name__ == "__main__":
    main()
