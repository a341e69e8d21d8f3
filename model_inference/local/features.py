"""What the built-in classifier compares: an image embedding of each seed crop (EfficientNet-Lite0
through ONNX Runtime) and 61 hand-made colour, texture and shape features (local-models §2d).

The embedder is optional: without its .onnx file (or with a corrupt one) the classifier runs on
the hand-made features alone and the start-up log names the file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from ..measure import feret_diameters, seed_mask, seed_pixels
from .lazy import EMBEDDER
from .sessions import cpu_session

log = logging.getLogger(__name__)
SHAPE_DIM = 5  # size and shape at the crop's own scale (hand_features reads a 96 px copy)
HAND_DIM = 61 + SHAPE_DIM
EMBED_DIM = 1280


def shape_features(crop: np.ndarray) -> np.ndarray:
    """log length, log width, log elongation, roundness and log area of the seed, in the crop's
    pixels: at one magnification (one microscope, one lab) size tells varieties apart."""
    mask = seed_mask(crop)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros(SHAPE_DIM, np.float32)
    outline = max(contours, key=cv2.contourArea)
    length, width = feret_diameters(outline)
    area = float(np.count_nonzero(mask)) + 1.0
    perimeter = float(cv2.arcLength(outline, True)) + 1.0
    roundness = min(1.0, 4 * np.pi * area / perimeter**2)
    return np.array(
        [np.log(length), np.log(width), np.log(length / width), roundness, np.log(area)], np.float32
    )


def hand_features(crop: np.ndarray) -> np.ndarray:
    """61 numbers: Lab mean/std, L percentiles, 8x4 hue-saturation histogram, LBP histogram,
    aspect ratio, solidity, circularity, 7 log Hu moments."""
    h, w = crop.shape[:2]
    if max(h, w) > 96:  # texture and shape read as well at 96 px, an order of magnitude cheaper
        f = 96 / max(h, w)
        crop = cv2.resize(crop, (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
    elif min(h, w) < 4:
        crop = cv2.resize(crop, (max(4, w), max(4, h)), interpolation=cv2.INTER_NEAREST)
    mask = seed_pixels(crop)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)[mask]
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask.astype(np.uint8), [8, 4], [0, 180, 0, 256]).ravel()
    hist = hist / max(1.0, hist.sum())
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    lbp = local_binary_pattern(grey, 8, 1, method="uniform")[mask]
    texture, _ = np.histogram(lbp, bins=10, range=(0, 10))
    texture = texture / max(1, texture.sum())
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea) if contours else None
    area = float(mask.sum())
    if outline is not None and len(outline) >= 5:
        (_, _), (w, h), _ = cv2.minAreaRect(outline)
        aspect = max(w, h) / max(1.0, min(w, h))
        hull = cv2.contourArea(cv2.convexHull(outline))
        solidity = area / max(1.0, hull)
        perimeter = cv2.arcLength(outline, True)
        circularity = 4 * np.pi * area / max(1.0, perimeter**2)
    else:
        aspect, solidity, circularity = 1.0, 1.0, 1.0
    hu = cv2.HuMoments(cv2.moments(mask.astype(np.uint8), binaryImage=True)).ravel()
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-12)
    return np.concatenate(
        [
            lab.mean(0) / 255,
            lab.std(0) / 64,
            np.percentile(lab[:, 0], [10, 50, 90]) / 255,
            hist,
            texture,
            [min(aspect, 10) / 5, solidity, min(circularity, 1.5)],
            hu / 10,
        ]
    ).astype(np.float32)


class Embedder:
    """EfficientNet-Lite0 ONNX: float32[N,3,224,224] RGB scaled (x - 127) / 128 -> [N,1280]."""

    def __init__(self, path: Path = EMBEDDER, expected_sha256: str | None = None):
        data = path.read_bytes()
        if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
            raise ValueError(f"{path}: sha256 does not match {path.name}.sha256")
        self.session = cpu_session(data)
        self.input = self.session.get_inputs()[0].name

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(
            [
                cv2.cvtColor(cv2.resize(c, (224, 224), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
                for c in crops
            ]
        ).astype(np.float32)
        batch = ((batch - 127.0) / 128.0).transpose(0, 3, 1, 2)
        out = []
        for start in range(0, len(batch), 16):
            out.append(self.session.run(None, {self.input: batch[start : start + 16]})[0])
        vectors = np.concatenate(out).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)


def load_embedder(path: Path = EMBEDDER) -> Embedder | None:
    """The embedder, or None with one clear log line naming the file (hand-made features only)."""
    checksum = path.with_name(path.name + ".sha256")
    try:
        expected = checksum.read_text().split()[0] if checksum.exists() else None
        return Embedder(path, expected)
    except FileNotFoundError:
        log.error("built-in classifier: embedder %s is missing; using hand-made features only", path)
    except Exception as error:  # corrupt model, wrong checksum, onnxruntime refusing it
        log.error(
            "built-in classifier: embedder %s cannot be loaded (%s); using hand-made features only",
            path,
            error,
        )
    return None


class FeatureExtractor:
    def __init__(self, embedder: Embedder | None):
        self.embedder = embedder

    def __call__(self, crops: list[np.ndarray]) -> tuple[np.ndarray | None, np.ndarray]:
        """(embeddings [N,1280] or None, hand-made features [N,61]) of BGR crops."""
        hand = (
            np.stack([np.concatenate([hand_features(c), shape_features(c)]) for c in crops])
            if crops
            else np.zeros((0, HAND_DIM), np.float32)
        )
        embedded = self.embedder.embed(crops) if self.embedder is not None and crops else None
        return embedded, hand
