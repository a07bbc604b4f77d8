"""Checks for images people draw or upload, before anything is kept."""

from __future__ import annotations

import io
import warnings

from clinic.i18n.sentences import Sentence, sentence

MAX_SIGNATURE_BYTES = 200_000
MAX_SIGNATURE_SIDE = 2000


class ImageRefused(ValueError):
    """An image that is not what it claims, or too large; the message says which, as
    a sentence the screen says in its reader's language."""

    def __init__(self, message: Sentence) -> None:
        super().__init__(message)
        self.message = message


def check_signature_png(png: bytes | None) -> tuple[int, int]:
    """A signature drawn on screen: a real, reasonably sized PNG (Pillow, with its
    decompression-bomb guard). Returns its width and height."""
    from PIL import Image

    if not png:
        raise ImageRefused(sentence("No signature was drawn."))
    if len(png) > MAX_SIGNATURE_BYTES:
        raise ImageRefused(sentence("The signature image is too large."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                image.verify()
                width, height = image.size
    except Exception as error:
        raise ImageRefused(sentence("The signature is not a PNG image.")) from error
    if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
        raise ImageRefused(sentence("The signature image has an unexpected size."))
    return width, height


def png_from_data_url(value: str | None) -> bytes | None:
    """The signature pad posts a data: URL; anything else is treated as no signature."""
    import base64
    import binascii

    prefix = "data:image/png;base64,"
    if not value or not value.startswith(prefix):
        return None
    try:
        return base64.b64decode(value[len(prefix) :], validate=True)
    except binascii.Error:
        return None
