"""The built-in models' heavy parts (OpenCV, scikit-image, ONNX Runtime and the 13.5 MB embedder:
~150 MB and ~0.5 s) load on first use, so a service whose pipelines all call remote models
never pays for them. The embedder file is still checked at start-up, so a missing or corrupt
model is reported then, naming the file."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)
WEIGHTS = Path(__file__).parent / "weights"
EMBEDDER = WEIGHTS / "effnet_lite0_embed.onnx"


def check_embedder_file(path: Path | None = None) -> bool:
    """True if the embedder file is there and matches its recorded sha256; else log why."""
    path = path or EMBEDDER
    checksum = path.with_name(path.name + ".sha256")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.error("built-in classifier: embedder %s is missing; it will use hand-made features only", path)
        return False
    if checksum.exists() and hashlib.sha256(data).hexdigest() != checksum.read_text().split()[0]:
        log.error(
            "built-in classifier: embedder %s does not match %s; it will use hand-made features only",
            path,
            checksum.name,
        )
        return False
    return True


def embedder_identity(path: Path | None = None) -> str:
    """What a classifier version's embeddings were made by: the embedder file's sha256 ("none"
    without one). Examples embedded by another file cannot be compared with today's crops."""
    path = path or EMBEDDER
    checksum = path.with_name(path.name + ".sha256")
    if checksum.exists():
        return checksum.read_text().split()[0]
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "none"


class LazyFeatures:
    """A FeatureExtractor built on first call (thread-safe: calls come from the image pool)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._extractor = None
        self._lock = threading.Lock()

    def __call__(self, crops):
        if self._extractor is None:
            with self._lock:
                if self._extractor is None:
                    from .features import FeatureExtractor, load_embedder

                    self._extractor = FeatureExtractor(load_embedder(self.path or EMBEDDER))
        return self._extractor(crops)


BUILTIN_PROTOCOLS = ("builtin-detector", "builtin-classifier")


def warm_up(features) -> float:
    """What the built-in pipeline's first request would load, loaded now (OpenCV, scikit-image,
    ONNX Runtime and the embedder), each run once on a small drawn tray; the seconds it took."""
    import time

    import cv2
    import numpy as np

    from .detector import detect_seeds

    started = time.perf_counter()
    tray = np.full((240, 320, 3), (205, 210, 215), np.uint8)
    cv2.ellipse(tray, (160, 120), (34, 20), 30, 0, 360, (60, 110, 160), -1)
    detect_seeds(tray)
    features([np.ascontiguousarray(tray[80:160, 110:210])])
    return time.perf_counter() - started
