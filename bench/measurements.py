"""Per-seed measurements against seeds of known size (issue "Trustworthy answers", item 7).

Anti-aliased ellipses (drawn 8x larger, area-averaged down, as a camera sees an edge) 40-1200 px
long, at 1:1, 2:1 and 3:1 and three angles, on a light tray, clean and with sensor noise (sigma 4)
and a slight blur; each cropped as a detector would box it (the seed's extent and a pixel). Prints
the largest relative error of length, width and perimeter by length, the roundness of discs, the
quality verdicts, a white seed on a light tray, and the time per seed.

    python bench/measurements.py [--root DIR]    (DIR: another checkout, e.g. a git worktree)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

TRAY, SEED, PALE = (225, 230, 235), (60, 110, 160), (205, 215, 222)
S = 8  # supersampling of the drawing


def ellipse(a: float, b: float, angle: float, colour=SEED, noise: float = 0.0, blur: bool = False, rng=None):
    """(crop, true length, true width, true perimeter) of an anti-aliased ellipse of semi-axes a, b."""
    big_a, big_b = round(a * S), round(b * S)
    size = int(2 * max(a, b) + 12)
    big = np.full((size * S, size * S, 3), TRAY, np.uint8)
    cv2.ellipse(big, (size * S // 2, size * S // 2), (big_a, big_b), angle, 0, 360, colour, -1)
    image = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    if blur:
        image = cv2.GaussianBlur(image, (3, 3), 0.8)
    if noise:
        image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
    truth = cv2.resize(big[..., 0], (size, size), interpolation=cv2.INTER_AREA) != TRAY[0]
    ys, xs = np.nonzero(truth)
    crop = image[max(0, ys.min() - 1) : ys.max() + 2, max(0, xs.min() - 1) : xs.max() + 2]
    la, lb = (2 * big_a + 1) / S / 2, (2 * big_b + 1) / S / 2
    h = ((la - lb) / (la + lb)) ** 2
    perimeter = math.pi * (la + lb) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))  # Ramanujan
    return crop, 2 * la, 2 * lb, perimeter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from model_inference.measure import measure_seed

    rng = np.random.default_rng(7)
    print("length px | worst length err | worst width err | worst perimeter err | doubtful")
    crops = []
    for length in (40, 80, 160, 320, 640, 1200):
        worst = [0.0, 0.0, 0.0]
        doubtful = 0
        for ratio in (1.0, 2.0, 3.0):
            for angle in (0, 30, 75):
                for noisy in (False, True):
                    a = length / 2
                    crop, true_l, true_w, true_p = ellipse(
                        a, a / ratio, angle, noise=4.0 * noisy, blur=noisy, rng=rng
                    )
                    crops.append(crop)
                    m = measure_seed(crop)
                    worst[0] = max(worst[0], abs(m["length"] - true_l) / true_l)
                    worst[1] = max(worst[1], abs(m["width"] - true_w) / true_w)
                    if "perimeter" in m:
                        worst[2] = max(worst[2], abs(m["perimeter"] - true_p) / true_p)
                    doubtful += m.get("quality") == "doubtful"
        print(f"{length:9d} | {worst[0]:16.2%} | {worst[1]:15.2%} | {worst[2]:19.2%} | {doubtful}/18")
    discs = [
        measure_seed(ellipse(r, r, 0, noise=4.0 * n, blur=n, rng=rng)[0])["roundness"]
        for r in (20, 40, 100, 300)
        for n in (False, True)
    ]
    print(f"disc roundness: min {min(discs):.3f}, max {max(discs):.3f} (1 for a perfect disc)")
    pale = measure_seed(ellipse(40, 25, 20, colour=PALE, noise=3.0, rng=rng)[0])
    print(f"white seed on a light tray: quality {pale.get('quality', '-')}, {pale.get('reasons', [])}")
    started = time.process_time()
    for crop in crops:
        measure_seed(crop)
    print(
        f"CPU per seed: {(time.process_time() - started) / len(crops) * 1000:.1f} ms over {len(crops)} seeds"
    )


if __name__ == "__main__":
    main()
