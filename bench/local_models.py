"""Figures of the built-in models (issue "Offline models"): detector precision/recall and cost,
classifier cost and accuracy as it learns. Deterministic (fixed seeds), CPU only, no network.

    python bench/local_models.py            # about 2 minutes on the CI machine kind
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_inference.local.classifier import Examples, SeedClassifier  # noqa: E402
from model_inference.local.detector import detect_seeds  # noqa: E402
from model_inference.local.features import FeatureExtractor, load_embedder  # noqa: E402
from testkit.synthetic import KINDS, make_tray, match, pixel_boxes  # noqa: E402


def detection(label: str, touch: float, first: int, count: int, seeds=None) -> None:
    hits = found_n = truth_n = touching_hits = touching_n = 0
    times = []
    for i in range(count):
        n = seeds if seeds is not None else int(np.random.default_rng(first + i).integers(1, 41))
        image, truth = make_tray(first + i, n, touch_prob=touch)
        start = time.perf_counter()
        found = pixel_boxes(detect_seeds(image), image.shape[1], image.shape[0])
        times.append((time.perf_counter() - start) * 1000)
        hits += match(found, [s.box for s in truth])
        found_n += len(found)
        truth_n += len(truth)
        touching = [s.box for s in truth if s.touching]
        touching_hits += match(found, touching)
        touching_n += len(touching)
    precision = hits / found_n if found_n else float("nan")
    recall = hits / truth_n if truth_n else float("nan")
    extra = (
        f", touching recall {touching_hits / touching_n:.3f} ({touching_n} touching)" if touching_n else ""
    )
    print(
        f"| {label} | {count} / {truth_n} | {precision:.3f} | {recall:.3f} "
        f"| {found_n - hits} boxes not seeds{extra} "
        f"| {statistics.median(times):.0f} / {np.percentile(times, 90):.0f} |"
    )


def classification() -> None:
    embedder = load_embedder()
    features = FeatureExtractor(embedder)
    rng = np.random.default_rng(5)
    crops_by_kind = {}
    for k, kind in enumerate(KINDS):
        crops = []
        for j in range(6):
            image, truth = make_tray(4000 + 10 * k + j, 8, kinds=[kind], touch_prob=0.0, size=(960, 540))
            for s in truth:
                x0, y0, x1, y1 = s.box
                crops.append(image[y0:y1, x0:x1])
        crops_by_kind[kind] = crops
    batch = [c for crops in crops_by_kind.values() for c in crops][:32]
    features(batch)
    start = time.perf_counter()
    embedded, hand = features(batch)
    per_crop = (time.perf_counter() - start) * 1000 / len(batch)
    print(
        f"\nfeatures per crop, batch of {len(batch)}: {per_crop:.1f} ms "
        f"({'EfficientNet-Lite0 ONNX + hand-made' if embedder else 'hand-made only'})"
    )
    print("\n| examples per class | top-1 accuracy (6 kinds, held-out crops) | mode | predict ms per crop |")
    print("|---:|---:|---|---:|")
    for shots in (1, 3, 5, 10, 20):
        train, test = [], []
        for kind, crops in crops_by_kind.items():
            order = rng.permutation(len(crops))
            train += [(kind, crops[i]) for i in order[:shots]]
            test += [(kind, crops[i]) for i in order[shots : shots + 15]]
        e_train, h_train = features([c for _, c in train])
        model = SeedClassifier(Examples([k for k, _ in train], {k: k for k in KINDS}, e_train, h_train))
        e_test, h_test = features([c for _, c in test])
        start = time.perf_counter()
        answers = model.predict(e_test, h_test)
        predict_ms = (time.perf_counter() - start) * 1000 / len(test)
        accuracy = np.mean([a[0]["label"] == k for a, (k, _) in zip(answers, test)])
        print(f"| {shots} | {accuracy:.2f} | {model.mode} | {predict_ms:.2f} |")


def main() -> None:
    cv2.setNumThreads(1)  # "on one core"
    print(
        "| set | images / seeds | precision | recall | notes | detect ms median / p90 (1920x1080, 1 core) |"
    )
    print("|---|---:|---:|---:|---|---:|")
    detection("crowded: 1-40 seeds, 30 % slid into contact", 0.3, first=100, count=30)
    detection("isolated seeds", 0.0, first=300, count=20)
    detection("empty trays", 0.0, first=500, count=10, seeds=0)
    classification()


if __name__ == "__main__":
    main()
