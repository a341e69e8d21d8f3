"""User-supplied ONNX models as pipeline steps (local-models §2b), run with ONNX Runtime.

A model record's endpoint names the model: `onnx:///path/to/model.onnx` (or a plain path), or a
Hugging Face-style export folder (`config.json` with `id2label`, `preprocessor_config.json`,
`onnx/model.onnx`) as Nachet's Swin and RT-DETR releases are published.

Classifier: input float32[N,3,H,W] RGB, normalised with metadata `input_mean`/`input_std` (default
ImageNet); output [N,K] logits or probabilities; labels from metadata `labels` (JSON list), a
sidecar `<model>.labels.json` ({"0": "000 Brassica napus", ...}) or `id2label`.
Detector: input float32[1,3,H,W]; outputs boxes [N,4] xyxy (network-input pixels, or fractions
with metadata `box_format=normalized`), scores [N], optional labels [N]; or RT-DETR's `logits`
[1,Q,K] and `pred_boxes` [1,Q,4] (cx, cy, w, h fractions). Boxes under `score_threshold` (0.3)
are dropped.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import numpy as np

from .sessions import cpu_session

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class OnnxModelError(Exception):
    pass


def model_path(endpoint: str) -> Path:
    return Path(endpoint[len("onnx://") :] if endpoint.startswith("onnx://") else endpoint)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class OnnxModel:
    def __init__(self, path: Path):
        self.path = path
        folder = path if path.is_dir() else None
        onnx_file = folder / "onnx" / "model.onnx" if folder else path
        config = self._json(folder / "config.json") if folder else {}
        preprocessor = self._json(folder / "preprocessor_config.json") if folder else {}
        try:
            self.session = cpu_session(str(onnx_file))
        except Exception as error:
            raise OnnxModelError(f"cannot load ONNX model {onnx_file}: {error}") from error
        meta = self.session.get_modelmeta().custom_metadata_map
        self.input = self.session.get_inputs()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]
        shape = self.input.shape
        size = preprocessor.get("size") or {}
        self.height = size.get("height") or (shape[2] if isinstance(shape[2], int) else 224)
        self.width = size.get("width") or (shape[3] if isinstance(shape[3], int) else 224)
        self.mean = np.array(
            json.loads(meta["input_mean"])
            if "input_mean" in meta
            else preprocessor.get("image_mean", IMAGENET_MEAN),
            np.float32,
        )
        self.std = np.array(
            json.loads(meta["input_std"])
            if "input_std" in meta
            else preprocessor.get("image_std", IMAGENET_STD),
            np.float32,
        )
        self.rescale = preprocessor.get("do_rescale", True)
        self.labels = self._labels(meta, config, onnx_file)
        self.normalized_boxes = meta.get("box_format") == "normalized"
        self.threshold = float(meta.get("score_threshold", 0.3))
        self.lock = threading.Lock()  # one run at a time per session keeps memory flat

    @staticmethod
    def _json(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise OnnxModelError(f"{path} is not valid JSON: {error}") from error

    @staticmethod
    def _labels(meta: dict, config: dict, onnx_file: Path) -> list[str]:
        if "labels" in meta:
            return list(json.loads(meta["labels"]))
        sidecar = onnx_file.with_suffix(".labels.json")
        mapping = json.loads(sidecar.read_text()) if sidecar.exists() else config.get("id2label", {})
        return [mapping[k] for k in sorted(mapping, key=int)] if mapping else []

    def _prepare(self, crops: list[np.ndarray]) -> np.ndarray:
        return to_tensor(
            crops, (self.height, self.width), self.mean, self.std, 255.0 if self.rescale else 1.0
        )

    def classify(self, crops: list[np.ndarray], top_n: int = 5) -> list[list[dict]]:
        with self.lock:
            scores = self.session.run(None, {self.input.name: self._prepare(crops)})[0]
        return ranked(scores.reshape(len(crops), -1), self.labels, top_n)

    def detect(self, pixels: np.ndarray) -> list[dict]:
        with self.lock:
            results = dict(
                zip(self.outputs, self.session.run(None, {self.input.name: self._prepare([pixels])}))
            )
        if "pred_boxes" in results:  # RT-DETR export: (cx, cy, w, h) fractions and per-query logits
            centre = results["pred_boxes"][0]
            probabilities = 1 / (1 + np.exp(-results["logits"][0]))
            classes, scores = probabilities.argmax(1), probabilities.max(1)
            xyxy = np.stack(
                [
                    centre[:, 0] - centre[:, 2] / 2,
                    centre[:, 1] - centre[:, 3] / 2,
                    centre[:, 0] + centre[:, 2] / 2,
                    centre[:, 1] + centre[:, 3] / 2,
                ],
                1,
            )
        else:
            named = {name: results[name] for name in results}
            xyxy = np.asarray(named.get("boxes", list(results.values())[0]), np.float32).reshape(-1, 4)
            scores = np.asarray(named.get("scores", list(results.values())[1]), np.float32).reshape(-1)
            classes = np.asarray(named["labels"]).reshape(-1) if "labels" in named else None
            if not self.normalized_boxes:
                xyxy = xyxy / np.array([self.width, self.height, self.width, self.height], np.float32)
        return boxes_above(xyxy, scores, classes, self.labels, self.threshold)


def to_tensor(
    crops: list[np.ndarray], size: tuple[int, int], mean: np.ndarray, std: np.ndarray, scale: float = 255.0
) -> np.ndarray:
    """float32[N,3,H,W] of BGR crops: resized (area), RGB, divided by `scale`, less `mean`, over `std`."""
    import cv2

    height, width = size
    batch = []
    for crop in crops:
        rgb = cv2.cvtColor(
            cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
        ).astype(np.float32)
        if scale != 1.0:
            rgb /= scale
        batch.append((rgb - mean) / std)
    return np.stack(batch).transpose(0, 3, 1, 2).astype(np.float32)


def ranked(scores: np.ndarray, labels: list[str], top_n: int = 5) -> list[list[dict]]:
    """Each row's best `top_n` as {label, score}; rows that are not probabilities are softmaxed."""
    if not np.allclose(scores.sum(1), 1.0, atol=1e-3) or (scores < 0).any():
        scores = _softmax(scores)
    answers = []
    for row in scores:
        best = np.argsort(-row)[:top_n]
        answers.append(
            [
                {"label": labels[i] if i < len(labels) else str(i), "score": round(float(row[i]), 4)}
                for i in best
            ]
        )
    return answers


def boxes_above(
    xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray | None, labels: list[str], threshold: float
) -> list[dict]:
    """Boxes (fractions of the frame, clipped) whose score reaches `threshold`, as a detector answers."""
    boxes = []
    for i in np.nonzero(scores >= threshold)[0]:
        x0, y0, x1, y1 = np.clip(xyxy[i], 0, 1).tolist()
        if x1 > x0 and y1 > y0:
            label = "seed"
            if classes is not None and labels:
                index = int(classes[i])
                label = labels[index] if 0 <= index < len(labels) else str(index)
            boxes.append(
                {
                    "box": {"topX": x0, "topY": y0, "bottomX": x1, "bottomY": y1},
                    "label": label,
                    "score": round(float(scores[i]), 4),
                }
            )
    return boxes


@functools.lru_cache(maxsize=16)
def load_onnx_model(endpoint: str) -> OnnxModel:
    """The model behind an endpoint, loaded once per process (sessions are read-only)."""
    path = model_path(endpoint)
    if not path.exists():
        raise OnnxModelError(f"ONNX model not found: {path}")
    return OnnxModel(path)
