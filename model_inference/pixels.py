"""Image work of the inference path, run in a thread: decode once, crop every box, encode each
crop once in the picture's own format (as the original's detector step did)."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

import pybase64
from PIL import Image

if TYPE_CHECKING:
    import numpy as np

_SAVE_AS = {"MPO": "JPEG"}  # Pillow opens some camera JPEGs as MPO; crops are plain JPEG


def decode(data: bytes) -> Image.Image | np.ndarray:
    """The picture's pixels, decoded once for every crop: a colour JPEG as an RGB array through
    simplejpeg (libjpeg-turbo straight into the array: the same pixels as Pillow's, ~20 % sooner),
    anything else (or without simplejpeg) as a Pillow image."""
    if data[:2] == b"\xff\xd8":
        simplejpeg = _simplejpeg()
        if simplejpeg is not None and _colour_jpeg(simplejpeg, data):
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@functools.cache
def _simplejpeg():
    try:
        import simplejpeg
    except ImportError:  # optional: Pillow decodes every picture then
        return None
    return simplejpeg


def _colour_jpeg(simplejpeg, data: bytes) -> bool:
    """A YCbCr JPEG, which Pillow too would decode to RGB (grey, CMYK and RGB-stored ones are
    left to Pillow, so their crops keep their mode)."""
    try:
        return simplejpeg.decode_jpeg_header(data)[2] == "YCbCr"
    except ValueError:  # Pillow says what is wrong with it
        return False


def crop_boxes(image: Image.Image | np.ndarray, boxes: list[dict]) -> list[str]:
    """Base64 of each box's crop, boxes as fractions of the frame (int truncation, §7.3), each
    encoded once in the picture's own format (an array is a colour JPEG's pixels)."""
    if isinstance(image, Image.Image):
        width, height = image.size
        fmt = _SAVE_AS.get(image.format or "", image.format or "PNG")
        encode = functools.partial(_pillow_crop, image, fmt)
    else:
        height, width = image.shape[:2]
        encode = functools.partial(_jpeg_crop, image)
    crops = []
    for entry in boxes:
        box = entry["box"]
        region = (
            int(box["topX"] * width),
            int(box["topY"] * height),
            int(box["bottomX"] * width),
            int(box["bottomY"] * height),
        )
        crops.append(pybase64.b64encode(encode(region)).decode("ascii"))
    return crops


def _pillow_crop(image: Image.Image, fmt: str, region: tuple[int, int, int, int]) -> bytes:
    crop = image.crop(region)
    if fmt == "JPEG" and crop.mode not in ("RGB", "L", "CMYK"):
        crop = crop.convert("RGB")
    buffer = io.BytesIO()
    crop.save(buffer, format=fmt)
    return buffer.getvalue()


def _jpeg_crop(pixels, region: tuple[int, int, int, int]) -> bytes:
    """A colour JPEG's crop (the region lies in the frame: fractions of it) encoded by
    libjpeg-turbo through simplejpeg with Pillow's defaults (baseline, quality 75, 4:2:0), the
    GIL released, which Pillow's encoder holds: 0.8 against 1.4 ms for an 800x450 crop. Not the
    same bytes as Pillow's (the two builds round colour conversion differently), as close to
    the picture (tests/test_pixels.py)."""
    x0, y0, x1, y1 = region
    return _simplejpeg().encode_jpeg(
        pixels[y0:y1, x0:x1], quality=75, colorspace="RGB", colorsubsampling="420"
    )


def decode_and_crop(data: bytes, boxes: list[dict]) -> list[str]:
    return crop_boxes(decode(data), boxes)


def decode_bgr(data: bytes):
    """Pixels as an OpenCV array (BGR, 8-bit) for the built-in models: any depth, grey or RGBA,
    turned as a browser shows the picture (EXIF orientation), so boxes land on the seeds the user
    sees and scale with the size the browser reports."""
    import cv2
    import numpy as np

    from .local.detector import to_bgr

    pixels = _colour_jpeg_bgr(data)
    if pixels is None:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # orientation ignored
    if pixels is None:  # formats OpenCV lacks (GIF...): through Pillow
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
        pixels = rgb[..., [2, 1, 0, 3]] if rgb.shape[2] == 4 else rgb[..., ::-1]
    return to_bgr(np.ascontiguousarray(orient(pixels, exif_orientation(data))))


def _colour_jpeg_bgr(data: bytes):
    """A colour JPEG's pixels (BGR) through simplejpeg: the same pixels as OpenCV's imdecode
    (libjpeg-turbo, accurate DCT, smooth upsampling: equal on every JPEG of ../shared/data and the
    bench's), 8 against 22 ms for 1920x1080 here. None for anything else, and without simplejpeg."""
    simplejpeg = _simplejpeg() if data[:2] == b"\xff\xd8" else None
    if simplejpeg is None or not _colour_jpeg(simplejpeg, data):
        return None
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR")
    except ValueError:  # truncated or corrupt: OpenCV and Pillow say what they make of it
        return None


def exif_orientation(data: bytes) -> int:
    """The EXIF Orientation tag (1: as stored), read from the header."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "PNG":  # Pillow's getexif() decodes a whole PNG to look for it
                exif = Image.Exif()
                chunk = png_exif_chunk(data)
                if chunk:
                    exif.load(chunk)
            else:
                exif = image.getexif()
            value = int(exif.get(0x0112) or 1)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def png_exif_chunk(data: bytes) -> bytes | None:
    """The PNG's eXIf chunk, found by walking the chunk headers (no pixel is decoded)."""
    position = 8  # after the signature
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"eXIf":
            return data[position + 8 : position + 8 + length]
        if kind == b"IEND":
            return None
        position += 12 + length  # length, type, data, CRC
    return None


def orient(pixels, orientation: int):
    """Pixels (rows, columns[, channels]) turned as EXIF `orientation` asks (as
    PIL.ImageOps.exif_transpose)."""
    import numpy as np

    if orientation in (5, 6, 7, 8):
        pixels = np.swapaxes(pixels, 0, 1)  # transpose, then the flip that makes the rotation
    flip_rows = orientation in (3, 4, 7, 8)
    flip_columns = orientation in (2, 3, 6, 7)
    if flip_rows:
        pixels = pixels[::-1]
    if flip_columns:
        pixels = pixels[:, ::-1]
    return pixels


def crop_fraction(pixels, box: dict):
    """The crop of a box given as fractions of the frame (at least 1 pixel)."""
    h, w = pixels.shape[:2]
    x0, y0 = min(w - 1, max(0, int(box["topX"] * w))), min(h - 1, max(0, int(box["topY"] * h)))
    x1, y1 = max(x0 + 1, min(w, int(box["bottomX"] * w))), max(y0 + 1, min(h, int(box["bottomY"] * h)))
    return pixels[y0:y1, x0:x1]


def encode_crops(pixels, boxes: list[dict]) -> list[str]:
    """Base64 PNG of each box's crop, for HTTP classifiers that follow a built-in detector."""
    import cv2

    return [
        pybase64.b64encode(cv2.imencode(".png", crop_fraction(pixels, b["box"]))[1].tobytes()).decode("ascii")
        for b in boxes
    ]


def jpeg_of_crop(data: bytes, box: dict | None) -> bytes:
    """A stored picture's crop (fractions of the frame; None: the whole picture) as a JPEG."""
    import cv2

    pixels = decode_bgr(data)
    crop = crop_fraction(pixels, box) if box else pixels
    return cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
