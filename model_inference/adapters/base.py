"""What adapters share: the work passed from model to model and the per-request context."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel.errors import ModelError, UpstreamError
from kernel.text import loggable

from ..cpu import run_cpu
from ..http import ModelClient, call_model
from ..models import ModelSpec
from ..pixels import crop_boxes, crop_fraction, decode, decode_and_crop, decode_bgr, encode_crops

if TYPE_CHECKING:
    import numpy as np

    from ..local.learned import LearnedClassifier

CROP_SHARES = os.cpu_count() or 2  # runs a decoded picture's crops are split into: one per pool thread


@dataclass
class Budget:
    """A count of slots, taken and given back on the event loop (so no lock is needed)."""

    size: int
    used: int = 0

    def take(self) -> bool:
        if self.used >= self.size:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used -= 1


@dataclass
class Work:
    """Model k reads what model k-1 left here (the original's cache_json_result chain)."""

    image_b64: str  # the picture in plain base64 (alphabet and padding only: JSON-safe)
    image: bytes  # the decoded picture
    result: list[dict] | None = None  # [ {"boxes": [...], "filename": ...} ], once a model answered
    crops: list[str] = field(default_factory=list)  # base64 of each box's crop, box order
    release_slot: Callable[[], None] | None = None  # returns an early-decode slot, once
    pixels: np.ndarray | None = None  # the decoded picture (BGR) when a built-in model decoded it

    def release(self) -> None:
        if self.release_slot is not None:
            release, self.release_slot = self.release_slot, None
            release()


@dataclass
class RunContext:
    client: ModelClient
    pipeline: str
    executor: Executor | None = None  # for image work; None: asyncio's default pool
    early_decodes: Budget | None = None  # bound on pictures decoded ahead of their boxes
    local: LearnedClassifier | None = None  # the built-in classifier
    crop_concurrency: int = 16
    observe: Callable[[str, float, str | None], None] | None = None  # each step's time and failure

    def run_cpu(self, function, *args) -> asyncio.Future:
        return run_cpu(self.executor, function, *args)

    async def pixels(self, work: Work):
        """The picture decoded for the in-process models, once per request."""
        if work.pixels is None:
            work.pixels = await self.run_cpu(decode_bgr, work.image)
        return work.pixels

    async def label_boxes(self, model: ModelSpec, work: Work, classify) -> None:
        """Label the detector's boxes with `classify(boxes)`, an awaitable answering the
        classifier protocol's top-N list per box."""
        boxes = require_boxes(model, work)
        assert work.result is not None  # require_boxes found its boxes
        work.result[0].setdefault("filename", "default_filename")
        if not boxes:
            return
        for box, answer in zip(boxes, await classify(boxes)):
            box.update(label=answer[0]["label"], score=answer[0]["score"], topN=answer)

    async def label_boxes_in_process(self, model: ModelSpec, work: Work, classify) -> None:
        """Crop every box from the decoded picture and label it with `classify(crops)`, an
        awaitable answering the classifier protocol's top-N list per crop."""

        async def cropped(boxes: list[dict]) -> list[list[dict]]:
            pixels = await self.pixels(work)
            return await classify([crop_fraction(pixels, box["box"]) for box in boxes])

        await self.label_boxes(model, work, cropped)

    async def call(self, model: ModelSpec, body: bytes):
        return await call_model(self.client, model, body, self.pipeline)

    def decode_early(self, work: Work) -> asyncio.Future | None:
        """Start decoding while the detector works, if one of the few early slots is free."""
        if self.early_decodes is None or not self.early_decodes.take():
            return None
        work.release_slot = self.early_decodes.give
        return run_cpu(self.executor, decode, work.image)

    async def crop(self, work: Work, decoded: asyncio.Future | None) -> None:
        assert work.result is not None  # a detector answered
        boxes = work.result[0]["boxes"]
        try:
            if decoded is None:  # decode and crop in one go: no decoded picture waits in the queue
                work.crops = await self.run_cpu(decode_and_crop, work.image, boxes)
            else:
                work.crops = await self.crop_decoded(await decoded, boxes)
        except ModelError:
            raise
        except Exception as error:  # truncated or corrupt beyond its header
            raise ModelError(f"the image could not be decoded: {type(error).__name__}", 400) from error
        finally:
            work.release()

    async def crop_decoded(self, pixels, boxes: list[dict]) -> list[str]:
        """The crops of a picture decoded already, encoded in up to CROP_SHARES runs at once on
        the pool: a lone request's crops take a core each (half the time on 2), box order kept."""
        if len(boxes) < 2:
            return await self.run_cpu(crop_boxes, pixels, boxes)
        size = -(-len(boxes) // CROP_SHARES)
        runs = [boxes[i : i + size] for i in range(0, len(boxes), size)]
        encoded = await asyncio.gather(*(self.run_cpu(crop_boxes, pixels, run) for run in runs))
        return [crop for run in encoded for crop in run]

    async def each_crop(self, model: ModelSpec, indices: list[int], work: Work) -> list:
        """Classify the given crops concurrently, at most `crop_concurrency` calls at once."""
        if not work.crops and work.pixels is not None:  # after a built-in detector
            assert work.result is not None  # it answered
            work.crops = await self.run_cpu(encode_crops, work.pixels, work.result[0]["boxes"])
        bound = asyncio.Semaphore(self.crop_concurrency)

        async def one(i: int):
            async with bound:
                return await self.call(model, work.crops[i].encode("ascii"))

        return await asyncio.gather(*(one(i) for i in indices))


def boxes_of(model: ModelSpec, answer) -> list[dict]:
    """Check a detector answer: boxes with four coordinates, fractions of the frame."""
    if not isinstance(answer, dict) or not isinstance(answer.get("boxes"), list):
        raise UpstreamError(
            f"model {model.name} answered an unexpected shape (expected an object with boxes)"
        )
    for entry in answer["boxes"]:
        box = entry.get("box") if isinstance(entry, dict) else None
        if not isinstance(box, dict) or not all(
            isinstance(box.get(k), (int, float)) for k in ("topX", "topY", "bottomX", "bottomY")
        ):
            raise UpstreamError(f"model {model.name} answered a box without its four coordinates")
        if not all(0 <= box[k] <= 1 for k in ("topX", "topY", "bottomX", "bottomY")):  # a model's fault
            raise UpstreamError(f"model {model.name} returned box coordinates outside 0..1: {loggable(box)}")
        if box["topX"] > box["bottomX"] or box["topY"] > box["bottomY"]:
            raise UpstreamError(f"model {model.name} returned an inverted box: {loggable(box)}")
        entry.setdefault("label", "seed")
        entry.setdefault("score", 0.0)
    return answer["boxes"]


def predictions_of(model: ModelSpec, answer) -> list[dict]:
    """Check a classifier answer: a non-empty list of {label, score}, best first."""
    if (
        not isinstance(answer, list)
        or not answer
        or not all(
            isinstance(p, dict)
            and isinstance(p.get("label"), str)
            and isinstance(p.get("score"), (int, float))
            for p in answer
        )
    ):
        raise UpstreamError(
            f"model {model.name} answered an unexpected shape (expected a list of label/score)"
        )
    return answer


def require_boxes(model: ModelSpec, work: Work) -> list[dict]:
    if not work.result or not isinstance(work.result[0], dict) or "boxes" not in work.result[0]:
        raise ModelError(f"model {model.name} must follow a seed detector in its pipeline", 400)
    return work.result[0]["boxes"]
