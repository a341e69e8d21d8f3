"""The built-in models as pipeline steps: the classical detector and the learning classifier."""

from __future__ import annotations

from ..models import ModelSpec
from .base import RunContext, Work


async def builtin_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    from ..local.detector import detect_seeds  # OpenCV and scikit-image load on first use

    boxes = await ctx.run_cpu(detect_seeds, await ctx.pixels(work))
    work.result = [{"filename": "default_filename", "boxes": boxes}]


async def builtin_classifier(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    assert ctx.local is not None  # the inference use case hands the built-in classifier in
    await ctx.label_boxes_in_process(model, work, ctx.local.classify)
