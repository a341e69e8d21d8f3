"""User-supplied ONNX models as pipeline steps (see model_inference.local.onnx_models)."""

from __future__ import annotations

from kernel.errors import ModelError

from ..models import ModelSpec
from .base import RunContext, Work, boxes_of


def _model(spec: ModelSpec):
    from ..local.onnx_models import OnnxModelError, load_onnx_model  # ONNX Runtime loads on first use

    try:
        return load_onnx_model(spec.endpoint)
    except OnnxModelError as error:
        raise ModelError(f"model {spec.name}: {error}", 503) from error


async def onnx_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    onnx = _model(model)
    answer = {"filename": "default_filename", "boxes": await ctx.run_cpu(onnx.detect, await ctx.pixels(work))}
    boxes_of(model, answer)
    work.result = [answer]


async def onnx_classifier(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    onnx = _model(model)
    await ctx.label_boxes_in_process(model, work, lambda crops: ctx.run_cpu(onnx.classify, crops))
