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


def decode_bgr(data: bytes):
    """Pixels as an OpenCV array (BGR, 8-bit) for the built-in models: any depth, grey or RGBA."""
    import cv2
    import numpy as np

    from .local.detector import to_bgr

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:  # formats OpenCV lacks (GIF...): through Pillow
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
        pixels = rgb[..., [2, 1, 0, 3]] if rgb.shape[2] == 4 else rgb[..., ::-1]
    return to_bgr(np.ascontiguousarray(pixels))


def crop_fraction(pixels, box: dict):
    """The crop of a box given as fractions of the frame (at least 1 pixel)."""
    h, w = pixels.shape[:2]
    x0, y0 = min(w - 1, max(0, int(box["topX"] * w))), min(h - 1, max(0, int(box["topY"] * h)))
    x1, y1 = max(x0 + 1, min(w, int(box["bottomX"] * w))), max(y0 + 1, min(h, int(box["bottomY"] * h)))
    return pixels[y0:y1, x0:x1]


def encode_crops(pixels, boxes: list[dict]) -> list[str]:
    """Base64 PNG of each box's crop, for HTTP classifiers that follow a built-in detector."""
    import cv2

    return [base64.b64encode(cv2.imencode(".png", crop_fraction(pixels, b["box"]))[1].tobytes()).decode("ascii")
            for b in boxes]
