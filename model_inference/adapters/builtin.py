"""The built-in models as pipeline steps: the classical detector and the learning classifier."""

from __future__ import annotations

from ..models import ModelSpec
from .base import RunContext, Work

NEIGHBOURS_KEY = "_neighbours"  # internal: never saved nor answered


async def builtin_detector(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    from ..local.detector import detect_seeds  # OpenCV and scikit-image load on first use

    boxes = await ctx.run_cpu(detect_seeds, await ctx.pixels(work))
    work.result = [{"filename": "default_filename", "boxes": boxes}]


async def builtin_classifier(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Labels with their prediction sets and, under NEIGHBOURS_KEY, the nearest examples (the
    inference use case turns them into the caller's `evidence`)."""
    local = ctx.local
    assert local is not None  # the inference use case hands the built-in classifier in
    answers: list = []

    async def classify(crops: list) -> list[list[dict]]:
        answers.extend(await local.answer(crops))
        return [answer.top_n for answer in answers]

    await ctx.label_boxes_in_process(model, work, classify)
    boxes = work.result[0]["boxes"] if work.result else []
    for box, answer in zip(boxes, answers):
        box["prediction_set"] = answer.prediction_set
        box[NEIGHBOURS_KEY] = [[example, similarity] for example, similarity in answer.neighbours]
