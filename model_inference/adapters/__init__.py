"""One adapter per model protocol, chosen by data: the model's `protocol` (model_version.data)
when set, else its name as in the original's table (spec §7.1). A new model with a known
protocol needs a database row, not code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kernel.errors import ModelError

from ..models import ModelSpec
from .base import RunContext, Work
from .builtin import builtin_classifier, builtin_detector
from .classifiers import ensemble_a, ensemble_b, swin
from .detectors import seed_detector, six_seeds
from .onnx import onnx_classifier, onnx_detector
from .open_inference import open_inference
from .test_model import test_model

Adapter = Callable[[ModelSpec, Work, RunContext], Awaitable[None]]

PROTOCOLS: dict[str, Adapter] = {
    "seed-detector": seed_detector,
    "swin": swin,
    "ensemble-a": ensemble_a,
    "ensemble-b": ensemble_b,
    "six-seeds": six_seeds,
    "test": test_model,
    "builtin-detector": builtin_detector,
    "builtin-classifier": builtin_classifier,
    "onnx-detector": onnx_detector,
    "onnx-classifier": onnx_classifier,
    "open-inference": open_inference,
}

# protocols whose models run in this process on the decoded picture: their pipelines measure the
# seeds on it always (the pixels are there); remote ones only when a scale asks for millimetres
IN_PROCESS = frozenset({"builtin-detector", "builtin-classifier", "onnx-detector", "onnx-classifier"})

NAME_TO_PROTOCOL = {
    "seed-detector-1": "seed-detector",
    "seed-detector-rcnn-1": "seed-detector",
    "local-seed-detector-rcnn": "seed-detector",
    "swinv1-base-dataaugv2-1": "swin",
    "swinv1-base-dataaugv2-2": "swin",
    "swin-22-spp": "swin",
    "local-swin-15-spp": "swin",
    "local-swin-22-spp": "swin",
    "swin-27-spp": "ensemble-a",
    "local-swin-27-spp": "ensemble-a",
    "swin-15e-spp": "ensemble-b",
    "local-swin-15e-spp": "ensemble-b",
    "m-14of15seeds-6seedsmag": "six-seeds",
    "test": "test",
    "test_model1": "test",
    "builtin-seed-detector": "builtin-detector",
    "builtin-seed-classifier": "builtin-classifier",
}


def protocol_of(model: ModelSpec) -> str | None:
    return model.protocol or NAME_TO_PROTOCOL.get(model.name)


def adapter_for(model: ModelSpec) -> Adapter:
    adapter = PROTOCOLS.get(protocol_of(model) or "")
    if adapter is None:
        known = ", ".join(sorted(PROTOCOLS))
        raise ModelError(
            f"model {model.name} has no known protocol (set data.protocol to one of: {known})", 400
        )
    return adapter


__all__ = ["IN_PROCESS", "PROTOCOLS", "RunContext", "Work", "adapter_for", "protocol_of"]
