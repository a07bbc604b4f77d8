"""During the exam, on a tablet, an examiner takes photographs (real camera JPEGs
with GPS position and a sideways orientation), links one to an injury, sees them
in the gallery without any hidden detail, takes an intimate image that stays
blurred until she opens it with a reason. Every page passes axe-core."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask

from clinic.cli import unit_of_work
from clinic.media.models import Photo
from clinic.media.services import slot_number
from tests.browser.conftest import assert_accessible
from tests.browser.test_evidence_journey import sign_in
from tests.conftest import World
from tests.exam.helpers import complete_exam
from tests.helpers import open_case
from tests.media.helpers import camera_jpeg, read, record_photo_consent

pytestmark = pytest.mark.browser


def _photos(app: Flask, exam_id: str) -> list[Photo]:
    with app.app_context(), unit_of_work() as uow:
        found = sorted(
            uow.session.scalars(sa.select(Photo).where(Photo.exam_id == exam_id)),
            key=slot_number,
        )
        uow.session.expunge_all()
        return found


def test_photographs_taken_during_the_exam_on_a_tablet(
    page, live_server: str, app: Flask, world: World
) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    exam_id = complete_exam(app, case.id)  # one injury recorded
    first, second = camera_jpeg(1024, 768, seed=31), camera_jpeg(1024, 768, seed=32)

    sign_in(page, live_server, "examiner")
    page.goto(f"{live_server}/exams/{exam_id}")
    page.get_by_role("navigation", name="Exam steps").get_by_role(
        "link", name="Photographs"
    ).click()
    page.get_by_role("heading", name="Photographs", exact=True).wait_for()
    assert_accessible(page)
    camera = page.get_by_label("Photographs", exact=True)
    assert camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("multiple") is not None
    camera.set_input_files(
        [
            {"name": "IMG_0031.JPG", "mimeType": "image/jpeg", "buffer": first},
            {"name": "IMG_0032.JPG", "mimeType": "image/jpeg", "buffer": second},
        ]
    )
    page.get_by_role("group", name="View").get_by_label(
        "Close-up (the injury, with a scale)"
    ).check()
    page.get_by_label("Body region").select_option("forearm")
    page.get_by_label("Exactly where (side and place)").fill("left forearm, inner side")
    page.get_by_label("Injury shown (optional)").select_option("injury:1")
    page.get_by_label("A scale is in the frame").check()
    intimate_question = "Are these intimate images (genital or anal area)?"
    page.get_by_role("group", name=intimate_question).get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Save photographs").click()
    page.get_by_text("2 photographs saved.").wait_for()
    assert_accessible(page)
    gallery = page.get_by_role("list", name="Taken in this exam")
    assert gallery.get_by_role("img").count() == 2
    assert "injury 1" in gallery.text_content()

    # What the gallery serves carries nothing the camera wrote, and is upright.
    plain = _photos(app, exam_id)[0]
    shown = page.request.get(f"{live_server}/photos/{plain.id}/display")
    assert shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in shown.headers["cache-control"]
    image = Image.open(io.BytesIO(shown.body()))
    assert not image.getexif()
    assert "icc_profile" not in image.info
    assert "xmp" not in image.info
    assert image.height > image.width  # orientation 6 applied
    # The original is kept exactly as taken (GPS and all), encrypted.
    assert read(app, plain.id).data == first

    # An intimate image: taken with her consent, shown blurred until opened on purpose.
    page.get_by_label("Photographs", exact=True).set_input_files(
        [{"name": "IMG_0040.JPG", "mimeType": "image/jpeg", "buffer": camera_jpeg(seed=40)}]
    )
    page.get_by_role("group", name="View").get_by_label(
        "Overview (orientation: where on the body)"
    ).check()
    page.get_by_label("Body region").select_option("other")
    page.get_by_label("Exactly where (side and place)").fill("perineum")
    page.get_by_role("group", name=intimate_question).get_by_label("Yes: intimate images").check()
    page.get_by_role("button", name="Save photographs").click()
    page.get_by_text("Photograph saved.").wait_for()
    assert_accessible(page)
    blurred = page.get_by_role("img", name="Photograph 3, intimate image, blurred")
    blurred.wait_for()
    intimate = _photos(app, exam_id)[2]
    assert blurred.get_attribute("src") == f"/photos/{intimate.id}/thumbnail"
    assert page.locator(f'a[href="/photos/{intimate.id}/display"]').count() == 0
    page.get_by_label("Why are you opening photograph 3?").fill(
        "Peer review of the anogenital findings"
    )
    page.get_by_role("button", name="Open photograph 3").click()
    page.get_by_role("heading", name="Photograph 3 · intimate image").wait_for()
    assert_accessible(page)
    assert "Opened for: Peer review of the anogenital findings" in page.text_content("main")
    opened = page.get_by_role("img", name="Photograph 3, intimate image, opened")
    assert (opened.get_attribute("src") or "").startswith("data:image/jpeg;base64,")

    # Photograph 2 was of the wrong place: she retires it, saying why.
    page.goto(f"{live_server}/exams/{exam_id}/photos")
    page.get_by_role("link", name="Correct photograph 2").click()
    page.get_by_role("heading", name="Correct photograph 2").wait_for()
    assert_accessible(page)
    page.get_by_role("group", name="What is wrong with this photograph?").get_by_label(
        "It was taken in error", exact=False
    ).check()
    page.get_by_label("Why (kept with the photograph").fill("Right forearm, not the left.")
    page.get_by_role("button", name="Save the correction").click()
    page.get_by_text("Photograph 2 is retired as entered in error.").wait_for()
    assert_accessible(page)
    assert "Why: Right forearm, not the left." in page.text_content("main")
    page.get_by_role("img", name="Photograph 2, retired, blurred").wait_for()
