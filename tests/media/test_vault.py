"""The vault: originals byte-exact and encrypted, their SHA-256 on the custody log,
the media key in the instance folder, rotation re-wraps without re-encrypting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo

from clinic.cli import unit_of_work
from clinic.evidence.services import verify_custody_log
from clinic.fhir.profiles import ProfileRegistry
from clinic.fhir.validation import validate_resource
from clinic.media.models import Photo, PhotoContent, Variant
from clinic.media.services import MediaRefused
from clinic.media.vault import Keyring, VaultError
from tests.exam.helpers import complete_exam
from tests.helpers import open_case
from tests.media.helpers import camera_jpeg, photo_row, png, read, record_photo_consent, take


@pytest.fixture
def exam_id(app: Flask) -> str:
    case = open_case(app, "examiner")
    record_photo_consent(app, case.id)
    return complete_exam(app, case.id)


def test_the_original_decrypts_to_the_exact_bytes_taken(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    jpeg, picture = camera_jpeg(seed=1), png()
    first, second = take(app, exam_id, [("IMG_0001.JPG", jpeg), ("scan.png", picture)])
    assert read(app, first).data == jpeg
    assert read(app, second).data == picture
    assert read(app, second).content_type == "image/png"
    with engine.connect() as connection:
        stored = connection.execute(sa.select(PhotoContent.__table__)).all()
    # Four variants of each, none readable without the key.
    assert len(stored) == 8
    for row in stored:
        assert jpeg[:64] not in row.ciphertext
        assert picture[:64] not in row.ciphertext
    row = photo_row(app, first)
    assert row.sha256 == hashlib.sha256(jpeg).hexdigest()
    assert row.byte_size == len(jpeg)


def test_derived_copies_name_the_original_they_come_from(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    (photo_id,) = take(app, exam_id)
    original = photo_row(app, photo_id).sha256
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(PhotoContent.variant, PhotoContent.derived_from_sha256).where(
                PhotoContent.photo_id == photo_id
            )
        ).all()
    assert dict(rows) == {
        Variant.ORIGINAL: None,
        Variant.DISPLAY: original,
        Variant.THUMBNAIL: original,
        Variant.BLURRED: original,
    }


def test_intake_is_on_the_custody_log_and_the_log_verifies(app: Flask, exam_id: str) -> None:
    (photo_id,) = take(app, exam_id)
    row = photo_row(app, photo_id)
    fields = json.loads(row.leaf())
    assert fields["sha256"] == row.sha256
    assert fields["action"] == "photographed"
    # Nothing clinical in the log: not the body site, not whether it is intimate.
    assert "forearm" not in row.leaf().decode()
    assert "intimate" not in fields
    with app.app_context(), unit_of_work() as uow:
        report = verify_custody_log(uow.session)
    assert report.is_valid, report
    assert report.size == 1


def test_the_media_record_validates_against_its_profile(app: Flask, exam_id: str) -> None:
    from clinic.fhir.store import ResourceStore

    (photo_id,) = take(app, exam_id, intimate=False)
    with app.app_context(), unit_of_work() as uow:
        media = ResourceStore(uow.session, app.extensions["clinic.profiles"]).current(
            "Media", photo_id
        )
        assert media is not None
        content = media.content
    validate_resource(content, ProfileRegistry())
    assert content["content"]["size"] == photo_row(app, photo_id).byte_size
    assert content["encounter"] == {"reference": f"Encounter/{exam_id}"}
    assert "data" not in content["content"]


def test_the_media_key_is_created_once_private_and_outside_the_database(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    take(app, exam_id)
    key_file = Path(app.instance_path) / "keys" / "media.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = key_file.read_text().split()[2]
    with engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM photos"))
    assert secret not in dump


def test_a_lost_media_key_is_lost_photos_and_says_so(app: Flask, exam_id: str) -> None:
    (photo_id,) = take(app, exam_id)
    (Path(app.instance_path) / "keys" / "media.key").unlink()
    with pytest.raises(MediaRefused, match="media key"):
        read(app, photo_id)
    # No new key is made while photos exist: it could never open them.
    with pytest.raises(MediaRefused, match="media key is missing"):
        take(app, exam_id, [("b.jpg", camera_jpeg(seed=2))])
    assert not (Path(app.instance_path) / "keys" / "media.key").exists()


def test_rotation_rewraps_data_keys_without_reencrypting_photos(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    from clinic.cli import cli

    jpeg = camera_jpeg(seed=3)
    (photo_id,) = take(app, exam_id, [("c.jpg", jpeg)])
    before = photo_row(app, photo_id)
    with engine.connect() as connection:
        ciphertext = dict(
            connection.execute(
                sa.select(PhotoContent.variant, PhotoContent.ciphertext).where(
                    PhotoContent.photo_id == photo_id
                )
            ).all()
        )
    result = CliRunner().invoke(
        cli, ["media-key", "rotate"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert "1 photograph" in result.output
    after = photo_row(app, photo_id)
    assert after.key_id != before.key_id
    assert after.wrapped_key != before.wrapped_key
    with engine.connect() as connection:
        assert ciphertext == dict(
            connection.execute(
                sa.select(PhotoContent.variant, PhotoContent.ciphertext).where(
                    PhotoContent.photo_id == photo_id
                )
            ).all()
        )
    assert read(app, photo_id).data == jpeg
    keys = Keyring(Path(app.instance_path) / "keys")
    assert keys.current().key_id == after.key_id
    # The old key is kept, retired, for backups taken before the rotation.
    assert keys.get(before.key_id).key_id == before.key_id
    with app.app_context(), unit_of_work() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Photo)) == 1


def test_a_wrong_key_does_not_open_a_photo(app: Flask, exam_id: str) -> None:
    (photo_id,) = take(app, exam_id)
    keys = Path(app.instance_path) / "keys"
    (keys / "media.key").unlink()
    Keyring(keys).create()
    with pytest.raises((MediaRefused, VaultError)):
        read(app, photo_id)


def _example() -> dict[str, object]:
    from clinic.fhir.profiles import PROFILES_DIR

    loaded: dict[str, object] = json.loads(
        (PROFILES_DIR / "examples/Media-example-photo.json").read_text()
    )
    return loaded


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["content"].update(data="AAAA"), "Media.content.data"),
        (lambda d: d["content"].update(contentType="image/svg+xml"), "fc-photo-3"),
        (lambda d: d["content"].pop("extension"), "fc-photo-1"),
        (lambda d: d.pop("extension"), "fc-photo-2"),
        (lambda d: d["view"]["coding"][0].update(code="selfie"), "photo-view"),
        (lambda d: d["bodySite"]["coding"][0].update(code="soul"), "body-region"),
        (lambda d: d.update(subject={"reference": "Group/1"}), "fc-photo-4"),
        (lambda d: d["meta"].update(security=[]), "fc-sec-1"),
    ],
    ids=["data", "svg", "no-sha256", "no-scale", "view", "site", "subject", "labels"],
)
def test_fc_photo_rules_are_enforced(mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    from clinic.fhir.outcome import FhirError

    example = _example()
    mutate(example)
    with pytest.raises(FhirError) as refused:
        validate_resource(example, ProfileRegistry())
    assert fragment in json.dumps([i.diagnostics for i in refused.value.issues])


def test_every_audit_event_of_photo_activity_validates(app: Flask, exam_id: str) -> None:
    from clinic.audit.fhir import audit_event_resource
    from clinic.audit.models import AuditEntry

    (photo_id,) = take(app, exam_id, intimate=True, region="other", site="x")
    read(app, photo_id, Variant.DISPLAY, reason="checking the record")
    registry = app.extensions["clinic.profiles"]
    with app.app_context(), unit_of_work() as uow:
        entries = uow.session.scalars(sa.select(AuditEntry)).all()
        assert any(
            "intimate image opened: checking the record" in entry.reasons for entry in entries
        )
        for entry in entries:
            validate_resource(audit_event_resource(entry), registry)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("", "media.key is empty"),
        ("not a key at all", "media.key is not a media key file"),
        ("clinic-media-key-v1 0123456789abcdef %%%not-base64%%%", "its key is not readable"),
        ("clinic-media-key-v1 0123456789abcdef QUJD", "its key does not match its id"),
    ],
    ids=["empty", "garbage", "bad-base64", "wrong-id"],
)
def test_a_damaged_media_key_is_said_plainly_never_a_500(
    app: Flask, exam_id: str, damage: str, said: str
) -> None:
    from tests.media.test_access import signed_in
    from tests.media.test_capture import post_photos

    (photo_id,) = take(app, exam_id)
    (Path(app.instance_path) / "keys" / "media.key").write_text(damage)
    examiner = signed_in(app, "examiner")
    gallery = examiner.get(f"/exams/{exam_id}/photos")
    assert gallery.status_code == 200
    assert "Photographs cannot be stored or read" in gallery.get_data(as_text=True)
    assert said in gallery.get_data(as_text=True)
    shown = examiner.get(f"/photos/{photo_id}/display")
    assert shown.status_code == 503
    assert "Photographs cannot be read" in shown.get_data(as_text=True)
    assert said in shown.get_data(as_text=True)
    taken = post_photos(examiner, exam_id, [("b.jpg", camera_jpeg(seed=9))])
    assert taken.status_code == 422
    assert said in taken.get_data(as_text=True)
    from clinic.cli import cli

    status = CliRunner().invoke(
        cli, ["media-key", "status"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert status.exit_code == 1
    assert said in status.output
    assert status.exception is None or isinstance(status.exception, SystemExit)
    rotated = CliRunner().invoke(
        cli, ["media-key", "rotate"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert rotated.exit_code == 1
    assert said in rotated.output


def test_a_variant_whose_content_type_was_changed_does_not_open(
    app: Flask, exam_id: str, engine: sa.Engine
) -> None:
    """The content type is bound into the sealed bytes (format 2): a row changed to
    claim another type is refused, never served as something else."""
    (photo_id,) = take(app, exam_id)
    with engine.begin() as connection:
        assert {
            row.format
            for row in connection.execute(
                sa.select(PhotoContent.format).where(PhotoContent.photo_id == photo_id)
            )
        } == {2}
        connection.execute(
            sa.update(PhotoContent)
            .where(PhotoContent.photo_id == photo_id, PhotoContent.variant == "display")
            .values(content_type="image/png")
        )
    with pytest.raises(MediaRefused, match="does not open"):
        read(app, photo_id, Variant.DISPLAY)


def test_photos_sealed_in_the_first_format_still_open(app: Flask, exam_id: str) -> None:
    from clinic.media.vault import (
        FORMAT_PHOTO_VARIANT,
        DatabasePhotoStore,
        PlainContent,
        seal,
        unwrap,
    )

    (photo_id,) = take(app, exam_id)
    keys = Keyring(Path(app.instance_path) / "keys")
    with app.app_context(), unit_of_work() as uow:
        photo = uow.session.get(Photo, photo_id)
        assert photo is not None
        # The display copy sealed again as before 0014 (format 1), same data key.
        data_key = unwrap(keys.get(photo.key_id), photo.id, photo.wrapped_key)
        uow.session.execute(
            sa.delete(PhotoContent).where(
                PhotoContent.photo_id == photo_id, PhotoContent.variant == "display"
            )
        )
        seal(
            DatabasePhotoStore(uow.session),
            data_key,
            photo_id,
            [PlainContent("display", "image/jpeg", b"an old display copy", photo.sha256)],
            FORMAT_PHOTO_VARIANT,
        )
    assert read(app, photo_id, Variant.DISPLAY).data == b"an old display copy"
