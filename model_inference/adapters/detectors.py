"""Detectors: `input_data` JSON carrying the whole picture (spec §7.3, §7.8)."""

from __future__ import annotations

import json
import re

from kernel.errors import UpstreamError

from ..models import ModelSpec
from .base import RunContext, Work, boxes_of

_JSON_SAFE = re.compile(r"[A-Za-z0-9+/=]*")


def input_data(image_b64: str, plain: bool = False) -> bytes:
    """The detector body. Plain base64 needs no JSON escaping, so it is spliced in as bytes (no
    0.5 MB intermediate string; `plain`: the caller knows it is, which saves a 1 ms scan);
    anything else goes through json.dumps."""
    if plain or _JSON_SAFE.fullmatch(image_b64):
        return (
            b'{"input_data": {"columns": ["image"], "index": [0], "data": ["' + image_b64.encode() + b'"]}}'
        )
    return json.dumps({"input_data": {"columns": ["image"], "index": [0], "data": [image_b64]}}).encode()


async def seed_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Boxes of seeds; every box cropped for the classifier that follows. The picture is
    decoded while the detector works."""
    decoded = ctx.decode_early(work)
    try:
        answer = await ctx.call(model, input_data(work.image_b64, plain=True))
        boxes_of(model, answer)
    except BaseException:
        work.release()
        raise
    work.result = [answer]
    await ctx.crop(work, decoded)


async def six_seeds(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Detection and classification in one model: its answer is the result as is."""
    answer = await ctx.call(model, input_data(work.image_b64, plain=True))
    if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
        raise UpstreamError(f"model {model.name} answered an unexpected shape (expected a list of results)")
    boxes_of(model, answer[0])
    answer[0].setdefault("filename", "default_filename")
    work.result = answer
