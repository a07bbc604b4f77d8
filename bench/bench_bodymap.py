"""Body maps: what drawing the printed report's maps costs, next to Pillow
encoding a blank image of the same size (the floor any PNG map pays).

    .venv/bin/python bench/bench_bodymap.py [--rounds 50]

Prints a Markdown table. A measurement, not a test."""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

from PIL import Image

from clinic.bodymap.diagrams import diagram_book
from clinic.bodymap.figures import map_figures
from clinic.bodymap.marks import BodyMapMark
from clinic.bodymap.render import SCALE, PlacedMark, render_png


def timed(rounds: int, work: Callable[[], object]) -> float:
    work()  # warm the caches (fonts, the diagram book)
    start = time.perf_counter()
    for _ in range(rounds):
        work()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds
    book = diagram_book()
    drawing = book.drawings["adult-female:front"]
    marks = []
    for number, code in enumerate(drawing.region_codes[:12], start=1):
        point = drawing.free_point(code, [], 14)
        assert point is not None
        marks.append((number, point))
    placed = [PlacedMark(n, x, y) for n, (x, y) in marks]

    def blank_png() -> bytes:
        out = io.BytesIO()
        size = (round(drawing.width * SCALE), round(drawing.height * SCALE))
        Image.new("RGB", size, (255, 255, 255)).save(out, format="PNG")
        return out.getvalue()

    report_marks = [
        (BodyMapMark(d.diagram, d.view, x, y, n), f"Injury {n}")
        for d in (book.drawings["adult-female:front"], book.drawings["adult-female:back"])
        for n, (x, y) in ((n, (round(p[0]), round(p[1]))) for n, p in marks[:6])
        if d.region_at(x, y) is not None
    ]
    rows = [
        ("one drawing, 12 marks, as PNG", timed(rounds, lambda: render_png(drawing, placed))),
        ("one blank image of the same size, as PNG (Pillow alone)", timed(rounds, blank_png)),
        (
            "the maps of a report: 2 drawings with their marks, as data: URIs",
            timed(rounds, lambda: [f.data_uri for f in map_figures(report_marks)]),
        ),
        (
            "hit test: the region at a point (topmost of ~30 polygons)",
            timed(rounds * 100, lambda: drawing.region_at(141.5, 180)),
        ),
    ]
    print(f"| measurement ({rounds} rounds) | time |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.2f} ms |")
    print(f"\nPNG size, one drawing with 12 marks: {len(render_png(drawing, placed)):,} bytes")


if __name__ == "__main__":
    main()
