"""Detectors: `input_data` JSON carrying the whole picture (spec §7.3, §7.8)."""
from __future__ import annotations

import json

from ..errors import UpstreamError
from ..models import ModelSpec
from .base import RunContext, Work, boxes_of


def input_data(image_b64: str) -> bytes:
    return json.dumps({"input_data": {"columns": ["image"], "index": [0], "data": [image_b64]}}).encode()


async def seed_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Boxes of seeds; every box cropped for the classifier that follows."""
    answer = await ctx.call(model, input_data(work.image_b64))
    boxes_of(model, answer)
    work.result = [answer]
    await ctx.crop(work)


async def six_seeds(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Detection and classification in one model: its answer is the result as is."""
    answer = await ctx.call(model, input_data(work.image_b64))
    if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
        raise UpstreamError(f"model {model.name} answered an unexpected shape (expected a list of results)")
    boxes_of(model, answer[0])
    answer[0].setdefault("filename", "default_filename")
    work.result = answer
