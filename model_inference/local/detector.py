"""The built-in seed detector: classical computer vision, no weights (local-models §2a).

1. Work at most 1920 px on the long side; colours in CIELAB.
2. Model the tray: a smooth quadratic surface per Lab channel, fitted to a coarse grid of the
   picture with outliers (seeds) rejected, so vignetting, tints and light gradients drop out and a
   seed filling half the frame does not become "background".
3. Colour distance to the tray, lightness down-weighted so soft shadows fall below threshold;
   threshold = max(noise floor, 20, min(Otsu, 60)), with hysteresis down to 0.7 of it.
4. Clean the mask (open, close, fill holes), split touching seeds by watershed on the distance
   transform, and merge back the pieces of one seed (wide neck, same colour).
5. Drop what is not a seed: specks below a minimum area, and overlays such as the microscope's
   scale bar (flat, achromatic, axis-aligned rectangles and thin strokes).
Boxes are fractions of the frame with a contrast-and-shape score, as the detector protocol answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed


@dataclass(frozen=True)
class DetectorSettings:
    work_size: int = 1920  # full HD at full resolution: thin seeds stay a few pixels wide
    min_area_fraction: float = 2e-5  # of the frame: dust specks are smaller
    lightness_weight: float = 0.5
    chroma_weight: float = 1.6
    threshold_floor: float = 20.0
    threshold_cap: float = 60.0
    weak_fraction: float = 0.7  # hysteresis: faint pixels join a seed that has strong ones
    marker_height: float = 1.5  # h-maxima of the distance transform, in pixels
    neck_ratio: float = 0.75  # a neck at least this wide (vs the thinner part) is one seed
    colour_split: float = 14.0  # unless the two parts differ this much in colour
    max_seeds: int = 500
    # Scale to the seeds: a first look at `coarse_size` measures the typical seed, then the
    # picture is worked at the scale where that seed is about `seed_px` across (never above
    # `work_size`, never under `min_work_size`). A microscope photo of one 600 px seed is worked
    # at ~500 px (its texture no longer splits it in two, and it costs 4x less); a tray of
    # 40 px seeds stays at full resolution. 0 turns it off.
    seed_px: float = 80.0
    coarse_size: int = 480
    min_work_size: int = 480


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any decoded picture (grey, 16-bit, RGBA on a transparent tray) as 8-bit BGR."""
    if image.dtype != np.uint8:
        scale = 255.0 / max(
            1.0, float(np.iinfo(image.dtype).max if image.dtype.kind in "ui" else image.max() or 1)
        )
        image = np.clip(image.astype(np.float32) * scale, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        white = np.full_like(image[..., :3], 255)
        return (image[..., :3] * alpha + white * (1 - alpha)).astype(np.uint8)
    return image[..., :3]


def _tray_model(lab: np.ndarray) -> np.ndarray:
    """Per-channel quadratic surface fitted to the tray. The fit starts from the frame's border
    (a tray shows there even when a seed fills half the picture) and grows to every grid cell
    that agrees with it, so seeds never pull the surface towards their colour."""
    h, w = lab.shape[:2]
    step = max(1, max(h, w) // 96)
    grid = cv2.resize(lab, (max(8, w // step), max(8, h // step)), interpolation=cv2.INTER_AREA).astype(
        np.float64
    )
    gh, gw = grid.shape[:2]
    ys, xs = np.mgrid[0:gh, 0:gw]
    x, y = xs.ravel() / gw - 0.5, ys.ravel() / gh - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    values = grid.reshape(-1, 3)
    weights = np.array([0.5, 1.6, 1.6])
    ring = ((xs < 2) | (ys < 2) | (xs >= gw - 2) | (ys >= gh - 2)).ravel()
    typical = np.median(values[ring], axis=0)
    border_gap = np.linalg.norm((values - typical) * weights, axis=1)
    keep = ring & (border_gap <= np.percentile(border_gap[ring], 60))
    for _ in range(6):
        coeffs, *_ = np.linalg.lstsq(basis[keep], values[keep], rcond=None)
        residual = np.linalg.norm((values - basis @ coeffs) * weights, axis=1)
        limit = max(6.0, 3.0 * float(np.median(residual[keep])) * 1.4826)
        grown = residual < limit
        if grown.sum() < 6 or (grown == keep).all():
            break
        keep = grown
    # Evaluate on a coarse grid and let a bilinear resize fill in: the surface is smooth.
    cy, cx = np.mgrid[0:h:8, 0:w:8]
    fx, fy = (cx + 4) / w - 0.5, (cy + 4) / h - 0.5
    small = np.dstack(
        [c[0] + c[1] * fx + c[2] * fy + c[3] * fx * fx + c[4] * fx * fy + c[5] * fy * fy for c in coeffs.T]
    ).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _foreground(lab: np.ndarray, s: DetectorSettings) -> tuple[np.ndarray, np.ndarray]:
    diff = lab.astype(np.float32) - _tray_model(lab)
    distance = np.sqrt(
        (s.lightness_weight * diff[..., 0]) ** 2
        + (s.chroma_weight * diff[..., 1]) ** 2
        + (s.chroma_weight * diff[..., 2]) ** 2
    )
    scaled = np.clip(distance * 2, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # noise level from a subsample (same estimate, 9x less work), its median and MAD read off the
    # histogram of its 256 values
    counts = np.bincount(scaled[::3, ::3].ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64)
    median = _median(levels, counts)
    noise = median + 8 * (1.4826 * _median(np.abs(levels - median), counts) + 0.5)
    threshold = max(noise, s.threshold_floor, min(otsu, s.threshold_cap))
    # Hysteresis: faint parts (pale seeds in a dim corner) count when connected to clear ones,
    # so a low-contrast seed comes out whole instead of in fragments.
    strong = scaled >= threshold
    count, weak = cv2.connectedComponents(
        (scaled >= max(noise, threshold * s.weak_fraction)).astype(np.uint8), connectivity=8
    )
    anchored = np.where(np.bincount(weak[strong], minlength=count) > 0, 255, 0).astype(np.uint8)
    anchored[0] = 0
    mask: np.ndarray = anchored[weak]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    # Fill holes (specular highlights): whatever the border cannot reach is inside a seed.
    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 128)
    return cv2.compare(outside[1:-1, 1:-1], 128, cv2.CMP_NE), distance  # type: ignore[call-overload]


def _median(values: np.ndarray, counts: np.ndarray) -> float:
    """The median of a sample given as distinct values and their counts (as np.median: the mean
    of the two middle ones when the sample is even)."""
    order = np.argsort(values, kind="stable")
    ordered, cumulative = values[order], np.cumsum(counts[order])
    n = int(cumulative[-1])
    low, high = np.searchsorted(cumulative, [(n - 1) // 2, n // 2], side="right")
    return float(ordered[low] + ordered[high]) / 2


def _work_scale(bgr: np.ndarray, s: DetectorSettings) -> float:
    """The scale to work at: `work_size`, or lower when the seeds are large (see seed_px)."""
    height, width = bgr.shape[:2]
    full = min(1.0, s.work_size / max(height, width))
    if not s.seed_px or max(height, width) <= s.min_work_size:
        return full
    coarse = s.coarse_size / max(height, width)
    small = cv2.resize(bgr, (round(width * coarse), round(height * coarse)), interpolation=cv2.INTER_AREA)
    mask, _ = _foreground(cv2.cvtColor(cv2.GaussianBlur(small, (3, 3), 0), cv2.COLOR_BGR2LAB), s)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)  # type: ignore[call-overload]
    areas = stats[1:count, cv2.CC_STAT_AREA]
    areas = areas[areas >= max(12.0, s.min_area_fraction * mask.size)]
    if not len(areas):
        return full
    seed = np.sqrt(float(np.median(areas)) * 4 / np.pi) / coarse  # typical diameter, full-size pixels
    floor = s.min_work_size / max(height, width)
    return float(min(full, max(floor, s.seed_px / seed)))


def _merge_pieces(pieces: np.ndarray, dist: np.ndarray, lab: np.ndarray, count: int, s: DetectorSettings):
    """Union the watershed pieces of one seed: adjacent pieces joined by a wide neck, unless
    their colours differ (two seeds of different species side by side)."""
    index = np.arange(count + 1)
    peaks = ndi.maximum(dist, pieces, index)
    colours = np.array(
        [lab[pieces == i].mean(0) if i and (pieces == i).any() else np.zeros(3) for i in index]
    )
    necks: dict[tuple[int, int], float] = {}
    for a, b, da, db in (
        (pieces[:, :-1], pieces[:, 1:], dist[:, :-1], dist[:, 1:]),
        (pieces[:-1, :], pieces[1:, :], dist[:-1, :], dist[1:, :]),
    ):
        border = (a != b) & (a > 0) & (b > 0)
        for p, q, width in zip(a[border], b[border], np.minimum(da[border], db[border])):
            key = (min(p, q), max(p, q))
            if width > necks.get(key, -1.0):
                necks[key] = float(width)
    parent = [int(i) for i in index]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (p, q), width in sorted(necks.items(), key=lambda item: -item[1]):
        rp, rq = root(p), root(q)
        if rp == rq:
            continue
        ratio = width / max(1e-6, min(peaks[rp], peaks[rq]))
        colour_gap = float(np.linalg.norm(colours[p] - colours[q]))
        if ratio >= s.neck_ratio and not (colour_gap > s.colour_split and ratio < 0.97):
            parent[rq] = rp
            peaks[rp] = max(peaks[rp], peaks[rq])
    lut = np.array([root(int(i)) for i in index], np.int32)
    lut[0] = 0
    return lut[pieces]


def _is_overlay(region: np.ndarray, bgr_crop: np.ndarray, lab_crop: np.ndarray) -> bool:
    """Scale bars, labels and rulers drawn on the capture: flat achromatic rectangles, or strokes."""
    pixels = lab_crop[region].astype(np.float32)
    chroma = float(np.hypot(pixels[:, 1] - 128, pixels[:, 2] - 128).mean())
    extent = region.sum() / region.size
    h, w = region.shape
    thin = min(h, w) <= 3 or max(h, w) / max(1, min(h, w)) > 12
    return (chroma < 8 and extent > 0.88) or (thin and chroma < 10)


def detect_seeds(image: np.ndarray, settings: DetectorSettings = DetectorSettings()) -> list[dict]:
    """Boxes of the seeds in a decoded picture (any depth or channels), as fractions of the frame."""
    bgr = to_bgr(image)
    boxes = _detect(bgr, settings)
    if all(_on_edge(b["box"]) for b in boxes):  # nothing, or only pieces along the frame's edges
        whole = _close_up(bgr, settings)
        seed = max(whole, key=lambda b: _area(b["box"]), default=None)
        if seed is not None and _area(seed["box"]) >= 0.5:  # one seed filling the frame: its specks
            return [seed, *(b for b in whole if b is not seed and not _inside(b["box"], seed["box"]))]
        if not boxes:
            return whole
    return boxes


def _inside(box: dict, outer: dict) -> bool:
    return (
        box["topX"] >= outer["topX"]
        and box["topY"] >= outer["topY"]
        and box["bottomX"] <= outer["bottomX"]
        and box["bottomY"] <= outer["bottomY"]
    )


def _on_edge(box: dict, within: float = 0.01) -> bool:
    return (
        box["topX"] <= within
        or box["topY"] <= within
        or box["bottomX"] >= 1 - within
        or box["bottomY"] >= 1 - within
    )


def _area(box: dict) -> float:
    return (box["bottomX"] - box["topX"]) * (box["bottomY"] - box["topY"])


def _close_up(bgr: np.ndarray, s: DetectorSettings) -> list[dict]:
    """A close-up of one seed that fills the frame and runs off its edges leaves no tray on the
    border for the tray model to start from, and nothing is found. Seen again inside a frame of
    the tray's colour (the median of the picture's corners, where an oval seed leaves the tray
    showing), it is found whole; its box is then clipped to the picture. An empty tray stays
    empty: framed in its own colour it is still one even surface."""
    height, width = bgr.shape[:2]
    patch = max(2, min(height, width) // 25)
    corners = np.concatenate(
        [
            c.reshape(-1, 3)
            for c in (bgr[:patch, :patch], bgr[:patch, -patch:], bgr[-patch:, :patch], bgr[-patch:, -patch:])
        ]
    )
    margin = max(8, round(0.5 * max(height, width)))  # the tray the majority: its noise level holds
    colour = [float(v) for v in np.median(corners, axis=0)]
    framed = cv2.copyMakeBorder(bgr, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=colour)
    fh, fw = framed.shape[:2]
    boxes = []
    for found in _detect(framed, s, margin):
        b = found["box"]
        box = {
            "topX": min(1.0, max(0.0, (b["topX"] * fw - margin) / width)),
            "topY": min(1.0, max(0.0, (b["topY"] * fh - margin) / height)),
            "bottomX": min(1.0, max(0.0, (b["bottomX"] * fw - margin) / width)),
            "bottomY": min(1.0, max(0.0, (b["bottomY"] * fh - margin) / height)),
        }
        if box["bottomX"] > box["topX"] and box["bottomY"] > box["topY"]:
            boxes.append({**found, "box": box})
    return boxes


def _detect(bgr: np.ndarray, s: DetectorSettings, margin: int = 0) -> list[dict]:
    """The boxes of `bgr`; with a `margin` (a close-up framed by _close_up), what reaches the
    picture's own edges is a seed running off it, never an overlay drawn on the capture."""
    height, width = bgr.shape[:2]
    scale = _work_scale(bgr, s)
    work = (
        cv2.resize(bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        if scale < 1
        else bgr
    )
    work = cv2.GaussianBlur(work, (3, 3), 0)
    lab = cv2.cvtColor(work, cv2.COLOR_BGR2LAB)
    mask, contrast = _foreground(lab, s)
    min_area = max(12.0, s.min_area_fraction * mask.size)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)  # type: ignore[call-overload]
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    seeds = np.zeros(labels.shape, np.int32)
    next_id = 1
    for component in range(1, count):
        x, y, w, h, area = stats[component]
        if area < min_area:
            continue
        region = labels[y : y + h, x : x + w] == component
        inner = margin * scale + 1 if margin else -1.0  # the picture's edges, in work pixels
        off_edge = margin and (
            x <= inner or y <= inner or x + w >= mask.shape[1] - inner or y + h >= mask.shape[0] - inner
        )
        if not off_edge and _is_overlay(region, work[y : y + h, x : x + w], lab[y : y + h, x : x + w]):
            continue
        local = dist[y : y + h, x : x + w] * region
        markers, found = ndi.label(h_maxima(local, s.marker_height))
        if found > 1:
            pieces = watershed(-local, markers, mask=region)
            pieces = _merge_pieces(pieces, local, lab[y : y + h, x : x + w].astype(np.float32), found, s)
        else:
            pieces = region.astype(np.int32)
        for value in np.unique(pieces):
            part = pieces == value
            if value and part.sum() >= min_area:
                seeds[y : y + h, x : x + w][part] = next_id
                next_id += 1
    boxes: list[dict[str, Any]] = []
    mh, mw = seeds.shape
    for seed_id, bounds in enumerate(ndi.find_objects(seeds), start=1):
        if bounds is None:
            continue
        region = seeds[bounds] == seed_id
        mean_contrast = float(contrast[bounds][region].mean())
        solidity = region.sum() / float(region.size)
        score = (1 - np.exp(-mean_contrast / 25.0)) * (0.5 + 0.5 * min(1.0, solidity / 0.785))
        boxes.append(
            {
                "box": {
                    "topX": bounds[1].start / mw,
                    "topY": bounds[0].start / mh,
                    "bottomX": bounds[1].stop / mw,
                    "bottomY": bounds[0].stop / mh,
                },
                "label": "seed",
                "score": round(float(score), 4),
            }
        )
    if len(boxes) > s.max_seeds:
        boxes = sorted(boxes, key=lambda b: -b["score"])[: s.max_seeds]
    # reading order: rows a tenth of the frame high, left to right within a row
    return sorted(boxes, key=lambda b: (int(b["box"]["topY"] * 10), b["box"]["topX"]))
