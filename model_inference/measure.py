"""Per-seed measurements, from the seed's own pixels: each box's crop is segmented (colour distance
from the crop's border, Otsu, the largest component, holes filled), its outline found to a
fraction of a pixel, and measured: area, length and width (the maximum and minimum Feret
diameters, also given as `feret_max` and `feret_min`), perimeter, roundness (4·pi·area /
perimeter², 1 for a disc), solidity (area / convex hull area) and mean colour, with a `quality`
that says when the outline is doubtful and why. Pixels are those of the picture as sent;
with a scale (pixels per millimetre, from the request or the device's calibration) lengths are
also given in millimetres."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .pixels import crop_fraction

if TYPE_CHECKING:
    import numpy as np

MEASURE_SIZE = 160  # px along a measured crop: its outline, to a fraction of a pixel, is well under 1 %


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


def seed_mask(crop: np.ndarray, pixels: np.ndarray | None = None) -> np.ndarray:
    """The seed alone (uint8 0/255): the largest part of `seed_pixels` (or of `pixels`, when they
    are at hand already), its holes filled."""
    import cv2
    import numpy as np

    mask = (seed_pixels(crop) if pixels is None else pixels).astype(np.uint8) * 255
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)  # type: ignore[call-overload]
    if count < 2:
        return np.full(mask.shape, 255, np.uint8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    seed = np.where(labels == largest, 255, 0).astype(np.uint8)
    contours, _ = cv2.findContours(seed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(seed, contours, -1, 255, thickness=cv2.FILLED)  # specular holes
    return seed


MIN_CONTRAST = 30.0  # colour distance (0-255 BGR) under which a seed and its tray are hard to tell apart
MIN_COVER = 0.2  # of its box: a seed mask smaller than this is probably a part of the seed
OUTLINE_SIGMA = 0.7  # px: the blur of the seed's share before its outline is traced
PAD = 4  # px of tray around a crop while it is blurred and traced (beyond the crop is tray)
MAX_EDGE_RUN = 0.15  # of its outline along the box's edge: the seed is probably cut off


def measure_seed(crop: np.ndarray, scale: float = 1.0) -> dict[str, Any]:
    """Measurements of the seed in `crop`, in pixels of the picture (`scale`: picture pixels per
    crop pixel, for a crop decoded reduced), from its sub-pixel outline (`seed_outline`). A large
    crop is measured reduced (area-averaged) to about MEASURE_SIZE px, and the figures scaled back.
    `quality` is "doubtful" (with `reasons`) when the outline should not be cited as it stands."""
    import cv2
    import numpy as np

    factor = MEASURE_SIZE / max(crop.shape[:2])
    if factor < 0.75:
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        factor = size[0] / crop.shape[1]
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    else:
        factor = 1.0
    f = factor / scale  # crop pixels per picture pixel
    outline = seed_outline(crop)
    points = outline.points
    area = _polygon_area(points)
    perimeter = float(np.linalg.norm(np.diff(points, axis=0, append=points[:1]), axis=1).sum()) or 1.0
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    longest, shortest = caliper_extents(hull)
    b, g, r = (int(round(v)) for v in cv2.mean(crop, mask=outline.mask)[:3])
    measured = {
        "unit": "px",
        "area": round(area / f / f, 1),
        "length": round(longest / f, 2),
        "width": round(shortest / f, 2),
        "perimeter": round(perimeter / f, 2),
        "roundness": round(min(1.0, 4 * math.pi * area / perimeter**2), 4),
        "solidity": round(min(1.0, area / (_polygon_area(hull) or 1.0)), 4),
        "feret_max": round(longest / f, 2),
        "feret_min": round(shortest / f, 2),
        "mean_color": f"#{r:02X}{g:02X}{b:02X}",
    }
    reasons = outline.doubts(area)
    measured["quality"] = "doubtful" if reasons else "ok"
    if reasons:
        measured["reasons"] = reasons
    return measured


class Outline:
    """A seed's outline in its crop: sub-pixel points (x, y), the mask it was found from, and what
    makes it doubtful."""

    def __init__(self, points: np.ndarray, mask: np.ndarray, contrast: float, blobs: int, edge_run: float):
        self.points, self.mask = points, mask
        self.contrast, self.blobs, self.edge_run = contrast, blobs, edge_run

    def doubts(self, area: float) -> list[str]:
        reasons = []
        if self.contrast < MIN_CONTRAST:
            reasons.append(f"low contrast with the tray ({self.contrast:.0f} of 255)")
        cover = area / self.mask.size
        if cover < MIN_COVER:
            reasons.append(f"the seed covers {cover:.0%} of its box")
        if self.edge_run > MAX_EDGE_RUN:
            reasons.append(f"{self.edge_run:.0%} of the outline runs along the box's edge")
        if self.blobs > 1:
            reasons.append(f"{self.blobs} separate blobs in the box")
        return reasons


def seed_outline(crop: np.ndarray) -> Outline:
    """The seed's outline to a fraction of a pixel. `seed_mask` tells seed from tray; each pixel
    then gets its share of seed colour along the line from the tray's colour (the crop's border) to
    the seed's mean colour, which an anti-aliased or blurred edge blends linearly, and the outline
    is where that share is one half (marching squares, scikit-image). Beyond the crop is tray, so
    a seed touching its box still has a closed outline."""
    import cv2
    import numpy as np
    from skimage.measure import find_contours

    found = seed_pixels(crop)
    mask = seed_mask(crop, found)
    pixels = crop.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    tray = np.median(border, axis=0)
    inside = cv2.erode(mask, np.ones((3, 3), np.uint8)) if mask.sum() > 9 * 255 else mask
    seed = np.array(cv2.mean(crop, mask=inside if inside.any() else mask)[:3], np.float32)
    direction = seed - tray
    contrast = float(np.linalg.norm(direction))
    if contrast < 1.0:  # nothing to tell apart: the mask's own outline
        share: np.ndarray = (mask > 0).astype(np.float32)
    else:
        share = ((pixels - tray) @ direction) / (contrast * contrast)
        near = cv2.dilate(mask, np.ones((5, 5), np.uint8))  # the mask's edge may cut a thin tip short
        share[(near == 0) & (share > 0.5)] = 0.0  # other things of the seed's colour are not the seed
        # sensor noise would make the outline jagged (a longer perimeter): a slight blur leaves a
        # straight edge where it is and moves a curved one by sigma^2 / 2R (1/80 px at R=20)
        share = cv2.GaussianBlur(np.pad(share, PAD), (0, 0), OUTLINE_SIGMA)[PAD:-PAD, PAD:-PAD]
    contours = find_contours(np.pad(share, 1), 0.5)
    points = max(contours, key=lambda c: abs(_polygon_area(c)))[:, ::-1] - 1.0  # (x, y) in the crop
    h, w = mask.shape
    on_edge = (
        (points[:, 0] <= 0.0) | (points[:, 1] <= 0.0) | (points[:, 0] >= w - 1) | (points[:, 1] >= h - 1)
    )
    count, _, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8), 8)  # type: ignore[call-overload]
    areas = stats[1:count, cv2.CC_STAT_AREA]
    blobs = int((areas >= 0.1 * areas.max()).sum()) if len(areas) else 0
    return Outline(points, mask, contrast, blobs, float(on_edge.mean()))


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(
        abs(
            (
                x * (y.take(range(1, len(y) + 1), mode="wrap"))
                - y * x.take(range(1, len(x) + 1), mode="wrap")
            ).sum()
        )
        / 2
    )


def caliper_extents(hull: np.ndarray) -> tuple[float, float]:
    """The largest and smallest extent of a convex outline over every direction (its maximum and
    minimum Feret diameters)."""
    import numpy as np

    angles = np.deg2rad(np.arange(0.0, 180.0, 0.25))
    projections = hull @ np.stack([np.cos(angles), np.sin(angles)])
    extents = projections.max(0) - projections.min(0)
    return float(extents.max()), float(extents.min())


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
        **{k: round(measurements[k] / per, 4) for k in ("feret_max", "feret_min") if k in measurements},
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
