"""Image checks before anything runs: /image-validation and /upload-picture (spec §5) and /inf
(size from the header, truncation), with Pillow detecting the real format.

All of it decodes pixels, so callers run it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

import pybase64
from PIL import Image, UnidentifiedImageError

from kernel.errors import ModelError, Unhandled

# Refuse anything beyond 100 MP before decoding: a decompression bomb is a clear 400. Every entry
# point checks the size itself, so Pillow's own warning (raised between 1x and 2x) is noise.
MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
ORIENTATION = 0x0112  # EXIF tag: how the browser turns the picture before showing it
_FORMAT_TO_EXTENSION = {"MPO": "jpeg", "JPEG": "jpeg", "DIB": "bmp"}


@dataclass(frozen=True)
class DataUrl:
    header: str
    data: bytes
    # the text after the comma when it is plain base64 (its alphabet and padding, nothing else):
    # HTTP models are sent it as is, instead of the bytes encoded again
    plain_base64: str | None


def read_data_url(value: object) -> DataUrl:
    """`data:<header>,<base64>`. No comma or bad base64 is Unhandled, as in the original; base64
    decoding stays lenient (characters outside the alphabet are dropped). Plain base64, what
    browsers send, is decoded by pybase64's SIMD decoder (~6x faster on a 0.5 MB picture)."""
    if not isinstance(value, str) or "," not in value:
        raise Unhandled("the image is not a data URL (no comma)")
    header, encoded = value.split(",", 1)
    try:
        return DataUrl(header, pybase64.b64decode(encoded, validate=True), encoded)
    except (binascii.Error, ValueError):
        pass  # not plain: decoded leniently below
    try:
        return DataUrl(header, base64.b64decode(encoded), None)
    except (binascii.Error, ValueError) as error:
        raise Unhandled(f"the image is not valid base64: {error}") from error


def split_data_url(value: object) -> tuple[str, bytes]:
    """`data:<header>,<base64>` -> (header, bytes)."""
    url = read_data_url(value)
    return url.header, url.data


@dataclass(frozen=True)
class CheckedImage:
    extension: str  # as libmagic names the subtype: png, jpeg, tiff, gif, webp, bmp
    width: int
    height: int

    @property
    def mime(self) -> str:
        return f"image/{self.extension}"


def check_image(data: bytes, valid_extensions, valid_dimension: dict[str, int]) -> CheckedImage:
    """Open, size-check, decode and identify; raise the spec's errors in the spec's order."""
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ModelError("invalid file size: the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise Unhandled(f"not an image: {error}") from error
    width, height = image.size[0], image.size[1]
    if width > valid_dimension["width"] and height > valid_dimension["height"]:
        raise ModelError(f"invalid file size: {width}x{height}")
    if width * height > MAX_PIXELS:
        raise ModelError(f"invalid file size: {width}x{height}")
    fmt = (image.format or "").upper()
    try:
        image.thumbnail((100, 150))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ModelError("invalid file not resizable") from None
    extension = _FORMAT_TO_EXTENSION.get(fmt, fmt.lower())
    if extension not in valid_extensions:
        raise ModelError(f"invalid file extension: {extension}")
    return CheckedImage(extension, width, height)


@dataclass(frozen=True)
class Picture:
    """A picture sent to /inf: its size as a browser shows it (EXIF orientation applied)."""

    width: int
    height: int


def check_picture(data: bytes) -> Picture:
    """Refuse what /inf must not run: unreadable, over MAX_PIXELS (from the header, before any
    decoding), or truncated. Cheap: JPEG and PNG are checked without decoding their pixels."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ModelError("invalid file size: the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ModelError(f"the image could not be read: {type(error).__name__}") from error
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ModelError(f"invalid file size: {width}x{height}")
    if width <= 0 or height <= 0 or not _complete(image, data):
        raise ModelError("the image is truncated or corrupt")
    try:
        turned = int(image.getexif().get(ORIENTATION) or 1) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block does not make the picture unusable
        turned = False
    return Picture(height, width) if turned else Picture(width, height)


def checked_from_markers(data: bytes) -> bool:
    """A JPEG: `check_picture` reads its markers only, no pixels (~0.07 ms for 1920x1080)."""
    return data[:2] == b"\xff\xd8"


def _complete(image: Image.Image, data: bytes) -> bool:
    if image.format in ("JPEG", "MPO"):
        return _jpeg_complete(data)
    try:
        if image.format == "PNG":
            image.verify()  # every chunk's CRC, no inflating
        else:
            image.load()
    except Exception:
        return False
    return True


def _jpeg_complete(data: bytes) -> bool:
    """The JPEG reaches its end-of-image marker after its first scan (a truncated upload does
    not). Marker segments are walked, so an EXIF thumbnail's own end marker does not count;
    0xFF bytes inside scan data are stuffed, so the marker cannot appear there by chance."""
    if not data.startswith(b"\xff\xd8"):
        return False
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker == 0xD9:  # end of image before any scan
            return False
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data, then more scans, then the end
            # the last end marker, looked for from the end: it is there unless the file is cut
            return data.rfind(b"\xff\xd9", i + 2 + length) != -1
        i += 2 + length
    return False


def check_header(header: str, image: CheckedImage) -> None:
    if header.lower() != f"data:image/{image.extension};base64":
        raise ModelError(f"invalid file header: {header}")


def detect_mime(data: bytes) -> str:
    """The stored picture's real MIME type (the original always said image/tiff)."""
    try:
        fmt = (Image.open(io.BytesIO(data)).format or "").upper()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "application/octet-stream"
    return f"image/{_FORMAT_TO_EXTENSION.get(fmt, fmt.lower())}"
