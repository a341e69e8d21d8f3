"""A close-up of one seed (issue "Trustworthy answers", item 4): made from every development photo
of ../shared/data/real-seeds by cropping it to its seed's box shrunk by --inset of its size on
each side, so the seed fills the frame and runs off every edge. Prints, per set, how many
close-ups the built-in detector answers with no box, one box (and one covering >= 80 % of the
frame), or several.
Usage: python bench/close_ups.py [--inset 0.04] [--root CHECKOUT]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "real-seeds"


def close_up(pixels: np.ndarray, box: dict, inset: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    bw, bh = box["bottomX"] - box["topX"], box["bottomY"] - box["topY"]
    x0, x1 = int((box["topX"] + inset * bw) * w), int((box["bottomX"] - inset * bw) * w)
    y0, y1 = int((box["topY"] + inset * bh) * h), int((box["bottomY"] - inset * bh) * h)
    return np.ascontiguousarray(pixels[y0:y1, x0:x1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inset", type=float, default=0.04)
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the checkout whose detector runs")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from model_inference.local.detector import detect_seeds as this_detector
    from model_inference.pixels import decode_bgr

    sys.path[0] = str(args.root.resolve())
    for name in [n for n in sys.modules if n.startswith("model_inference")]:
        del sys.modules[name]
    from model_inference.local.detector import detect_seeds

    print(f"detector: {sys.modules['model_inference.local.detector'].__file__}, inset {args.inset}")
    figures: dict[str, list[tuple[int, float]]] = {}
    for row in sorted(csv.DictReader(open(REAL / "manifest.csv")), key=lambda r: r["file"]):
        pixels = decode_bgr((REAL / row["file"]).read_bytes())
        seeds = this_detector(pixels)  # where the seed is: always this checkout's detector
        if not seeds:
            continue
        crop = close_up(pixels, max(seeds, key=lambda b: b["score"])["box"], args.inset)
        found = detect_seeds(crop)
        cover = max(
            (
                (b["box"]["bottomX"] - b["box"]["topX"]) * (b["box"]["bottomY"] - b["box"]["topY"])
                for b in found
            ),
            default=0.0,
        )
        figures.setdefault(row["dataset"], []).append((len(found), cover))
    print("| set | close-ups | no box | one box | one box covering >= 80 % | several boxes |")
    print("|---|---|---|---|---|---|")
    for name, rows in figures.items():
        counts = np.array([n for n, _ in rows])
        covers = np.array([c for _, c in rows])
        print(
            f"| {name} | {len(rows)} | {(counts == 0).sum()} | {(counts == 1).sum()} "
            f"| {((counts == 1) & (covers >= 0.8)).sum()} | {(counts > 1).sum()} |"
        )


if __name__ == "__main__":
    main()
