"""Classifiers: one POST per crop with the crop's raw base64 as the body (spec §7.4-§7.7)."""

from __future__ import annotations

from ..models import ModelSpec
from .base import RunContext, Work, predictions_of, require_boxes

AMBROSIA = ("012 Ambrosia artemisiifolia", "013 Ambrosia trifida", "014 Ambrosia psilostachya")


def strip_class_number(label: str) -> str:
    """ "012 Ambrosia artemisiifolia" -> "Ambrosia artemisiifolia" (no space: "")."""
    return label.split(" ", 1)[1] if " " in label else ""


async def _classify_all(model: ModelSpec, work: Work, ctx: RunContext, strip: bool) -> None:
    boxes = require_boxes(model, work)
    answers = await ctx.each_crop(model, list(range(len(boxes))), work)
    for box, answer in zip(boxes, answers):
        predictions = predictions_of(model, answer)
        if strip:
            box["label"] = strip_class_number(predictions[0]["label"])
            box["topN"] = [
                {"label": strip_class_number(p["label"]), "score": p["score"]} for p in predictions
            ]
        else:
            box["label"] = predictions[0]["label"]
            box["topN"] = predictions
        box["score"] = predictions[0]["score"]
    assert work.result is not None  # require_boxes found its boxes
    work.result[0]["filename"] = "default_filename"


async def swin(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    await _classify_all(model, work, ctx, strip=True)


async def ensemble_a(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Like swin but labels keep their class number, for ensemble B to route on."""
    await _classify_all(model, work, ctx, strip=False)


async def ensemble_b(model: ModelSpec, work: Work, ctx: RunContext) -> None:
    """Re-classify only the crops ensemble A labelled as one of the three Ambrosia classes."""
    boxes = require_boxes(model, work)
    chosen = [i for i, box in enumerate(boxes) if box.get("label") in AMBROSIA]
    for i, answer in zip(chosen, await ctx.each_crop(model, chosen, work)):
        predictions = predictions_of(model, answer)
        boxes[i].update(label=predictions[0]["label"], score=predictions[0]["score"], topN=predictions)
