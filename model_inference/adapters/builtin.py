"""The built-in models as pipeline steps: the classical detector and the learning classifier."""
from __future__ import annotations

from ..imaging import crop_fraction, decode_bgr
from ..models import ModelSpec
from .base import RunContext, Work, require_boxes


async def builtin_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    from ..local.detector import (
        detect_seeds,  # OpenCV and scikit-image load on first use
    )

    work.pixels = await ctx.run_cpu(decode_bgr, work.image)
    boxes = await ctx.run_cpu(detect_seeds, work.pixels)
    work.result = [{"filename": "default_filename", "boxes": boxes}]


async def builtin_classifier(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    boxes = require_boxes(model, work)
    work.result[0].setdefault("filename", "default_filename")
    if not boxes:
        return
    if work.pixels is None:  # after an HTTP detector
        work.pixels = await ctx.run_cpu(decode_bgr, work.image)
    crops = [crop_fraction(work.pixels, box["box"]) for box in boxes]
    for box, answer in zip(boxes, await ctx.local.classify(crops)):
        box.update(label=answer[0]["label"], score=answer[0]["score"], topN=answer)
