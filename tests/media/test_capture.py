"""Taking photographs from the exam, through the browser's form: what is kept, what
is served, and every bad input refused with a clear message and nothing stored."""

from __future__ import annotations

import io
import re
import zlib
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.exam.services import sign_off
from clinic.media.models import Photo
from clinic.media.services import slot_number
from tests.conftest import PASSWORD
from tests.exam.helpers import call, complete_exam
from tests.helpers import csrf_token, login, open_case
from tests.media.helpers import camera_jpeg, counts, noisy_jpeg, png, record_photo_consent


@pytest.fixture
def exam_id(app: Flask) -> str:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    return complete_exam(app, case.id)


@pytest.fixture
def examiner(client: FlaskClient) -> FlaskClient:
    login(client, "examiner", PASSWORD)
    return client


def post_photos(
    client: FlaskClient, exam_id: str, files: list[tuple[str, bytes]], **fields: Any
) -> Any:
    path = f"/exams/{exam_id}/photos"
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, path),
        "view": "close-up",
        "region": "forearm",
        "site": "left forearm, inner side",
        "scale_in_frame": "y",
        "intimate": "no",
    } | fields
    data["photos"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(path, data=data, content_type="multipart/form-data")


def photo_ids(app: Flask, exam_id: str) -> list[str]:
    from clinic.cli import unit_of_work

    with app.app_context(), unit_of_work() as uow:
        photos = uow.session.scalars(sa.select(Photo).where(Photo.exam_id == exam_id))
        return [photo.id for photo in sorted(photos, key=slot_number)]


def test_several_photos_taken_at_once_appear_in_the_gallery(
    app: Flask, examiner: FlaskClient, exam_id: str
) -> None:
    response = post_photos(
        examiner, exam_id, [("IMG_1.jpg", camera_jpeg(seed=1)), ("IMG_2.jpg", camera_jpeg(seed=2))]
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = examiner.get(f"/exams/{exam_id}/photos").get_data(as_text=True)
    assert "2 photographs saved." in page
    for photo_id in photo_ids(app, exam_id):
        assert f"/photos/{photo_id}/thumbnail" in page
    assert 'accept="image/jpeg,image/png,image/*"' in page
    assert " multiple" in page
    assert 'capture="environment"' in page


def test_the_served_display_copy_carries_no_metadata(
    app: Flask, examiner: FlaskClient, exam_id: str
) -> None:
    from PIL import Image

    original = camera_jpeg(640, 480, orientation=6)
    assert post_photos(examiner, exam_id, [("IMG.jpg", original)]).status_code == 302
    (photo_id,) = photo_ids(app, exam_id)
    for variant in ("display", "thumbnail"):
        response = examiner.get(f"/photos/{photo_id}/{variant}")
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
        body = response.get_data()
        image = Image.open(io.BytesIO(body))
        assert image.format == "JPEG"
        assert not image.getexif(), image.getexif()
        assert "exif" not in image.info
        assert "icc_profile" not in image.info
        assert "xmp" not in image.info
        assert "comment" not in image.info
        assert b"Exif" not in body
        assert b"GPS" not in body
        assert b"xmpmeta" not in body
        assert b"taken at home" not in body
        assert b"PhoneMaker" not in body
        # Orientation 6: the camera held sideways; the copy is turned upright.
        assert image.height > image.width
    original_download = examiner.get(f"/photos/{photo_id}/original")
    assert original_download.get_data() == original  # byte-exact, metadata and all
    assert original_download.headers["Content-Disposition"].startswith("attachment")


def _truncated_jpeg() -> bytes:
    whole = camera_jpeg(800, 600)
    return whole[: len(whole) * 2 // 3]


def _bomb_png(side: int = 30000) -> bytes:
    """A small file that claims side x side pixels (900 megapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1-bit grey
    row = b"\x00" + b"\x00" * (side // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _polyglot() -> bytes:
    """A PNG that is also a web page: HTML in a text chunk."""
    picture = png()
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    chunk_data = b"Comment\x00" + html
    body = b"tEXt" + chunk_data
    text = len(chunk_data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    return picture[:33] + text + picture[33:]


def _jpeg_with_comment(comment: bytes) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 80)).save(out, "JPEG", comment=comment)
    return out.getvalue()


def _markup_in_compressed_pixels() -> bytes:
    """A camera JPEG whose compressed pixels hold "<svg", as large photographs do by
    chance: four bytes of the scan data replaced (it still decodes)."""
    data = camera_jpeg(seed=4)
    scan = data.find(b"\xff\xda")
    start = scan + 2 + int.from_bytes(data[scan + 2 : scan + 4], "big") + 200
    return data[:start] + b"<svG" + data[start + 4 :]


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("bomb.png", _bomb_png, "would expand to more pixels than a photograph can have"),
        ("bomb.png", lambda: _bomb_png(8000), "claims 8000 x 8000 pixels, more than the 50"),
        ("cut.jpg", _truncated_jpeg, "damaged or incomplete"),
        ("page.png", _polyglot, "also holds web page code"),
        ("note.jpg", lambda: _jpeg_with_comment(b"<script>x()</script>"), "web page code"),
        ("tail.jpg", lambda: camera_jpeg() + b"<html><body>hi</body></html>", "web page code"),
        ("drawing.svg", lambda: SVG, "is a drawing (SVG)"),
        ("photo.png", lambda: camera_jpeg(), "named .png but is a JPEG image"),
        ("notes.jpg", lambda: b"%PDF-1.7 not a photo", "is not a JPEG or PNG photograph"),
        ("empty.jpg", lambda: b"", "is empty"),
    ],
    ids=[
        "bomb",
        "bomb-within-pillow-limit",
        "truncated",
        "polyglot",
        "markup-in-a-jpeg-comment",
        "markup-after-the-jpeg-ends",
        "svg",
        "lying-extension",
        "other-format",
        "empty",
    ],
)
def test_a_bad_file_is_refused_with_its_reason_and_nothing_is_stored(
    app: Flask,
    examiner: FlaskClient,
    exam_id: str,
    engine: sa.Engine,
    name: str,
    make: Any,
    message: str,
) -> None:
    before = counts(engine)
    # A good photo alongside: all or nothing.
    response = post_photos(examiner, exam_id, [("good.jpg", camera_jpeg(seed=9)), (name, make())])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page, page[page.find("error-summary") :][:600]
    assert re.search(r'class="error" id="photos-error"', page)
    assert counts(engine) == before


def test_a_photo_larger_than_the_limit_is_refused(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    app.config["MEDIA_MAX_PHOTO_BYTES"] = 20_000
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("big.jpg", noisy_jpeg())])
    assert response.status_code == 422
    assert "; a photograph may be at most 20 kB" in response.get_data(as_text=True)
    assert counts(engine) == before


# Werkzeug's test client spools a large body to a temporary file, which it leaves
# open when the app refuses the body unread (as it must here).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_request_beyond_the_upload_limit_is_refused_not_a_500(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    app.config["MEDIA_MAX_UPLOAD_BYTES"] = 50_000
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("big.jpg", noisy_jpeg())])
    assert response.status_code == 413
    assert counts(engine) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_upload_limit_is_only_for_photographs(app: Flask, examiner: FlaskClient) -> None:
    """Other forms keep MAX_CONTENT_LENGTH."""
    token = csrf_token(examiner, "/account/tokens")
    response = examiner.post(
        "/account/tokens",
        data={"csrf_token": token, "name": "x" * (3 * 1024 * 1024), "days": "7"},
    )
    assert response.status_code == 413


def test_a_photo_she_declined_is_refused_with_her_words(
    app: Flask, examiner: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id, intimate_images=False, non_intimate_photos=False)
    exam_id = complete_exam(app, case.id)
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())])
    assert response.status_code == 422
    assert "She declined photographs of her injuries" in response.get_data(as_text=True)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())], intimate="yes")
    assert "She declined intimate images in her photo consent" in response.get_data(as_text=True)
    assert counts(engine) == before


def test_intimate_images_need_their_own_item(
    app: Flask, examiner: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id, intimate_images=False)
    exam_id = complete_exam(app, case.id)
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())], intimate="yes")
    assert response.status_code == 422
    assert "She declined intimate images" in response.get_data(as_text=True)
    assert counts(engine) == before
    # A non-intimate photo of the same exam is kept.
    assert post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())]).status_code == 302


def test_no_photo_without_her_photo_consent(
    app: Flask, examiner: FlaskClient, engine: sa.Engine
) -> None:
    case = open_case(app, "examiner")
    exam_id = complete_exam(app, case.id)
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())])
    assert response.status_code == 422
    assert "Her consent to photographs is not recorded" in response.get_data(as_text=True)
    assert counts(engine) == before


def test_a_photo_on_a_signed_exam_is_an_amendment_with_a_reason(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    call(app, "examiner", sign_off, exam_id=exam_id)
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())])
    assert response.status_code == 422
    assert "This exam is signed off and read-only" in response.get_data(as_text=True)
    assert counts(engine) == before
    response = post_photos(
        examiner,
        exam_id,
        [("a.jpg", camera_jpeg())],
        amendment_reason="The bruise had darkened at the follow-up visit.",
    )
    assert response.status_code == 302
    after = counts(engine)
    assert after["photos"] == before["photos"] + 1
    assert after["exam_amendments"] == before["exam_amendments"] + 1
    report = examiner.get(f"/exams/{exam_id}/report").get_data(as_text=True)
    assert "Photograph 1 added" in report
    assert "darkened at the follow-up" in report


def test_the_same_photo_twice_is_refused(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    jpeg = camera_jpeg(seed=5)
    assert post_photos(examiner, exam_id, [("a.jpg", jpeg)]).status_code == 302
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("again.jpg", jpeg)])
    assert response.status_code == 422
    assert "already in this exam&#39;s record" in response.get_data(as_text=True)
    assert counts(engine) == before


def test_details_are_checked_next_to_their_fields(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    before = counts(engine)
    response = post_photos(examiner, exam_id, [("a.jpg", camera_jpeg())], region="", site="")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose the body region." in page
    assert "Say exactly where." in page
    response = post_photos(examiner, exam_id, [], injury="injury:99")
    assert response.status_code == 422
    response = post_photos(examiner, exam_id, [])
    assert "Take or choose at least one photograph." in response.get_data(as_text=True)
    assert counts(engine) == before


def test_a_file_in_another_sites_exam_is_not_revealed(
    app: Flask, examiner: FlaskClient, exam_id: str, engine: sa.Engine
) -> None:
    """The duplicate check is the exam's: the same file in another site's exam
    is neither refused nor mentioned (it would tell that the file exists there)."""
    from tests.exam.helpers import start
    from tests.media.helpers import take

    jpeg = camera_jpeg(seed=81)
    south_case = open_case(app, "examiner.south")
    record_photo_consent(app, south_case.id, "examiner.south")
    south_exam = start(app, south_case.id, "examiner.south")
    take(app, south_exam, [("s.jpg", jpeg)], username="examiner.south")
    response = post_photos(examiner, exam_id, [("n.jpg", jpeg)])
    assert response.status_code == 302, response.get_data(as_text=True)
    assert len(photo_ids(app, exam_id)) == 1


def test_the_same_file_sent_twice_at_once_is_kept_once_never_a_500(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    import threading

    jpeg = camera_jpeg(seed=82)
    clients = []
    for _ in range(3):
        client = app.test_client()
        login(client, "examiner", PASSWORD)
        clients.append(client)
    statuses: list[int] = []
    barrier = threading.Barrier(len(clients))

    def send(client: FlaskClient) -> None:
        path = f"/exams/{exam_id}/photos"
        data = {
            "csrf_token": csrf_token(client, path),
            "view": "close-up",
            "region": "forearm",
            "site": "left forearm",
            "intimate": "no",
            "photos": [(io.BytesIO(jpeg), "same.jpg")],
        }
        barrier.wait()
        statuses.append(
            client.post(path, data=data, content_type="multipart/form-data").status_code
        )

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [302, 422, 422]
    assert len(photo_ids(app, exam_id)) == 1


def test_bytes_after_the_jpeg_end_stay_in_the_original_and_never_reach_a_screen(
    app: Flask, examiner: FlaskClient, exam_id: str
) -> None:
    """The original is evidence: kept byte-exact under its hash, whatever follows
    the image's end marker. What is shown is a new image made from the pixels, so
    those bytes never reach a screen."""
    import hashlib

    from PIL import Image

    from tests.media.helpers import photo_row, read

    trailing = b"\x00\x01TRAILING-BYTES-AFTER-THE-END-MARKER" * 20
    sent = camera_jpeg(seed=83) + trailing
    assert post_photos(examiner, exam_id, [("t.jpg", sent)]).status_code == 302
    (photo_id,) = photo_ids(app, exam_id)
    assert read(app, photo_id).data == sent
    assert photo_row(app, photo_id).sha256 == hashlib.sha256(sent).hexdigest()
    for variant in ("display", "thumbnail"):
        shown = examiner.get(f"/photos/{photo_id}/{variant}").get_data()
        assert b"TRAILING-BYTES" not in shown
        assert shown.endswith(b"\xff\xd9")  # nothing after the image's end
        Image.open(io.BytesIO(shown)).load()


def test_markup_by_chance_in_the_compressed_pixels_does_not_refuse_a_photograph(
    app: Flask, examiner: FlaskClient, exam_id: str
) -> None:
    """Only what a browser could read as a page counts: metadata, the gaps between
    blocks and whatever follows the image; never the compressed pixels."""
    data = _markup_in_compressed_pixels()
    assert b"<svG" in data
    response = post_photos(examiner, exam_id, [("large.jpg", data)])
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert len(photo_ids(app, exam_id)) == 1
