"""Real photographs made with Pillow (with the metadata cameras write), her photo
consent, and taking photos through the service as an examiner does."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import Flask

from clinic.accounts.models import User
from clinic.accounts.services import actor_for
from clinic.cli import unit_of_work
from clinic.media import services
from clinic.media.intake import Limits
from clinic.media.models import Photo, Variant

EXPERT = "Dr Ada Lovelace"
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.0N"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def camera_jpeg(
    width: int = 640,
    height: int = 480,
    *,
    orientation: int = 6,
    colour: tuple[int, int, int] = (180, 120, 100),
    seed: int = 0,
) -> bytes:
    """A JPEG as a phone camera writes it: EXIF with GPS position, orientation,
    make and model, an ICC profile, an XMP packet and a comment."""
    from PIL import Image, ImageCms, ImageDraw

    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 4, height // 4, width // 2, height // 2), fill=(90, 40, 120))
    draw.text((10, 10), f"photo {seed}", fill=(0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x8825] = {  # GPS IFD: somewhere in London
        1: "N",
        2: (51.0, 30.0, 26.0),
        3: "W",
        4: (0.0, 7.0, 39.0),
    }
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=icc, comment=b"taken at home", xmp=XMP)
    return out.getvalue()


def noisy_jpeg(width: int = 800, height: int = 600) -> bytes:
    """A JPEG that compresses badly (random pixels): large for its size."""
    import os

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        out, "JPEG", quality=95
    )
    return out.getvalue()


def png(width: int = 300, height: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (20, 200, 20, 128)).save(out, "PNG")
    return out.getvalue()


def record_photo_consent(
    app: Flask, case_id: str, username: str = "examiner", **agreed: bool
) -> str:
    """Her photo consent: every item agreed (the expert named) unless told otherwise
    (`intimate_images=False`)."""
    from tests.consent.helpers import all_items, record

    answers = all_items(app, "photo-documentation/v1")
    answers |= {item.replace("_", "-"): value for item, value in agreed.items()}
    names = {"intimate-view-expert": EXPERT} if answers.get("intimate-view-expert") else {}
    return record(app, case_id, "photo-documentation/v1", answers, username, person_names=names)


def vault(app: Flask, uow: Any) -> services.Vault:
    return services.vault_for(
        uow,
        app.extensions["clinic.media_keys"],
        Limits(app.config["MEDIA_MAX_PHOTO_BYTES"], app.config["MEDIA_MAX_PIXELS"]),
    )


def _actor(uow: Any, username: str) -> Any:
    user = uow.session.scalar(sa.select(User).where(User.username == username))
    return actor_for(user)


def take(
    app: Flask,
    exam_id: str,
    files: list[tuple[str, bytes]] | None = None,
    *,
    username: str = "examiner",
    reason: str | None = None,
    **details: Any,
) -> list[str]:
    """Photos taken through the service; returns their ids."""
    fields: dict[str, Any] = {
        "view": "close-up",
        "region": "forearm",
        "site": "left forearm, inner side",
        "scale_in_frame": True,
        "intimate": False,
    } | details
    uploads = [services.Upload(name, data) for name, data in (files or [("a.jpg", camera_jpeg())])]
    with app.app_context(), unit_of_work() as uow:
        taken = services.take_photos(
            uow,
            app.extensions["clinic.profiles"],
            vault(app, uow),
            actor=_actor(uow, username),
            exam_id=exam_id,
            uploads=uploads,
            details=services.PhotoDetails(**fields),
            reason=reason,
        )
        return [photo.id for photo in taken]


def read(
    app: Flask,
    photo_id: str,
    variant: Variant = Variant.ORIGINAL,
    *,
    username: str = "examiner",
    reason: str | None = None,
) -> services.PhotoBytes:
    with app.app_context(), unit_of_work() as uow:
        found = services.read_photo(
            uow,
            app.extensions["clinic.profiles"],
            app.extensions["clinic.media_keys"],
            actor=_actor(uow, username),
            photo_id=photo_id,
            variant=variant,
            reason=reason,
        )
        uow.session.expunge(found.photo)
        return found


def counts(engine: sa.Engine) -> dict[str, int]:
    """What a refused photo must not have left behind."""
    with engine.connect() as connection:
        return {
            table: int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)
            for table in ("photos", "photo_contents", "exam_entries", "exam_amendments")
        } | {
            # The custody log (a refusal is audited: the audit log grows, rightly).
            "custody_log": int(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM log_nodes WHERE log_name = 'custody'"
                ).scalar()
                or 0
            ),
            "media": int(
                connection.exec_driver_sql(
                    "SELECT count(*) FROM fhir_resource_versions WHERE resource_type = 'Media'"
                ).scalar()
                or 0
            ),
        }


def photo_row(app: Flask, photo_id: str) -> Photo:
    with app.app_context(), unit_of_work() as uow:
        photo = uow.session.get(Photo, photo_id)
        assert photo is not None
        uow.session.expunge(photo)
        return photo
