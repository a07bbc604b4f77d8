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
                "TRUSTED_HOSTS": ["localhost"],
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


def run_release(backend: str, photos: int) -> list[tuple[str, str]]:
    """A release of `photos` photographs of about 4 MB: the signed bundle built for
    the officer (every record decided, hashed, proofs exported, signed), and the
    originals opened for download (decided, decrypted, checked, audited), without
    the network transfer."""
    import sqlalchemy as sa

    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.cli import unit_of_work
    from clinic.exam.services import sign_off
    from clinic.ledger.services import create_checkpoint, generate_key, log_origin
    from clinic.release.bundle import release_bundle, release_key_name
    from clinic.release.photos import released_original
    from tests.conftest import PASSWORD, _seed
    from tests.consent.helpers import all_items, release_to
    from tests.exam.helpers import call, complete_exam
    from tests.helpers import csrf_token, login, open_case
    from tests.media.helpers import record_photo_consent, take
    from tests.release.helpers import file

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, drop = database(backend, workdir)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": workdir / "i",
                "SECRET_KEY": "bench",
                "TRUSTED_HOSTS": ["localhost"],
                "CHECK_SCHEMA": False,
                "SESSION_COOKIE_SECURE": False,
            }
        )
        try:
            upgrade(app)
            world = _seed(app)
            case = open_case(app, "examiner")
            record_photo_consent(app, case.id)
            exam_id = complete_exam(app, case.id)
            taken = [
                take(app, exam_id, [(f"IMG_{seed:04d}.JPG", camera_photo(seed))])[0]
                for seed in range(photos)
            ]
            call(app, "examiner", sign_off, exam_id=exam_id)
            with app.app_context(), unit_of_work() as uow:
                generate_key(uow.session, Path(app.instance_path), release_key_name(app.config))
                origin = log_origin(app.config, "custody")
                signer = generate_key(uow.session, Path(app.instance_path), origin)
                create_checkpoint(uow.session, "custody", origin, signer)
            client = app.test_client()
            request_id = file(
                client,
                world["officer"].token,
                case.reference,
                requested=("report", "non-intimate-photos"),
            ).get_json()["id"]
            release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
            login(client, "examiner", PASSWORD)
            client.post(
                f"/releases/incoming/{request_id}/approve",
                data={"csrf_token": csrf_token(client, f"/releases/incoming/{request_id}")},
            )
            with app.app_context(), unit_of_work(check_schema=False) as uow:
                officer = actor_for(
                    uow.session.scalar(sa.select(User).where(User.username == "officer"))
                )
            builds, downloads = [], []
            for _ in range(3):
                with app.app_context(), unit_of_work(check_schema=False) as uow:
                    started = time.perf_counter()
                    bundle = release_bundle(
                        uow,
                        app.extensions["clinic.profiles"],
                        actor=officer,
                        request_id=request_id,
                        instance_path=Path(app.instance_path),
                        key_name=release_key_name(app.config),
                    )
                    builds.append(time.perf_counter() - started)
                assert (
                    sum(e["resource"]["resourceType"] == "Media" for e in bundle["entry"]) == photos
                )
                started = time.perf_counter()
                size = 0
                for photo_id in taken:
                    with app.app_context(), unit_of_work(check_schema=False) as uow:
                        size += len(
                            released_original(
                                uow,
                                app.extensions["clinic.profiles"],
                                app.extensions["clinic.media_keys"],
                                actor=officer,
                                request_id=request_id,
                                photo_id=photo_id,
                            ).data
                        )
                downloads.append(time.perf_counter() - started)
        finally:
            from clinic.core.db import db

            db.dispose(app)
            if drop is not None:
                drop()  # type: ignore[operator]
    return [
        (
            f"build the signed release bundle, {photos} photographs (target ≤ 1.5 s)",
            f"{statistics.median(builds) * 1000:.0f} ms",
        ),
        (
            f"open all {photos} originals for download ({size / 1_000_000:.0f} MB; decided, "
            "decrypted, checked, audited; no transfer)",
            f"{statistics.median(downloads) * 1000:.0f} ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--photos", type=int, default=20, help="photographs in the release")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    arguments = parser.parse_args()
    backends = arguments.backend or ["sqlite", "postgresql"]
    results = {
        backend: run(backend, arguments.rounds) + run_release(backend, arguments.photos)
        for backend in backends
    }
    print(f"| measurement (median) | {' | '.join(backends)} |")
    print("|---|" + "---|" * len(backends))
    for row, (label, _) in enumerate(results[backends[0]]):
        print(f"| {label} | " + " | ".join(results[b][row][1] for b in backends) + " |")


if __name__ == "__main__":
    main()
