"""The /inf use case (spec §6): check the picture and the user, run the pipeline, post-process,
save the picture with its inference; and the same for each picture of a classify-folder job.
Built once per process with its HTTP client, CPU pool and the built-in classifier."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from kernel.errors import ModelError, ServiceError
from kernel.tasks import ClassifyPicture
from model_inference.adapters import RunContext, protocol_of
from model_inference.adapters.base import Budget
from model_inference.adapters.builtin import NEIGHBOURS_KEY
from model_inference.cpu import run_cpu
from model_inference.http import ModelClient
from model_inference.local.learned import LearnedClassifier, evidence
from model_inference.measure import in_millimetres
from model_inference.models import Pipeline
from model_inference.picture_checks import (
    Picture,
    check_picture,
    checked_from_markers,
    detect_mime,
    read_data_url,
)
from model_inference.registry import PipelineRegistry
from model_inference.runner import Processing, run_pipeline
from storage import Storage
from storage.base import sha256

log = logging.getLogger("model_inference")
T = TypeVar("T")


class ImageWarning(UserWarning):
    """An /inf picture without a validator from /image-validation (advisory, as in the original)."""


@dataclass
class InferenceOrder:
    """What /inf was asked, its values checked (api.request_models.InferenceBody)."""

    user: Any
    folder: Any
    image: str  # the data URL
    image_dims: list[float]
    model_name: Any
    validator: Any = None
    area_ratio: float = 0.5
    color_format: str = "hex"
    pixels_per_mm: float | None = None
    device: str | None = None
    filename: str | None = None  # the client's name for the picture


class InferenceService:
    def __init__(
        self,
        storage: Storage,
        pipelines: PipelineRegistry,
        http: ModelClient,
        cpu: Executor,
        learner: LearnedClassifier,
        max_concurrent: int,
        cache_results: bool = True,
        pixels_per_mm: float | None = None,
        scale_bar_mm: float | None = None,
        observe: Callable[[str, float, str | None], None] | None = None,
        device_scales: dict[str, float] | None = None,
        classifier_for: Callable[[object], Awaitable[LearnedClassifier]] | None = None,
    ):
        self.storage, self.pipelines, self.http, self.cpu, self.learner = (
            storage,
            pipelines,
            http,
            cpu,
            learner,
        )
        self.cache_results = cache_results  # NACHET_RESULT_CACHE
        self.pixels_per_mm = pixels_per_mm  # NACHET_PIXELS_PER_MM: this device's calibration
        self.scale_bar_mm = scale_bar_mm  # NACHET_SCALE_BAR_MM: the length of its drawn scale bar
        self.device_scales = device_scales or {}  # NACHET_DEVICE_PIXELS_PER_MM: per microscope
        self.observe = observe  # (model, seconds, failure cause or None) of each pipeline step
        # the built-in classifier that answers a user (learning.Learning.for_user: the shared one,
        # or the user's private layer in reviewed mode)
        self.classifier_for = classifier_for
        # /inf requests processed at once by this worker; the others wait before their body is read
        self._slots = asyncio.Semaphore(max_concurrent)
        # pictures decoded while their detector works: each holds ~6 MB of pixels until cropped,
        # so only a few requests at a time get the head start
        self._early_decodes = Budget(4)

    def run_cpu(self, function, *args) -> asyncio.Future:
        """`function(*args)` on this service's CPU pool; a future, so it can be awaited later."""
        return run_cpu(self.cpu, function, *args)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of this worker's inference slots (bounds the memory of requests in progress)."""
        async with self._slots:
            yield

    async def infer(self, order: InferenceOrder) -> dict:
        """The saved inference (spec §6.1); nothing is written unless every model answered."""
        pipeline = self.pipelines.get(order.model_name)
        if pipeline is None:  # checked when the body was parsed; removed by a reload since
            raise ModelError(f"model {order.model_name} not found")
        scale = self.scale_for(order.pixels_per_mm, order.device)  # an unknown device: 400 first
        url = read_data_url(order.image)
        data = url.data
        order.image = ""  # ~0.5 MB: the decoded bytes (and the base64 models are sent) are what is kept
        # the sha256 (the picture row's, the result cache's key) is computed on the pool, awaited
        # where it is needed: when the cache is off, not before the rows are written
        hashing = self.run_cpu(sha256, data)
        processing = self.processing(order.image_dims, scale, order.area_ratio, order.color_format)
        picture = await self.checked_picture(data)  # its error comes first, then the user's
        if picture is not None:
            warn_if_other_aspect(order.image_dims, picture)
        # the models start first and the user and folder are looked up while the detector works
        # (its ~50 ms hide that round trip); a refused user or folder cancels them, unwritten
        learner = await self.learner_for(pipeline, order.user)
        running = self.results(pipeline, data, processing, url.plain_base64, hashing, learner)
        async with under_way(running) as answered:
            target = await self.storage.inference_target(order.user, order.folder, order.validator)
            async with self.storage.saving_inference(target, order.folder, data) as save:
                processed = await answered
                if not target.validated:
                    warnings.warn("this picture was not validate", ImageWarning, stacklevel=1)
                with_scale(processed, scale)
                self.with_evidence(processed, target.user["id"], learner)
                digest = await hashing
                processed["filename"] = (
                    order.filename or named_by_model(processed) or picture_name(digest, url.header)
                )
                return await save(processed, pipeline.id, order.image_dims, digest)

    async def learner_for(self, pipeline: Pipeline, user: object) -> LearnedClassifier | None:
        """The built-in classifier that answers `user` through `pipeline` (None: it uses none)."""
        if not any(protocol_of(m) == "builtin-classifier" for m in pipeline.models):
            return None
        return await self.classifier_for(user) if self.classifier_for is not None else self.learner

    async def checked_picture(self, data: bytes) -> Picture | None:
        """The picture's check: a JPEG on the loop (its markers only: 0.07 ms, less than the trip
        to a pool thread the busy loop would hand the GIL to late), other formats, which are
        decoded, in a thread."""
        if not data:
            return None
        if checked_from_markers(data):
            return check_picture(data)
        return await self.run_cpu(check_picture, data)

    async def results(
        self,
        pipeline: Pipeline,
        data: bytes,
        processing: Processing,
        image_b64: str | None = None,
        hashing: asyncio.Future[str] | None = None,
        learner: LearnedClassifier | None = None,
    ) -> dict:
        """The pipeline's post-processed answer for these bytes. Answers are cached by the
        picture's sha256 (`hashing`, when it is being computed already) and the pipeline's
        revision (models, versions, endpoints, and what the built-in classifier has learned), so
        the same bytes never call the models twice; every call is still saved as a new
        inference, as the original's contract says."""
        digest = key = ""
        learner = learner or self.learner
        if self.cache_results:
            digest = await (hashing if hashing is not None else self.run_cpu(sha256, data))
            key = self.cache_key(pipeline, processing, learner)
            cached = await self.storage.cached_result(digest, key)
            if cached is not None:
                return cached
        context = RunContext(
            client=self.http,
            pipeline=pipeline.name,
            executor=self.cpu,
            early_decodes=self._early_decodes,
            local=learner,
            observe=self.observe,
        )
        processed = await run_pipeline(pipeline, data, context, processing, image_b64)
        if any(protocol_of(m) == "builtin-classifier" for m in pipeline.models):
            processed["classifier_version"] = learner.version  # which examples answered
        if self.cache_results:
            await self.storage.remember_result(digest, key, processed)
        return processed

    def with_evidence(self, result: dict, owner: Any, learner: LearnedClassifier | None = None) -> None:
        """Each built-in classifier's box: its nearest examples become the `evidence` its owner
        may see (results are cached for every user alike: the filter comes after)."""
        examples = (learner or self.learner).examples
        for box in result.get("boxes") or []:
            neighbours = box.pop(NEIGHBOURS_KEY, None)
            if neighbours is not None:
                box["evidence"] = evidence(neighbours, examples, owner)

    def cache_key(
        self, pipeline: Pipeline, processing: Processing, learner: LearnedClassifier | None = None
    ) -> str:
        models = [
            [m.name, str(m.version), m.endpoint, m.protocol, m.content_type, protocol_of(m)]
            for m in pipeline.models
        ]
        learning = any(protocol_of(m) == "builtin-classifier" for m in pipeline.models)
        learner = learner or self.learner
        revision = {
            "pipeline": [str(pipeline.id), pipeline.name, pipeline.metadata],
            "models": models,
            "learned": [learner.version, learner.fingerprint, learner.abstain_level, learner.set_level]
            if learning
            else None,
            "request": dataclasses.astuple(processing),
        }
        return hashlib.sha256(json.dumps(revision, sort_keys=True, default=str).encode()).hexdigest()

    def scale_for(self, requested: float | None, device: str | None) -> tuple[float, str] | None:
        """(pixels per mm, where it comes from): the request's, else the named microscope's
        calibration, else this deployment's; None when none is known."""
        if requested:
            return requested, "request"
        if device is not None:
            if device not in self.device_scales:
                raise ModelError(f"device {device} has no calibration (NACHET_DEVICE_PIXELS_PER_MM)")
            return self.device_scales[device], f"device {device}"
        return (self.pixels_per_mm, "calibration") if self.pixels_per_mm else None

    def processing(
        self,
        image_dims: list[float],
        scale: tuple[float, str] | None = None,
        area_ratio: float = 0.5,
        color_format: str = "hex",
    ) -> Processing:
        """What a request asks of its result: seeds measured when a scale is known, the
        picture's scale bar read when none is."""
        bar_mm = None if scale else self.scale_bar_mm
        return Processing(list(image_dims), area_ratio, color_format, bool(scale), bar_mm)

    async def classify_job_picture(self, task: ClassifyPicture) -> None:
        """One picture of a classify-folder job, saved as /inf saves an inference (its natural
        size as imageDims); a failure is recorded in the job's results and the job goes on."""
        job_id, picture_id = str(task.job_id), str(task.picture_id)
        item = await self.storage.pending_job_item(job_id, picture_id)
        if item is None:  # finished already (the task ran before its worker died)
            return
        pipeline = self.pipelines.get(item["model_name"])
        data = None if item["cancelled"] else await self.storage.picture_bytes(UUID(picture_id))
        error = (
            "cancelled"
            if item["cancelled"]
            else f"model {item['model_name']} not found"
            if pipeline is None
            else "the picture was deleted"
            if data is None
            else None
        )
        if error is not None or pipeline is None or data is None:
            await self.storage.finish_job_item(job_id, picture_id, error or "")
            return
        try:
            picture = await self.run_cpu(check_picture, data)
            dims = [float(picture.width), float(picture.height)]
            scale = self.scale_for(None, None)
            learner = await self.learner_for(pipeline, item.get("owner_id"))
            processed = await self.results(pipeline, data, self.processing(dims, scale), learner=learner)
            with_scale(processed, scale)
            self.with_evidence(processed, item.get("owner_id"), learner)
            mime = await self.run_cpu(detect_mime, data)
            processed["filename"] = named_by_model(processed) or picture_name(
                await self.run_cpu(sha256, data), f"data:{mime}"
            )
        except ServiceError as failure:  # corrupt picture, model error: reported, the job goes on
            await self.storage.finish_job_item(job_id, picture_id, failure.message)
            return
        await self.storage.save_job_inference(job_id, picture_id, processed, pipeline.id, dims)


EXTENSIONS = {"jpeg": "jpg", "svg+xml": "svg"}


def named_by_model(result: dict) -> str | None:
    """The name a model gave the picture (a remote detector may name it), not the placeholder
    every built-in step and the original wrote."""
    name = result.get("filename")
    return name if isinstance(name, str) and name and name != "default_filename" else None


def picture_name(digest: str, header: str) -> str:
    """A stored picture's name when the client gave none: its sha256's first 16 hex digits and the
    extension its data URL names (`data:image/png;base64` -> .png)."""
    subtype = header.partition("/")[2].partition(";")[0].strip().lower()
    extension = EXTENSIONS.get(subtype, subtype) if subtype.isascii() and 0 < len(subtype) <= 10 else "img"
    return f"{digest[:16]}.{extension}"


def with_scale(result: dict, scale: tuple[float, str] | None) -> None:
    """Measurements in millimetres when a scale is known (`InferenceService.scale_for`);
    otherwise they stay in pixels, and say so (`unit: "px"`)."""
    if scale is None:
        return
    for box in result.get("boxes") or []:
        if isinstance(box.get("measurements"), dict) and box["measurements"].get("unit") == "px":
            box["measurements"] = in_millimetres(box["measurements"], *scale)


def warn_if_other_aspect(dims: list[float], picture: Picture) -> None:
    """Boxes are scaled to imageDims whatever they are (spec §8): a client drawing on a resized
    canvas sends its size. A different shape, though, usually means the wrong numbers."""
    aspect, sent = picture.width / picture.height, dims[0] / dims[1]
    if abs(sent / aspect - 1) > 0.02:
        log.warning(
            "imageDims %s differ in aspect ratio from the picture (%dx%d, as shown)",
            dims,
            picture.width,
            picture.height,
        )


@asynccontextmanager
async def under_way(work: Awaitable[T]) -> AsyncIterator[asyncio.Future[T]]:
    """`work` running as a task while the block runs, which awaits it; the task has taken its
    first step when the block begins (for the models: their first request is under way before
    the block's first round trip). If the block fails first, the task is cancelled and waited
    for, so nothing it started outlives the request."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.sleep(0)
        yield task
    except BaseException:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
