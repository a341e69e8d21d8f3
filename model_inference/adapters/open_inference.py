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
    all of a picture's crops in requests of at most `max_batch`, or, when its record names
    `boxes_input`, gets the picture and the boxes and crops them itself."""
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
    if settings.input.datatype == "BYTES":  # the server decodes: so does this worker only for
        # boxes in pixels of the picture, to know its size as a browser shows it
        pictures_size = settings.box_format == "pixels" and settings.input.size is None
        shape = (await ctx.pixels(work)).shape if pictures_size else ()
        batch = [work.image]
    else:
        pixels = await ctx.pixels(work)
        shape, batch = pixels.shape, await ctx.run_cpu(oip.prepared, settings, [pixels])
    tensors = await oip.infer(ctx.client, model, batch)
    labels = await oip.labels_for(ctx.client, model) if "labels" in settings.outputs else ()
    answer = {
        "filename": "default_filename",
        "boxes": oip.detector_boxes(model, tensors, shape, labels),
    }
    boxes_of(model, answer)
    work.result = [answer]


async def _classify(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    settings = oip.options(model)
    labels = await oip.labels_for(ctx.client, model)
    if settings.boxes_input is not None:
        await _classify_on_server(model, work, ctx, labels)
        return

    async def classify(crops: list) -> list[list[dict]]:
        answers: list[list[dict]] = []
        for start in range(0, len(crops), settings.max_batch):
            part = crops[start : start + settings.max_batch]
            batch = await ctx.run_cpu(oip.prepared, settings, part)
            tensors = await oip.infer(ctx.client, model, batch)
            answers += oip.classifier_answers(model, tensors, len(part), labels)
        return answers

    await ctx.label_boxes_in_process(model, work, classify)


async def _classify_on_server(model: ModelSpec, work: Work, ctx: RunContext, labels) -> None:
    """The server crops: the encoded picture and up to `max_batch` boxes a request; nothing is
    decoded here."""
    import numpy as np

    settings = oip.options(model)

    async def classify(boxes: list[dict]) -> list[list[dict]]:
        corners = np.array(
            [[b["box"][k] for k in ("topX", "topY", "bottomX", "bottomY")] for b in boxes], np.float32
        ).reshape(-1, 4)
        answers: list[list[dict]] = []
        for start in range(0, len(corners), settings.max_batch):
            part = corners[start : start + settings.max_batch]
            tensors = await oip.infer(ctx.client, model, [work.image], part)
            answers += oip.classifier_answers(model, tensors, len(part), labels)
        return answers

    await ctx.label_boxes(model, work, classify)
