"""The annotated maps of a printed report: one PNG per drawing that holds marks,
with its legend (the number on the map, and the injury in words)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from clinic.bodymap.diagrams import Drawing, diagram_book
from clinic.bodymap.marks import BodyMapMark
from clinic.bodymap.render import PlacedMark, render_png


@dataclass(frozen=True)
class MapFigure:
    drawing: Drawing
    png: bytes
    legend: tuple[tuple[int, str], ...]  # (number, the injury in words), by number

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def numbers(self) -> str:
        return ", ".join(str(number) for number, _ in self.legend)


def map_figures(marked: Iterable[tuple[BodyMapMark, str]]) -> list[MapFigure]:
    """A figure per drawing that holds marks, in the order of the drawings.
    A mark on a drawing the clinic no longer has is left out of the maps (its
    injury is still in the report's words)."""
    book = diagram_book()
    by_drawing: dict[str, list[tuple[BodyMapMark, str]]] = {}
    for mark, words in marked:
        by_drawing.setdefault(f"{mark.diagram}:{mark.view}", []).append((mark, words))
    figures = []
    for code, drawing in book.drawings.items():
        marks = sorted(by_drawing.get(code, []), key=lambda item: item[0].number)
        if not marks:
            continue
        png = render_png(
            drawing, [PlacedMark(mark.number, float(mark.x), float(mark.y)) for mark, _ in marks]
        )
        figures.append(
            MapFigure(drawing, png, tuple((mark.number, words) for mark, words in marks))
        )
    return figures
