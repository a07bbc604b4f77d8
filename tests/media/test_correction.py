"""Correcting a photograph (promise 5 and 9): an intimate image saved as an ordinary
one is marked intimate, or a photo taken in error is retired, by an examiner of her
site with a reason; each is a new Media version (the old ones kept), shown with
who, when and why; from then on it is seen only as the new classification allows
and a retired photo is never served or released."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.exam.services import sign_off
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.store import ResourceStore
from clinic.fhir.validation import validate_resource
from clinic.media.models import Variant
from clinic.media.services import MediaRefused
from clinic.release.bundle import ReleaseUnavailable
from clinic.release.photos import released_original
from clinic.release.services import releasable
from tests.conftest import PASSWORD, World, bind_expert
from tests.consent.helpers import all_items, release_to
from tests.exam.helpers import call, complete_exam
from tests.helpers import csrf_token, login, open_case
from tests.media.helpers import camera_jpeg, counts, read, record_photo_consent, take
from tests.media.test_access import audit_reasons, signed_in
from tests.release.helpers import file

V_LABEL = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|V"
R_LABEL = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"


@dataclass
class Taken:
    case_id: str
    exam_id: str
    photo: str  # saved without the intimate box: it is an intimate image


@pytest.fixture
def taken(app: Flask) -> Taken:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    release_to(app, case.id, "RIVERPOL", all_items(app, "police-release/v1"))
    exam_id = complete_exam(app, case.id)
    (photo,) = take(app, exam_id, [("a.jpg", camera_jpeg(seed=61))])
    return Taken(case.id, exam_id, photo)


def correct(client: FlaskClient, photo_id: str, **fields: str) -> object:
    path = f"/photos/{photo_id}/correct"
    data = {"csrf_token": csrf_token(client, path)} | fields
    return client.post(path, data=data)


def released_media(app: Flask, case_id: str, world: World) -> set[str]:
    with app.app_context(), unit_of_work() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == "examiner"))
        found = releasable(
            uow,
            app.extensions["clinic.profiles"],
            actor=actor_for(user),
            case_id=case_id,
            force_id=world.organizations["RIVERPOL"],
        )
    return {v.logical_id for v in found if v.resource_type == "Media"}


def versions(app: Flask, photo_id: str) -> list[tuple[tuple[str, ...], dict[str, object]]]:
    with app.app_context(), unit_of_work() as uow:
        store = ResourceStore(uow.session, app.extensions["clinic.profiles"])
        current = store.current("Media", photo_id)
        assert current is not None
        found = [store.version("Media", photo_id, n) for n in range(1, current.version_id + 1)]
        return [(v.security_labels, v.content) for v in found if v is not None]


def test_an_intimate_image_saved_as_ordinary_is_marked_intimate(
    app: Flask, taken: Taken, world: World, engine: sa.Engine
) -> None:
    assert taken.photo in released_media(app, taken.case_id, world)
    examiner = signed_in(app, "examiner")
    assert examiner.get(f"/photos/{taken.photo}/display").status_code == 200
    response = correct(
        examiner, taken.photo, change="intimate", reason="Perineum in frame: intimate image."
    )
    assert response.status_code == 302, response.get_data(as_text=True)  # type: ignore[attr-defined]
    # A new version, very restricted, with who, when and why; the first one kept.
    (first_labels, _), (labels, content) = versions(app, taken.photo)
    assert R_LABEL in first_labels
    assert V_LABEL in labels
    assert content["note"][0]["text"] == "Perineum in frame: intimate image."  # type: ignore[index]
    assert content["note"][0]["authorString"] == "examiner"  # type: ignore[index]
    validate_resource(content, ProfileRegistry())
    # From now on: blurred until opened with a reason, and never released.
    assert examiner.get(f"/photos/{taken.photo}/display").status_code == 403
    assert (
        read(app, taken.photo, Variant.THUMBNAIL).data
        == read(app, taken.photo, Variant.BLURRED).data
    )
    assert taken.photo not in released_media(app, taken.case_id, world)
    page = examiner.get(f"/exams/{taken.exam_id}/photos").get_data(as_text=True)
    assert "intimate image, blurred" in page
    assert "marked as an intimate image. Why: Perineum in frame" in page
    assert any(
        "why: Perineum in frame: intimate image." in reasons
        for reasons in audit_reasons(engine, f"Media/{taken.photo}")
    )


def test_marked_not_intimate_it_is_restricted_again_and_releasable(
    app: Flask, taken: Taken, world: World
) -> None:
    (intimate,) = take(
        app, taken.exam_id, [("b.jpg", camera_jpeg(seed=62))], intimate=True, region="neck"
    )
    assert intimate not in released_media(app, taken.case_id, world)
    examiner = signed_in(app, "examiner")
    response = correct(examiner, intimate, change="not-intimate", reason="The neck, not intimate.")
    assert response.status_code == 302  # type: ignore[attr-defined]
    labels, _ = versions(app, intimate)[-1]
    assert V_LABEL not in labels
    assert R_LABEL in labels
    assert examiner.get(f"/photos/{intimate}/display").status_code == 200
    assert intimate in released_media(app, taken.case_id, world)


def test_a_retired_photo_is_shown_retired_and_never_served_or_released(
    app: Flask, taken: Taken, world: World
) -> None:
    call(app, "examiner", sign_off, exam_id=taken.exam_id)
    examiner = signed_in(app, "examiner")
    response = correct(examiner, taken.photo, change="retire", reason="Wrong patient's photo.")
    # On a signed exam the reason is the amendment's reason.
    assert response.status_code == 302, response.get_data(as_text=True)  # type: ignore[attr-defined]
    (_, first), (_, content) = versions(app, taken.photo)
    assert first["status"] == "completed"
    assert content["status"] == "entered-in-error"
    assert taken.photo not in released_media(app, taken.case_id, world)
    for variant in ("display", "original"):
        assert examiner.get(f"/photos/{taken.photo}/{variant}").status_code == 410
    assert (
        examiner.get(f"/photos/{taken.photo}/thumbnail").get_data()
        == read(app, taken.photo, Variant.BLURRED).data
    )
    page = examiner.get(f"/exams/{taken.exam_id}/photos").get_data(as_text=True)
    assert "retired: entered in error" in page
    assert "Retired by examiner" in page
    assert "Why: Wrong patient&#39;s photo." in page
    assert f"/photos/{taken.photo}/correct" not in page
    report = examiner.get(f"/exams/{taken.exam_id}/report").get_data(as_text=True)
    assert "Photograph 1 retired: entered in error" in report
    assert "Wrong patient&#39;s photo." in report
    # Retiring twice, or correcting a retired photo: refused.
    assert correct(examiner, taken.photo, change="intimate", reason="x").status_code == 410  # type: ignore[attr-defined]
    # Its original stays sealed, exactly as taken (evidence).
    with app.app_context(), unit_of_work() as uow:
        from clinic.media.models import Photo
        from clinic.media.vault import DatabasePhotoStore, open_content

        photo = uow.session.get(Photo, taken.photo)
        assert photo is not None
        _, data = open_content(
            DatabasePhotoStore(uow.session), app.extensions["clinic.media_keys"], photo, "original"
        )
        assert hashlib.sha256(data).hexdigest() == photo.sha256


def test_a_retired_photo_in_an_approved_release_is_not_downloaded(
    app: Flask, taken: Taken, world: World, client: FlaskClient
) -> None:
    from tests.media.test_release import _approve

    with app.app_context(), unit_of_work() as uow:
        case_reference = uow.session.execute(
            sa.text("SELECT reference FROM cases WHERE id = :id"), {"id": taken.case_id}
        ).scalar_one()
    call(app, "examiner", sign_off, exam_id=taken.exam_id)
    request_id = file(
        client, world["officer"].token, case_reference, requested=("non-intimate-photos",)
    ).get_json()["id"]
    _approve(app, request_id)
    officer = signed_in(app, "officer")
    assert officer.get(f"/releases/{request_id}/photos/{taken.photo}").status_code == 200
    examiner = signed_in(app, "examiner")
    assert (
        correct(examiner, taken.photo, change="retire", reason="Not her photograph.").status_code  # type: ignore[attr-defined]
        == 302
    )
    assert officer.get(f"/releases/{request_id}/photos/{taken.photo}").status_code != 200
    with app.app_context(), unit_of_work() as uow:
        officer_user = uow.session.scalar(sa.select(User).where(User.username == "officer"))
        with pytest.raises(ReleaseUnavailable, match="entered in error"):
            released_original(
                uow,
                app.extensions["clinic.profiles"],
                app.extensions["clinic.media_keys"],
                actor=actor_for(officer_user),
                request_id=request_id,
                photo_id=taken.photo,
            )


def test_the_medical_expert_no_longer_sees_a_retired_photo(app: Flask, taken: Taken) -> None:
    (intimate,) = take(
        app, taken.exam_id, [("e.jpg", camera_jpeg(seed=64))], intimate=True, region="other"
    )
    bind_expert(app, taken.case_id)
    expert = signed_in(app, "expert")
    assert intimate in expert.get("/expert/photos").get_data(as_text=True)
    examiner = signed_in(app, "examiner")
    assert correct(examiner, intimate, change="retire", reason="Wrong exam.").status_code == 302  # type: ignore[attr-defined]
    assert intimate not in expert.get("/expert/photos").get_data(as_text=True)
    assert expert.get(f"/photos/{intimate}/thumbnail").status_code == 404


def test_a_correction_needs_a_reason_and_an_examiner_of_her_site(
    app: Flask, taken: Taken, engine: sa.Engine
) -> None:
    examiner = signed_in(app, "examiner")
    before = counts(engine)
    response = correct(examiner, taken.photo, change="intimate", reason="  ")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Say why you are correcting this photograph" in response.get_data(as_text=True)  # type: ignore[attr-defined]
    response = correct(examiner, taken.photo, reason="no choice made")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Choose what to correct." in response.get_data(as_text=True)  # type: ignore[attr-defined]
    # Not intimate already: that choice is not even offered.
    response = correct(examiner, taken.photo, change="not-intimate", reason="x")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert counts(engine) == before
    south = signed_in(app, "examiner.south")
    assert south.get(f"/photos/{taken.photo}/correct").status_code == 404
    assert correct(south, taken.photo, change="retire", reason="x").status_code == 404  # type: ignore[attr-defined]
    for username in ("counsellor", "custodian", "auditor", "admin"):
        other = signed_in(app, username)
        assert other.get(f"/photos/{taken.photo}/correct").status_code == 403
    assert counts(engine) == before


def test_taking_a_photo_asks_whether_it_is_intimate_every_time(
    app: Flask, taken: Taken, engine: sa.Engine
) -> None:
    client = app.test_client()
    login(client, "examiner", PASSWORD)
    path = f"/exams/{taken.exam_id}/photos"
    before = counts(engine)
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "view": "close-up",
            "region": "forearm",
            "site": "left forearm",
            "photos": [(io.BytesIO(camera_jpeg(seed=63)), "c.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Say whether these are intimate images" in response.get_data(as_text=True)
    assert counts(engine) == before


def test_a_photo_retired_for_a_wrong_site_is_recorded_again_from_the_same_file(
    app: Flask, taken: Taken
) -> None:
    """The screen says: retire a photo with a wrong body site and take it again. The
    camera file is the only original, so the same bytes must be accepted then; while
    the first is in use they are still refused as a duplicate."""
    same = camera_jpeg(seed=71)  # bytes kept: the ICC profile dates each call
    (first_id,) = take(app, taken.exam_id, [("c.jpg", same)], site="left forearm")
    with pytest.raises(MediaRefused, match=r"c\.jpg is already in this exam's record"):
        take(app, taken.exam_id, [("c.jpg", same)])
    examiner = signed_in(app, "examiner")
    response = correct(
        examiner, first_id, change="retire", reason="Wrong body site: the right forearm."
    )
    assert response.status_code == 302, response.get_data(as_text=True)  # type: ignore[attr-defined]
    (again,) = take(app, taken.exam_id, [("c.jpg", same)], site="right forearm")
    assert again != first_id
    with app.app_context(), unit_of_work() as uow:
        from clinic.media.models import Photo

        first, second = uow.session.get(Photo, first_id), uow.session.get(Photo, again)
        assert first is not None
        assert second is not None
        assert first.retired_at is not None
        assert second.retired_at is None
        assert first.sha256 == second.sha256 == hashlib.sha256(same).hexdigest()
    # Now in use again: the file is refused a third time.
    with pytest.raises(MediaRefused, match="already in this exam's record"):
        take(app, taken.exam_id, [("c.jpg", same)])


def test_the_migration_marks_photos_retired_before_it_as_retired(
    app: Flask, taken: Taken, engine: sa.Engine
) -> None:
    """A photo retired before `photos.retired_at` existed gets its retirement time
    from its Media (entered-in-error) when the database is upgraded."""
    from alembic import command
    from alembic.config import Config

    from clinic.core.schema import MIGRATIONS

    examiner = signed_in(app, "examiner")
    response = correct(examiner, taken.photo, change="retire", reason="Taken in error.")
    assert response.status_code == 302  # type: ignore[attr-defined]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    command.downgrade(config, "0020-1")  # before the column
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, retired_at FROM photos WHERE exam_id = :exam"),
            {"exam": taken.exam_id},
        ).all()
    assert [(photo_id, at is not None) for photo_id, at in rows] == [(taken.photo, True)]
