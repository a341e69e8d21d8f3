"""Run a pipeline on one picture and post-process the answer (spec §6 steps 9-11)."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import pybase64

from kernel.errors import ModelError, ServiceError, UpstreamError

from .adapters import IN_PROCESS, RunContext, Work, adapter_for, protocol_of
from .models import Pipeline
from .postprocess import process_inference_results


@dataclass(frozen=True)
class Processing:
    """How the models' answer becomes the saved result (the request's part of the cache key)."""

    image_dims: list[float]  # boxes are given in pixels of this size
    area_ratio: float = 0.5
    color_format: str = "hex"
    # measure the seeds of a pipeline of remote models (HTTP, Open Inference): a scale is known
    # (~10 ms of CPU and more); in-process models' pipelines always measure on their pixels
    measure: bool = False
    scale_bar_mm: float | None = None  # the millimetres come from the picture's scale bar


async def run_pipeline(
    pipeline: Pipeline,
    image: bytes,
    context: RunContext,
    processing: Processing,
    image_b64: str | None = None,
) -> dict:
    """The processed result (boxes in pixels, colours, counts, models), ready to be saved."""
    adapters = [adapter_for(model) for model in pipeline.models]  # refuse unknown protocols first
    if image_b64 is None:  # what HTTP models receive: the client's plain base64, else ours
        image_b64 = pybase64.b64encode(image).decode("ascii")
    work = Work(image_b64=image_b64, image=image)
    for model, adapter in zip(pipeline.models, adapters):
        await timed(model.name, adapter(model, work, context), context.observe)
        if not _finite(work.result):  # in-process models too: never stored, never sent as JSON
            raise UpstreamError(f"model {model.name} answered a number that is not finite (NaN or Infinity)")
    result = work.result
    if not isinstance(result, list) or not result or not isinstance(result[0], dict):
        raise ModelError(
            f"Error while processing inference results :\n pipeline {pipeline.name} produced no result"
        )
    if any("label" not in box or "score" not in box for box in result[0].get("boxes") or []):
        raise ModelError(
            f"Error while processing inference results :\n pipeline {pipeline.name} left boxes unlabelled"
        )
    bar_mm = processing.scale_bar_mm
    in_process = work.pixels is not None and any(protocol_of(m) in IN_PROCESS for m in pipeline.models)
    if processing.measure or bar_mm or in_process:
        await context.run_cpu(measure_result, work, result[0].get("boxes") or [], bar_mm)
    dims, ratio, colors = processing.image_dims, processing.area_ratio, processing.color_format
    processed = process_inference_results(result, dims, ratio, colors)[0]
    processed["models"] = [{"name": m.name, "version": m.version} for m in pipeline.models]
    processed.setdefault("filename", "default_filename")
    return processed


async def timed(model: str, step: Awaitable[None], observe) -> None:
    """Run one pipeline step, telling `observe` its time and, when it fails, why."""
    started = time.perf_counter()
    try:
        await step
    except ServiceError as error:
        if observe is not None:
            observe(model, time.perf_counter() - started, failure_cause(error))
        raise
    if observe is not None:
        observe(model, time.perf_counter() - started, None)


def failure_cause(error: ServiceError) -> str:
    """A short, bounded label for a failed step (metrics group by it)."""
    message = error.message
    for words, cause in (
        ("did not answer in time", "timeout"),
        ("unreachable", "unreachable"),
        ("closed the connection", "closed"),
        ("invalid endpoint", "bad_endpoint"),
        ("(HTTP ", "http_status"),
        ("could not be decoded", "bad_picture"),
    ):
        if words in message:
            return cause
    return "bad_answer" if isinstance(error, UpstreamError) else "error"


def measure_result(work: Work, boxes: list[dict], scale_bar_mm: float | None = None) -> None:
    """Each box's seed measured in the picture's pixels (model_inference/measure.py), from the
    pixels or crops the models already decoded when there are some; then, with `scale_bar_mm`,
    in mm by the picture's scale bar."""
    if not boxes or not isinstance(boxes[0].get("box"), dict):
        return
    from .measure import measure_boxes, measure_encoded_crops, scale_from_bar
    from .pixels import decode_bgr

    pixels = work.pixels
    from_crops = pixels is None and len(work.crops) == len(boxes)
    if not (from_crops and measure_encoded_crops([base64.b64decode(c) for c in work.crops], boxes)):
        pixels = pixels if pixels is not None else decode_bgr(work.image)
        measure_boxes(pixels, boxes)
    if scale_bar_mm:
        scale_from_bar(pixels if pixels is not None else decode_bgr(work.image), boxes, scale_bar_mm)


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True
