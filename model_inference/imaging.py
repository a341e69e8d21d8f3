"""Image work of the inference path, run in a thread: decode once, crop every box, encode each
crop once in the picture's own format (as the original's detector step did)."""
from __future__ import annotations

import base64
import io

from PIL import Image

from .errors import ModelError

_SAVE_AS = {"MPO": "JPEG"}  # Pillow opens some camera JPEGs as MPO; crops are plain JPEG


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header only (no pixel decoding)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as error:  # any unreadable image: the client sent it
        raise ModelError(f"the image could not be read: {type(error).__name__}", 400) from error


def decode(data: bytes) -> Image.Image:
    """The picture's pixels, decoded once for every crop."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def crop_boxes(image: Image.Image, boxes: list[dict]) -> list[str]:
    """Base64 of each box's crop, boxes as fractions of the frame (int truncation, §7.3), each
    encoded once in the picture's own format."""
    fmt = _SAVE_AS.get(image.format or "", image.format or "PNG")
    width, height = image.size
    crops = []
    for entry in boxes:
        box = entry["box"]
        region = (int(box["topX"] * width), int(box["topY"] * height),
                  int(box["bottomX"] * width), int(box["bottomY"] * height))
        crop = image.crop(region)
        if fmt == "JPEG" and crop.mode not in ("RGB", "L", "CMYK"):
            crop = crop.convert("RGB")
        buffer = io.BytesIO()
        crop.save(buffer, format=fmt)
        crops.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return crops


def decode_and_crop(data: bytes, boxes: list[dict]) -> list[str]:
    return crop_boxes(decode(data), boxes)
