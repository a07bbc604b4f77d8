"""A drawing with its numbered marks, as a PNG made with Pillow (for the printed
report, where no script runs and the page must print the same everywhere)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from clinic.bodymap.diagrams import Drawing

# Pixels per diagram unit: a body drawing prints about 8 cm tall at 300 dpi.
SCALE = 2
OUTLINE = (90, 90, 90)
FILL = (255, 255, 255)
BACKGROUND = (255, 255, 255)
MARK = (200, 0, 0)  # a mark is a red disc with its number in white
MARK_TEXT = (255, 255, 255)
MARK_RADIUS = 7  # diagram units


@dataclass(frozen=True)
class PlacedMark:
    number: int
    x: float
    y: float


def render_png(drawing: Drawing, marks: Iterable[PlacedMark], scale: int = SCALE) -> bytes:
    width, height = round(drawing.width * scale), round(drawing.height * scale)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for region in drawing.regions:
        draw.polygon(
            [(x * scale, y * scale) for x, y in region.points],
            fill=FILL,
            outline=OUTLINE,
            width=max(1, scale),
        )
    font = ImageFont.load_default(size=MARK_RADIUS * scale * 1.3)
    radius = MARK_RADIUS * scale
    for mark in marks:
        cx, cy = mark.x * scale, mark.y * scale
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=MARK)
        draw.text((cx, cy), str(mark.number), fill=MARK_TEXT, font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")  # optimize=True triples the time for 1.3 KB less
    return out.getvalue()
