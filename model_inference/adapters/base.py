"""What adapters share: the work passed from model to model and the per-request context."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from ..errors import ModelError, UpstreamError
from ..http import call_model
from ..imaging import crop_boxes
from ..models import ModelSpec


@dataclass
class Work:
    """Model k reads what model k-1 left here (the original's cache_json_result chain)."""

    image_b64: str             # the picture as sent, base64 after the data URL's comma
    image: bytes               # the decoded picture
    result: list | None = None  # [ {"boxes": [...], "filename": ...} ]
    crops: list[str] = field(default_factory=list)  # base64 of each box's crop, box order


@dataclass
class RunContext:
    client: httpx.AsyncClient
    pipeline: str
    crop_concurrency: int = 16

    async def call(self, model: ModelSpec, body: bytes):
        return await call_model(self.client, model, body, self.pipeline)

    async def crop(self, work: Work) -> None:
        work.crops = await asyncio.to_thread(crop_boxes, work.image, work.result[0]["boxes"])

    async def each_crop(self, model: ModelSpec, indices: list[int], work: Work) -> list:
        """Classify the given crops concurrently, at most `crop_concurrency` calls at once."""
        bound = asyncio.Semaphore(self.crop_concurrency)

        async def one(i: int):
            async with bound:
                return await self.call(model, work.crops[i].encode("ascii"))

        return await asyncio.gather(*(one(i) for i in indices))


def boxes_of(model: ModelSpec, answer) -> list[dict]:
    """Check a detector answer: boxes with four coordinates, fractions of the frame."""
    if not isinstance(answer, dict) or not isinstance(answer.get("boxes"), list):
        raise UpstreamError(f"model {model.name} answered an unexpected shape (expected an object with boxes)")
    for entry in answer["boxes"]:
        box = entry.get("box") if isinstance(entry, dict) else None
        if not isinstance(box, dict) or not all(isinstance(box.get(k), (int, float)) for k in
                                                ("topX", "topY", "bottomX", "bottomY")):
            raise UpstreamError(f"model {model.name} answered a box without its four coordinates")
        if not all(0 <= box[k] <= 1 for k in box if k in ("topX", "topY", "bottomX", "bottomY")):
            raise ModelError(f"model {model.name} returned box coordinates outside 0..1: {box}", 400)
        if box["topX"] > box["bottomX"] or box["topY"] > box["bottomY"]:
            raise ModelError(f"model {model.name} returned an inverted box: {box}", 400)
        entry.setdefault("label", "seed")
        entry.setdefault("score", 0.0)
    return answer["boxes"]


def predictions_of(model: ModelSpec, answer) -> list[dict]:
    """Check a classifier answer: a non-empty list of {label, score}, best first."""
    if not isinstance(answer, list) or not answer or not all(
        isinstance(p, dict) and isinstance(p.get("label"), str) and isinstance(p.get("score"), (int, float))
        for p in answer
    ):
        raise UpstreamError(f"model {model.name} answered an unexpected shape (expected a list of label/score)")
    return answer


def require_boxes(model: ModelSpec, work: Work) -> list[dict]:
    if not work.result or not isinstance(work.result[0], dict) or "boxes" not in work.result[0]:
        raise ModelError(f"model {model.name} must follow a seed detector in its pipeline", 400)
    return work.result[0]["boxes"]
