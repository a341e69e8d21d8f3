"""Image checks of /image-validation (spec §5), with Pillow detecting the real format.

All of it decodes pixels, so callers run it in a thread.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .http import APIError, Unhandled

# Refuse anything beyond ~100 MP before decoding: a decompression bomb is a clear 400.
MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_FORMAT_TO_EXTENSION = {"MPO": "jpeg", "JPEG": "jpeg", "DIB": "bmp"}


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
        raise APIError("invalid file size: the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise Unhandled(f"not an image: {error}") from error
    width, height = image.size[0], image.size[1]
    if width > valid_dimension["width"] and height > valid_dimension["height"]:
        raise APIError(f"invalid file size: {width}x{height}")
    if width * height > MAX_PIXELS:
        raise APIError(f"invalid file size: {width}x{height}")
    fmt = (image.format or "").upper()
    try:
        image.thumbnail((100, 150))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise APIError("invalid file not resizable") from None
    extension = _FORMAT_TO_EXTENSION.get(fmt, fmt.lower())
    if extension not in valid_extensions:
        raise APIError(f"invalid file extension: {extension}")
    return CheckedImage(extension, width, height)


def check_header(header: str, image: CheckedImage) -> None:
    if header.lower() != f"data:image/{image.extension};base64":
        raise APIError(f"invalid file header: {header}")


def detect_mime(data: bytes) -> str:
    """The stored picture's real MIME type (the original always said image/tiff)."""
    try:
        fmt = (Image.open(io.BytesIO(data)).format or "").upper()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "application/octet-stream"
    return f"image/{_FORMAT_TO_EXTENSION.get(fmt, fmt.lower())}"
