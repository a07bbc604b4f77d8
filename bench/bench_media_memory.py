"""Peak memory of one request that takes several large photographs at once.

Each measurement runs in a fresh process: `take_photos` with N camera JPEGs of
about 49 megapixels (8100 x 6050, the most `MEDIA_MAX_PIXELS` allows) in one
transaction on SQLite, as one upload of several photos runs. Reported: the peak
of Python's own allocations (tracemalloc: bytes objects, copies of the upload)
and the process's peak resident size (`ru_maxrss`, which also counts Pillow's
pixel buffers, allocated outside Python's allocator and invisible to
tracemalloc), less the resident size before the call.

    .venv/bin/python bench/bench_media_memory.py [--photos 4] [--code PATH]

`--code` runs the measurement against another checkout of the project (to compare
before and after a change); the images are made once and reused.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 8100, 6050


# Noise-heavy JPEG bytes now and then contain what intake's polyglot check takes
# for markup (e.g. "<svg"); such images are skipped, not measured.
_MARKUP = re.compile(rb"<(?:html|script|body|!doctype|svg|iframe|object|embed)|javascript:")


def make_images(folder: Path, count: int) -> list[Path]:
    """Made in the parent process (this checkout's generator), reused afterwards."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_media import camera_photo

    paths: list[Path] = []
    seed = 0
    while len(paths) < count:
        path = folder / f"IMG_{seed:04d}.JPG"
        if not path.exists():
            path.write_bytes(camera_photo(seed, WIDTH, HEIGHT))
        if not _MARKUP.search(path.read_bytes().lower()):
            paths.append(path)
        seed += 1
    return paths


def measure(code: Path, images: list[Path]) -> dict[str, float]:
    """In this process (a fresh one): one take_photos call with every image."""
    sys.path.insert(0, str(code))
    import tracemalloc

    import sqlalchemy as sa

    from clinic import create_app
    from clinic.accounts.models import User
    from clinic.accounts.services import actor_for
    from clinic.cli import unit_of_work
    from clinic.core.schema import upgrade
    from clinic.media import services
    from tests.conftest import _seed
    from tests.exam.helpers import start
    from tests.helpers import open_case
    from tests.media.helpers import record_photo_consent, vault

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "INSTANCE_PATH": Path(tmp) / "i",
                "SECRET_KEY": "bench",
                "TRUSTED_HOSTS": ["localhost"],
                "CHECK_SCHEMA": False,
                "MEDIA_MAX_PIXELS": WIDTH * HEIGHT,
            }
        )
        upgrade(app)
        _seed(app)
        case = open_case(app, "examiner")
        record_photo_consent(app, case.id)
        exam_id = start(app, case.id)
        uploads = [services.Upload(path.name, path.read_bytes()) for path in images]
        with app.app_context(), unit_of_work(check_schema=False) as uow:
            user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            services.take_photos(
                uow,
                app.extensions["clinic.profiles"],
                vault(app, uow),
                actor=actor_for(user),
                exam_id=exam_id,
                uploads=uploads,
                details=services.PhotoDetails("close-up", "forearm", "left forearm", True, False),
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "code": str(Path(services.__file__).parent.parent.parent),
        "upload_mb": sum(len(u.data) for u in uploads) / 1e6,
        "tracemalloc_peak_mb": peak / 1e6,
        "rss_growth_mb": (after - before) / 1e3,  # ru_maxrss is in kB on Linux
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--code", type=Path, default=ROOT)
    parser.add_argument("--images", type=Path, default=Path(tempfile.gettempdir()) / "bench-49mp")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--names", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.images.mkdir(exist_ok=True)
    if args.child:
        # Nothing of this checkout imported first: the code measured is `--code`'s.
        images = sorted(args.images.glob("IMG_*.JPG"))
        print(json.dumps(measure(args.code, [p for p in images if p.name in args.names])))
        return
    images = make_images(args.images, args.photos)
    found = json.loads(
        subprocess.run(  # noqa: S603  (this interpreter running this script)
            [
                sys.executable,
                __file__,
                "--child",
                "--photos",
                str(args.photos),
                "--code",
                str(args.code),
                "--images",
                str(args.images),
                "--names",
                *(path.name for path in images),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=args.code,
        ).stdout
    )
    print(
        f"| {args.photos} photos of {WIDTH * HEIGHT / 1e6:.0f} MP, {found['upload_mb']:.0f} MB "
        f"| tracemalloc peak {found['tracemalloc_peak_mb']:.0f} MB "
        f"| resident growth {found['rss_growth_mb']:.0f} MB | {found['code']} |"
    )


if __name__ == "__main__":
    main()
