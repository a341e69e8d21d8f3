"""A deterministic generator of seed trays for detector and classifier tests.

Trays: light background with a random tint, radial vignetting, a linear light gradient and
sensor noise; 1-40 seeds of 6 kinds (textured ellipses with rim shading, soft shadows, blurred
edges), isolated or slid against each other until they touch. Ground truth is the bounding box
of each seed's own ellipse. Same seed, same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# kind: (BGR colour, semi-axis a range, semi-axis b range, texture)
KINDS = {
    "dark_round": ((40, 52, 75), (10, 15), (9, 13), "plain"),
    "tan_long": ((115, 170, 205), (38, 55), (14, 20), "stripes"),
    "black_gloss": ((28, 26, 30), (24, 32), (19, 25), "gloss"),
    "red_speckle": ((45, 55, 160), (20, 28), (17, 23), "speckle"),
    "pale_cream": ((175, 212, 228), (55, 80), (32, 45), "plain"),
    "olive_thin": ((55, 120, 105), (18, 24), (6, 9), "stripes"),
}


@dataclass
class Seed:
    kind: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels (exclusive ends)
    touching: bool = False


def _seed_patch(rng: np.random.Generator, kind: str, angle: float, a: float, b: float):
    """The seed's colour patch and its soft alpha, in a square patch around its centre."""
    colour, _, _, texture = KINDS[kind]
    r = int(np.ceil(max(a, b))) + 4
    size = 2 * r + 1
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (r, r), (int(round(a)), int(round(b))), angle, 0, 360, 255, -1)
    inside = mask > 0
    ys, xs = np.mgrid[0:size, 0:size]
    tint = np.array(colour, np.float32) * rng.uniform(0.85, 1.15)
    patch = np.ones((size, size, 3), np.float32) * tint
    theta = np.deg2rad(angle)
    u = (xs - r) * np.cos(theta) + (ys - r) * np.sin(theta)
    if texture == "stripes":
        patch *= (1 + 0.12 * np.sin(u / 2.5))[..., None]
    elif texture == "speckle":
        patch *= (1 + 0.25 * rng.standard_normal((size, size)))[..., None]
    elif texture == "gloss":
        spot = np.zeros((size, size), np.float32)
        cv2.ellipse(
            spot,
            (int(r - a / 3), int(r - b / 3)),
            (max(1, int(a / 4)), max(1, int(b / 5))),
            angle,
            0,
            360,
            160,
            -1,
        )
        patch += cv2.GaussianBlur(spot, (0, 0), 2)[..., None]
    patch += rng.normal(0, 6, (size, size, 1))
    edge = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    patch *= (0.75 + 0.25 * np.clip(edge / max(1.0, b), 0, 1))[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)
    return np.clip(patch, 0, 255), alpha, inside, r


def make_tray(
    seed: int,
    n_seeds: int,
    kinds=None,
    touch_prob: float = 0.3,
    size=(1920, 1080),
    tray=None,
    vignette: float = 0.18,
) -> tuple[np.ndarray, list[Seed]]:
    """A BGR tray picture and its seeds."""
    rng = np.random.default_rng(seed)
    width, height = size
    kinds = list(kinds or KINDS)
    base = np.array(tray if tray is not None else [rng.uniform(205, 245)] * 3, np.float32)
    base = base + (rng.uniform(-8, 8, 3) if tray is None else 0)
    image = np.ones((height, width, 3), np.float32) * base
    owner = np.zeros((height, width), np.int32)  # which seed covers each pixel
    placed: list[tuple[Seed, float, float, float]] = []  # seed, cx, cy, radius
    shadows = np.zeros((height, width), np.float32)
    layers = []
    attempts = 0
    while len(placed) < n_seeds and attempts < n_seeds * 60:
        attempts += 1
        kind = kinds[int(rng.integers(len(kinds)))]
        _, arange, brange, _ = KINDS[kind]
        a, b = rng.uniform(*arange), rng.uniform(*brange)
        angle = rng.uniform(0, 180)
        patch, alpha, inside, r = _seed_patch(rng, kind, angle, a, b)
        touching = bool(placed) and rng.random() < touch_prob
        if touching:  # slide towards a placed seed until the outlines meet, then back off
            other, ox, oy, orad = placed[int(rng.integers(len(placed)))]
            direction = rng.uniform(0, 2 * np.pi)
            cx, cy = None, None
            for distance in np.arange(orad + r + 6, 0, -1.0):
                tx, ty = ox + distance * np.cos(direction), oy + distance * np.sin(direction)
                x0, y0 = int(tx) - r, int(ty) - r
                if x0 < 2 or y0 < 2 or x0 + 2 * r + 3 > width or y0 + 2 * r + 3 > height:
                    break
                overlap = (owner[y0 : y0 + 2 * r + 1, x0 : x0 + 2 * r + 1][inside] > 0).sum()
                if overlap > 0:
                    if overlap < 0.04 * inside.sum() and cx is not None:
                        pass
                    break
                cx, cy = tx, ty
            if cx is None:
                continue
        else:
            cx, cy = rng.uniform(r + 4, width - r - 4), rng.uniform(r + 4, height - r - 4)
            x0, y0 = int(cx) - r, int(cy) - r
            region = owner[max(0, y0 - 6) : y0 + 2 * r + 7, max(0, x0 - 6) : x0 + 2 * r + 7]
            if (region > 0).any():
                continue
        x0, y0 = int(cx) - r, int(cy) - r
        window = owner[y0 : y0 + 2 * r + 1, x0 : x0 + 2 * r + 1]
        free = inside & (window == 0)
        if free.sum() < 0.9 * inside.sum():
            continue
        index = len(placed) + 1
        window[free] = index
        ys, xs = np.nonzero(inside)
        box = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
        seed = Seed(kind, box, touching)
        if touching:
            other.touching = True
        placed.append((seed, cx, cy, r))
        shadow = np.zeros_like(alpha)
        shadow[4:, 4:] = alpha[:-4, :-4]
        shadows[y0 : y0 + 2 * r + 1, x0 : x0 + 2 * r + 1] = np.maximum(
            shadows[y0 : y0 + 2 * r + 1, x0 : x0 + 2 * r + 1], cv2.GaussianBlur(shadow, (0, 0), 4)
        )
        layers.append((x0, y0, patch, alpha))
    image *= (1 - 0.18 * shadows)[..., None]
    for x0, y0, patch, alpha in layers:
        h, w = alpha.shape
        view = image[y0 : y0 + h, x0 : x0 + w]
        view[:] = view * (1 - alpha[..., None]) + patch * alpha[..., None]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    radius2 = ((xs - cx) / width) ** 2 + ((ys - cy) / height) ** 2
    light = 1 - vignette * radius2 - 0.06 * (xs / width) * rng.uniform(-1, 1)
    image = image * light[..., None] + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), [p[0] for p in placed]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def match(found: list[tuple], truth: list[tuple], threshold: float = 0.5) -> int:
    """Greedy one-to-one matches with IoU >= threshold."""
    pairs = sorted(
        ((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True
    )
    used_f, used_t, hits = set(), set(), 0
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            hits += 1
    return hits


def pixel_boxes(detected: list[dict], width: int, height: int) -> list[tuple]:
    return [
        (
            d["box"]["topX"] * width,
            d["box"]["topY"] * height,
            d["box"]["bottomX"] * width,
            d["box"]["bottomY"] * height,
        )
        for d in detected
    ]


def unusual(image: np.ndarray, kind: str) -> np.ndarray:
    """The same tray as the pictures users also send: grey, 16-bit, with alpha, tiny or huge."""
    if kind == "grey":
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if kind == "16-bit":
        return image.astype(np.uint16) * 257
    if kind == "rgba":
        return cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    if kind == "tiny":
        return image[:20, :24]
    if kind == "huge":
        return cv2.resize(image, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    raise ValueError(kind)
