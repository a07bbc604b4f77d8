"""What a photograph must be before anything is kept, and the copies made of it.

Only JPEG and PNG are accepted, judged by their content, never by the name or the
type the browser claims: a name whose extension says otherwise, a drawing (SVG),
a file that is also a web page (a PNG/HTML polyglot), an image too large, larger
in pixels than a photograph can be (a decompression bomb) or cut short is refused
with a message that says which. Pillow decodes every block of the file (a JPEG at
the smallest of its own scales that is still larger than the display copy), so a
damaged file is found now and not when someone needs the photo.

The display copy and thumbnail are new images built from the pixels alone:
oriented as the camera said (EXIF orientation), resized, re-encoded, with no
metadata block at all (no EXIF, so no GPS position, no XMP, ICC profile or
comment).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from clinic.core.errors import DomainError
from clinic.i18n import N_
from clinic.i18n.sentences import Word, sentence

if TYPE_CHECKING:
    from PIL import Image as PILImage

# format -> (content type, extensions a file of it may be named with)
ACCEPTED = {
    "JPEG": ("image/jpeg", frozenset({".jpg", ".jpeg", ".jpe"})),
    "PNG": ("image/png", frozenset({".png"})),
}
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))
# Markup that has no business in a photograph: a file holding it is also a page a
# browser could run, whatever else it is. One pass over the bytes, in any letter
# case, without a lower-cased copy of them.
_MARKUP = re.compile(
    rb"<(?:html|script|body|!doctype|svg|iframe|object|embed)|javascript:", re.IGNORECASE
)
# A JPEG marker inside the entropy-coded data of a scan: 0xFF followed by anything
# but a stuffed zero or a restart marker (0xD0-0xD7).
_NEXT_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xff]")
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
DISPLAY_SIDE = 1600
THUMBNAIL_SIDE = 320
_BLUR_SIDE = 12
DISPLAY_TYPE = "image/jpeg"


class PhotoRefused(DomainError):
    """A file that is not a photograph we keep; the message says what is wrong."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Copies:
    display: bytes
    thumbnail: bytes
    blurred: bytes
    width: int  # of the display copy
    height: int


@dataclass(frozen=True)
class CheckedPhoto:
    """A photograph as checked: its bytes exactly as received, what they are, and
    the copies made from its pixels. The decoded pixels themselves are not kept:
    each file is decoded once, its copies made, and its pixels let go before the
    next file of the same upload is decoded."""

    data: bytes
    format: str
    content_type: str
    width: int
    height: int
    sha256: str
    copies: Copies


def _megabytes(size: int) -> str:
    megabytes = size / 1_000_000
    return f"{megabytes:.0f} MB" if megabytes >= 1 else f"{size / 1000:.0f} kB"


def check_photo(data: bytes, filename: str | None, limits: Limits) -> CheckedPhoto:
    """Refuse anything that is not a whole JPEG or PNG photograph (see module)."""
    from PIL import Image

    name: Any = PurePath(filename or "").name or Word(N_("The file"))
    if not data:
        raise PhotoRefused(sentence("%(name)s is empty.", name=name))
    if len(data) > limits.max_bytes:
        raise PhotoRefused(
            sentence(
                "%(name)s is %(size)s; a photograph may be at most %(most)s.",
                name=name,
                size=_megabytes(len(data)),
                most=_megabytes(limits.max_bytes),
            )
        )
    found = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    head = data[:512].lstrip().lower()
    if found is None:
        if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
            raise PhotoRefused(
                sentence(
                    "%(name)s is a drawing (SVG), not a photograph. Only JPEG and PNG "
                    "photographs are kept.",
                    name=name,
                )
            )
        raise PhotoRefused(
            sentence("%(name)s is not a JPEG or PNG photograph; nothing else is kept.", name=name)
        )
    content_type, extensions = ACCEPTED[found]
    suffix = PurePath(filename or "").suffix.lower()
    if suffix and suffix not in extensions:
        raise PhotoRefused(
            sentence(
                "%(name)s is named %(suffix)s but is a %(kind)s image: a file whose name does "
                "not say what it is is not kept. Rename it or take the photograph again.",
                name=name,
                suffix=suffix,
                kind=found,
            )
        )
    if _markup_outside_pixels(data, found):
        raise PhotoRefused(
            sentence(
                "%(name)s is a %(kind)s image that also holds web page code; such a file is "
                "not kept.",
                name=name,
                kind=found,
            )
        )
    if found == "PNG" and not data.endswith(b"IEND\xaeB`\x82"):
        raise PhotoRefused(
            sentence(
                "%(name)s does not end where a PNG image ends (it is cut short, or carries "
                "something else after the image); it is not kept.",
                name=name,
            )
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[found])
            width, height = image.size
            if width * height > limits.max_pixels:
                raise PhotoRefused(
                    sentence(
                        "%(name)s claims %(width)s x %(height)s pixels, more than the "
                        "%(most)s megapixels a photograph here may have; it is not kept.",
                        name=name,
                        width=width,
                        height=height,
                        most=round(limits.max_pixels / 1_000_000),
                    )
                )
            if found == "JPEG" and max(width, height) > DISPLAY_SIDE:
                # Decode at the smallest of JPEG's own scales (1/2, 1/4, 1/8) still
                # larger than the display copy: every block's data is still read, so
                # a damaged or truncated file fails as it would at full size, for a
                # fraction of the work. The original is kept as it came, untouched.
                scale = DISPLAY_SIDE / max(width, height)
                image.draft(None, (round(width * scale), round(height * scale)))
            image.load()  # every block: a truncated or damaged file fails here
    except PhotoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoRefused(
            sentence(
                "%(name)s would expand to more pixels than a photograph can have; it is not kept.",
                name=name,
            )
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise PhotoRefused(
            sentence(
                "%(name)s is damaged or incomplete (the file is cut short): it cannot be read "
                "to the end. Take or upload it again.",
                name=name,
            )
        ) from error
    try:
        copies = derive_copies(image)
    finally:
        image.close()
    return CheckedPhoto(
        data, found, content_type, width, height, hashlib.sha256(data).hexdigest(), copies
    )


def _markup_outside_pixels(data: bytes, kind: str) -> bool:
    """Whether web page code sits anywhere but in the compressed pixels: in a
    metadata block (EXIF, XMP, comments, PNG text chunks), between blocks or after
    the image. Compressed pixels are noise to a browser and, in a large photograph,
    hold "<svg" or "<body" by chance, so they are not read as markup; a file whose
    blocks cannot be walked is searched whole."""
    regions = _jpeg_regions(data) if kind == "JPEG" else _png_regions(data)
    if regions is None:
        return _MARKUP.search(data) is not None
    return any(_MARKUP.search(data, start, end) for start, end in regions)


def _jpeg_regions(data: bytes) -> list[tuple[int, int]] | None:
    """Every byte range of a JPEG but its entropy-coded scan data; None when the
    markers cannot be walked."""
    regions: list[tuple[int, int]] = []
    position = 2  # after SOI
    while position < len(data):
        if data[position] != 0xFF:
            return None
        while position < len(data) and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= len(data):
            return None
        marker = data[position]
        position += 1
        if marker == 0xD9:  # EOI: whatever follows is not the image
            regions.append((position, len(data)))
            return regions
        if marker in _STANDALONE_MARKERS:
            continue
        if position + 2 > len(data):
            return None
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > len(data):
            return None
        regions.append((position, position + length))
        position += length
        if marker == 0xDA:  # SOS: the scan's data runs to the next real marker
            found = _NEXT_MARKER.search(data, position)
            if found is None:
                return None
            position = found.start()
    return regions


def _png_regions(data: bytes) -> list[tuple[int, int]] | None:
    """Every byte range of a PNG but its compressed pixels (IDAT chunk data); None
    when the chunks cannot be walked."""
    regions: list[tuple[int, int]] = []
    position = 8  # after the signature
    while position < len(data):
        if position + 8 > len(data):
            return None
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return None
        if kind != b"IDAT":
            regions.append((position, end))
        position = end
    return regions


def derive_copies(image: PILImage.Image) -> Copies:
    """The display copy, thumbnail and blurred stand-in, from the pixels alone (new
    images, re-encoded: nothing of the file but its pixels and orientation reaches
    them, not even bytes after the image's end). Consumes `image` (it is resized in
    place)."""
    from PIL import Image, ImageFilter, ImageOps

    # Resize first, then turn upright: the same picture as turning first, without
    # rotating twelve million pixels. `thumbnail` keeps the EXIF orientation.
    display = image
    display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BICUBIC, reducing_gap=2.0)
    display = ImageOps.exif_transpose(display)
    if display.mode != "RGB":
        if "A" in display.getbands() or display.mode == "P":
            rgba = display.convert("RGBA")
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            display = flat
        else:
            display = display.convert("RGB")
    scale = THUMBNAIL_SIDE / max(display.size)
    thumbnail = display.resize(
        (max(1, round(display.width * scale)), max(1, round(display.height * scale))),
        Image.Resampling.BICUBIC,
        reducing_gap=2.0,
    )
    blurred = (
        thumbnail.resize((_BLUR_SIDE, _BLUR_SIDE), Image.Resampling.BOX)
        .resize(thumbnail.size, Image.Resampling.BICUBIC)
        .filter(ImageFilter.GaussianBlur(6))
    )
    return Copies(
        _bare_jpeg(display, 85),
        _bare_jpeg(thumbnail, 80),
        _bare_jpeg(blurred, 70),
        display.width,
        display.height,
    )


def _bare_jpeg(image: PILImage.Image, quality: int) -> bytes:
    """Encode the pixels with no metadata: Pillow would otherwise carry over the
    ICC profile (and more) from what the image was made of."""
    image.info = {}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
