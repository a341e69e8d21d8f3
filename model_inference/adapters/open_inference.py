"""Detector and classifier steps served over the Open Inference Protocol (model_inference.open_inference)."""

from __future__ import annotations

import logging

from kernel.errors import UpstreamError

from .. import open_inference as oip
from ..models import ModelSpec
from .base import RunContext, Work, boxes_of

log = logging.getLogger(__name__)


async def open_inference(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """A detector (the record's task says so) finds the boxes; a classifier labels every crop,
    all of a picture's crops in requests of at most `max_batch`."""
    try:
        if oip.kind_of(model.task) == "detector":
            await _detect(model, work, ctx)
        else:
            await _classify(model, work, ctx)
    except UpstreamError as error:
        log.error("pipeline %s, model %s: %s", ctx.pipeline, model.name, error.args[0])
        raise


async def _detect(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    settings = oip.options(model)
    pixels = await ctx.pixels(work)
    batch = (
        [work.image]
        if settings.input.datatype == "BYTES"
        else await ctx.run_cpu(oip.prepared, settings, [pixels])
    )
    tensors = await oip.infer(ctx.client, model, batch)
    labels = await oip.labels_for(ctx.client, model) if "labels" in settings.outputs else ()
    answer = {
        "filename": "default_filename",
        "boxes": oip.detector_boxes(model, tensors, pixels.shape, labels),
    }
    boxes_of(model, answer)
    work.result = [answer]


async def _classify(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    settings = oip.options(model)
    labels = await oip.labels_for(ctx.client, model)

    async def classify(crops: list) -> list[list[dict]]:
        answers: list[list[dict]] = []
        for start in range(0, len(crops), settings.max_batch):
            part = crops[start : start + settings.max_batch]
            batch = await ctx.run_cpu(oip.prepared, settings, part)
            tensors = await oip.infer(ctx.client, model, batch)
            answers += oip.classifier_answers(model, tensors, len(part), labels)
        return answers

    await ctx.label_boxes_in_process(model, work, classify)
