"""User-supplied ONNX models as pipeline steps (see model_inference.local.onnx_models)."""
from __future__ import annotations

from ..errors import ModelError
from ..imaging import crop_fraction, decode_bgr
from ..models import ModelSpec
from .base import RunContext, Work, boxes_of, require_boxes


def _model(spec: ModelSpec):
    from ..local.onnx_models import (  # ONNX Runtime loads on first use
        OnnxModelError,
        load_onnx_model,
    )

    try:
        return load_onnx_model(spec.endpoint)
    except OnnxModelError as error:
        raise ModelError(f"model {spec.name}: {error}", 503) from error


async def onnx_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    onnx = _model(model)
    if work.pixels is None:
        work.pixels = await ctx.run_cpu(decode_bgr, work.image)
    answer = {"filename": "default_filename", "boxes": await ctx.run_cpu(onnx.detect, work.pixels)}
    boxes_of(model, answer)
    work.result = [answer]


async def onnx_classifier(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    onnx = _model(model)
    boxes = require_boxes(model, work)
    work.result[0].setdefault("filename", "default_filename")
    if not boxes:
        return
    if work.pixels is None:
        work.pixels = await ctx.run_cpu(decode_bgr, work.image)
    crops = [crop_fraction(work.pixels, box["box"]) for box in boxes]
    for box, answer in zip(boxes, await ctx.run_cpu(onnx.classify, crops)):
        box.update(label=answer[0]["label"], score=answer[0]["score"], topN=answer)
