"""Photograph intake against Pillow's own work on the same image, side by side.

For a 12-megapixel camera JPEG (4000 x 3000, about 4 MB), each round measures, in
turn on the same bytes:

* Pillow alone: open, decode every pixel, resize to the display size, turn upright
  (EXIF) and encode the display copy: the least any intake must do;
* our intake through `take_photos`, in its own transaction on a real database:
  content checks, full decode, SHA-256 and SHA-1, display copy, thumbnail and
  blurred stand-in, a data key and AES-256-GCM of every variant, the Media validated
  and stored, the custody-log leaf, the audit record, the commit.

Rounds alternate so both see the same machine. The target (issue 14) is intake at
most 1.3 x Pillow's decode plus encode. Prints a Markdown table.

    .venv/bin/python bench/bench_media.py [--rounds 7] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_store import database  # noqa: E402
from clinic import create_app  # noqa: E402
from clinic.core.schema import upgrade  # noqa: E402
from clinic.media.intake import DISPLAY_SIDE  # noqa: E402


def camera_photo(seed: int, width: int = 4000, height: int = 3000) -> bytes:
    """A 12-megapixel JPEG with a camera's detail (gradients, shapes and sensor
    noise, so it compresses like a photograph) and a camera's EXIF."""
    from PIL import Image, ImageDraw, ImageFilter

    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    base = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_180)))
    draw = ImageDraw.Draw(base)
    for index in range(40):
        x = (seed * 97 + index * 389) % width
        y = (seed * 61 + index * 211) % height
        draw.ellipse((x, y, x + 300, y + 200), fill=(120 + index, 60, 90 + seed % 50))
    base = base.filter(ImageFilter.GaussianBlur(1))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}
    out = io.BytesIO()
    base.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def pillow_alone(data: bytes) -> bytes:
    from PIL import Image, ImageOps

    image = Image.open(io.BytesIO(data))
    image.load()
    # Resized, then turned upright: the cheaper order, as intake does it.
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BICUBIC, reducing_gap=2.0)
    upright = ImageOps.exif_transpose(image)
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=85)
    return out.getvalue()


def run(backend: str, rounds: int) -> list[tuple[str, str]]:
    from tests.conftest import _seed
    from tests.exam.helpers import start
    from tests.helpers import open_case
    from tests.media.helpers import record_photo_consent, take, vault

    def intake(exam_id: str, name: str, data: bytes) -> None:
        """take_photos in one transaction, as a request runs it (the schema is
        checked once at start-up, not per call as the test helpers do)."""
        import sqlalchemy as sa

        from clinic.accounts.models import User
        from clinic.accounts.services import actor_for
        from clinic.cli import unit_of_work
        from clinic.media import services

        with app.app_context(), unit_of_work(check_schema=False) as uow:
            user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
            services.take_photos(
                uow,
                app.extensions["clinic.profiles"],
                vault(app, uow),
                actor=actor_for(user),
                exam_id=exam_id,
                uploads=[services.Upload(name, data)],
                details=services.PhotoDetails("close-up", "forearm", "left forearm", True, False),
            )

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, drop = database(backend, workdir)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": workdir / "i",
                "SECRET_KEY": "bench",
                "CHECK_SCHEMA": False,
            }
        )
        try:
            upgrade(app)
            _seed(app)
            case = open_case(app, "examiner")
            record_photo_consent(app, case.id)
            exam_id = start(app, case.id)
            photos = [camera_photo(seed) for seed in range(rounds + 1)]
            take(app, exam_id, [("warm-up.jpg", photos[-1])])  # first key, caches
            pillow_alone(photos[-1])
            pillow, intake_times = [], []
            for index in range(rounds):
                started = time.perf_counter()
                pillow_alone(photos[index])
                pillow.append(time.perf_counter() - started)
                started = time.perf_counter()
                intake(exam_id, f"IMG_{index:04d}.JPG", photos[index])
                intake_times.append(time.perf_counter() - started)
        finally:
            from clinic.core.db import db

            db.dispose(app)
            if drop is not None:
                drop()  # type: ignore[operator]
    size = statistics.mean(len(p) for p in photos[:rounds]) / 1_000_000
    pillow_ms = statistics.median(pillow) * 1000
    intake_ms = statistics.median(intake_times) * 1000
    return [
        (
            f"Pillow alone: decode + upright + resize + encode display copy ({size:.1f} MB, 12 MP)",
            f"{pillow_ms:.0f} ms",
        ),
        (
            "intake through take_photos (checks, hashes, 3 copies, encrypt, Media, custody log, audit, commit)",
            f"{intake_ms:.0f} ms",
        ),
        ("intake / Pillow alone (target ≤ 1.3)", f"{intake_ms / pillow_ms:.2f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    arguments = parser.parse_args()
    backends = arguments.backend or ["sqlite", "postgresql"]
    results = {backend: run(backend, arguments.rounds) for backend in backends}
    print(f"| measurement (median of {arguments.rounds} rounds) | {' | '.join(backends)} |")
    print("|---|" + "---|" * len(backends))
    for row, (label, _) in enumerate(results[backends[0]]):
        print(f"| {label} | " + " | ".join(results[b][row][1] for b in backends) + " |")


if __name__ == "__main__":
    main()
