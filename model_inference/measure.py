"""Per-seed measurements (issue "Seed science"), from the seed's own pixels: each box's crop is
segmented (colour distance from the crop's border, Otsu, the largest component, holes filled) and
measured: area, length and width (the minimum-area rectangle), perimeter, roundness
(4·pi·area / perimeter², 1 for a disc) and mean colour. Pixels are those of the picture as sent;
with a scale (pixels per millimetre, from the request or the device's calibration) lengths are
also given in millimetres."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .pixels import crop_fraction

if TYPE_CHECKING:
    import numpy as np

MEASURE_SIZE = 256  # px along a measured crop: 1 px is under 1 % of most seeds


def seed_pixels(crop: np.ndarray) -> np.ndarray:
    """The seed inside its box: pixels far from the crop's border colour (Otsu on the distance);
    the whole crop when nothing stands out. Also what the classifier's hand features read."""
    import cv2
    import numpy as np

    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    distance = np.linalg.norm((lab - np.median(border, axis=0)) * (0.5, 1.0, 1.0), axis=2)
    scaled = np.clip(distance * 3, 0, 255).astype(np.uint8)
    _, mask = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    if mask.sum() < 0.05 * 255 * mask.size:  # nothing stands out: take the whole crop
        mask[:] = 255
    return mask > 0


def seed_mask(crop: np.ndarray) -> np.ndarray:
    """The seed alone (uint8 0/255): the largest part of `seed_pixels`, its holes filled."""
    import cv2
    import numpy as np

    mask = seed_pixels(crop).astype(np.uint8) * 255
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)  # type: ignore[call-overload]
    if count < 2:
        return np.full(mask.shape, 255, np.uint8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    seed = np.where(labels == largest, 255, 0).astype(np.uint8)
    contours, _ = cv2.findContours(seed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(seed, contours, -1, 255, thickness=cv2.FILLED)  # specular holes
    return seed


def measure_seed(crop: np.ndarray, scale: float = 1.0) -> dict[str, Any]:
    """Measurements of the seed in `crop`, in pixels of the picture (`scale`: picture pixels per
    crop pixel, for a crop decoded reduced). A large crop is measured on every k-th pixel, about
    MEASURE_SIZE px long, and the figures scaled back."""
    import cv2
    import numpy as np

    step = max(1, int(max(crop.shape[:2]) // MEASURE_SIZE))
    if step > 1:
        crop = np.ascontiguousarray(crop[::step, ::step])
    f = 1.0 / (step * scale)
    mask = seed_mask(crop)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    length, width = feret_diameters(contour)
    area = float(np.count_nonzero(mask))
    perimeter = float(cv2.arcLength(contour, True)) or 1.0
    b, g, r = (int(round(v)) for v in cv2.mean(crop, mask=mask)[:3])
    return {
        "unit": "px",
        "area": round(area / f / f, 1),
        "length": round(length / f, 2),
        "width": round(width / f, 2),
        "perimeter": round(perimeter / f, 2),
        "roundness": round(min(1.0, 4 * math.pi * area / perimeter**2), 4),
        "mean_color": f"#{r:02X}{g:02X}{b:02X}",
    }


def feret_diameters(contour: np.ndarray) -> tuple[float, float]:
    """Length and width as calipers measure them: the largest and the smallest extent of the
    seed over every direction (the minimum-area rectangle, without its ambiguity on round
    seeds), plus the pixel the contour's centres leave out."""
    import cv2
    import numpy as np

    hull = cv2.convexHull(contour).reshape(-1, 2).astype(np.float64)
    angles = np.deg2rad(np.arange(0.0, 180.0, 0.5))
    projections = hull @ np.stack([np.cos(angles), np.sin(angles)])
    extents = projections.max(0) - projections.min(0)
    return float(extents.max()) + 1.0, float(extents.min()) + 1.0


def measure_boxes(pixels: np.ndarray, boxes: list[dict]) -> None:
    """Add `measurements` (pixels) to each box (fractions of the frame) of a decoded picture."""
    for box in boxes:
        box["measurements"] = measure_seed(crop_fraction(pixels, box["box"]))


def measure_encoded_crops(crops: list[bytes], boxes: list[dict]) -> bool:
    """Measure each box from its encoded crop (what HTTP classifiers received), JPEGs decoded
    at the reduction that still leaves ~MEASURE_SIZE px; False if one cannot be decoded."""
    import cv2
    import numpy as np

    decoded = []
    for raw in crops:
        size = _encoded_size(raw)
        factor = next((f for f in (8, 4, 2) if size and max(size) / f >= MEASURE_SIZE), 1)
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), getattr(cv2, _REDUCED[factor]))
        if image is None or not image.size:
            return False
        decoded.append((image, size[0] / image.shape[1] if size else 1.0))
    for (image, scale), box in zip(decoded, boxes, strict=True):
        box["measurements"] = measure_seed(image, scale)
    return True


_REDUCED = {
    1: "IMREAD_COLOR",
    2: "IMREAD_REDUCED_COLOR_2",
    4: "IMREAD_REDUCED_COLOR_4",
    8: "IMREAD_REDUCED_COLOR_8",
}


def _encoded_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, without decoding."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except Exception:
        return None


def in_millimetres(measurements: dict[str, Any], pixels_per_mm: float, source: str) -> dict[str, Any]:
    """The same measurements with their lengths in mm (area in mm²); `source` says where the
    scale came from ("request", "calibration")."""
    per = float(pixels_per_mm)
    return {
        **measurements,
        "unit": "mm",
        "scale": {"pixels_per_mm": per, "source": source},
        "area": round(measurements["area"] / per / per, 4),
        "length": round(measurements["length"] / per, 4),
        "width": round(measurements["width"] / per, 4),
        "perimeter": round(measurements["perimeter"] / per, 4),
    }


def scale_from_bar(pixels: np.ndarray, boxes: list[dict], bar_mm: float) -> None:
    """Measurements in mm from the microscope's scale bar (`bar_mm` long) drawn on the picture;
    when none can be read they stay in pixels and each says why (`note`)."""
    length = scale_bar_length(pixels)
    for box in boxes:
        measured = box.get("measurements")
        if not isinstance(measured, dict) or measured.get("unit") != "px":
            continue
        if length is None:
            measured["note"] = NO_SCALE_BAR
        else:
            box["measurements"] = in_millimetres(measured, length / bar_mm, "scale_bar")
            box["measurements"]["scale"]["bar_px"] = length


NO_SCALE_BAR = "no scale bar could be read in the picture: measurements in pixels"


def scale_bar_length(pixels: np.ndarray) -> float | None:
    """The length in pixels of a microscope's scale bar drawn on the picture (the longest flat,
    achromatic, thin rectangle), or None when there is none."""
    import cv2
    import numpy as np

    lab = cv2.cvtColor(pixels, cv2.COLOR_BGR2LAB)
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    best = None
    for polarity in (cv2.THRESH_BINARY, cv2.THRESH_BINARY_INV):
        _, mask = cv2.threshold(lab[..., 0], 0, 255, polarity + cv2.THRESH_OTSU)
        mask[chroma > 10] = 0
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)  # type: ignore[call-overload]
        for _, _, w, h, area in stats[1:count]:
            long, short = max(w, h), min(w, h)
            bar = short >= 2 and long >= 8 * short and area >= 0.85 * w * h
            if bar and long < 0.9 * max(pixels.shape[:2]) and (best is None or long > best):
                best = float(long)
    return best
