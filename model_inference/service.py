"""The /inf use case (spec §6): check the picture and the user, run the pipeline, post-process,
save the picture with its inference. Built once per process with its HTTP client, CPU pool and
the built-in classifier."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from storage import Storage

from .adapters import RunContext
from .adapters.base import Budget
from .cpu import run_cpu
from .errors import ModelError
from .images import Picture, check_picture, split_data_url
from .registry import PipelineRegistry
from .runner import run_pipeline

log = logging.getLogger("model_inference")


class ImageWarning(UserWarning):
    """An /inf picture without a validator from /image-validation (advisory, as in the original)."""


@dataclass
class InferenceOrder:
    """What /inf was asked, its values checked (api.requests.InferenceBody)."""

    user: Any
    folder: Any
    image: str  # the data URL
    image_dims: list[float]
    model_name: Any
    validator: Any = None
    area_ratio: float = 0.5
    color_format: str = "hex"


class InferenceService:
    def __init__(
        self,
        storage: Storage,
        pipelines: PipelineRegistry,
        http: httpx.AsyncClient,
        cpu: Executor,
        learner: Any,
        max_concurrent: int,
    ):
        self.storage, self.pipelines, self.http, self.cpu, self.learner = (
            storage,
            pipelines,
            http,
            cpu,
            learner,
        )
        # /inf requests processed at once by this worker; the others wait before their body is read
        self._slots = asyncio.Semaphore(max_concurrent)
        # pictures decoded while their detector works: each holds ~6 MB of pixels until cropped,
        # so only a few requests at a time get the head start
        self._early_decodes = Budget(4)

    async def run_cpu(self, function, *args):
        return await run_cpu(self.cpu, function, *args)

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
        if not (isinstance(order.validator, str) and await self.storage.validator_known(order.validator)):
            warnings.warn("this picture was not validate", ImageWarning, stacklevel=1)
        _, data = split_data_url(order.image)
        order.image = ""  # ~0.5 MB: the decoded bytes are all that is kept
        if data:
            warn_if_other_aspect(order.image_dims, await self.run_cpu(check_picture, data))
        await self.storage.require_user(order.user, order.folder)
        context = RunContext(
            client=self.http,
            pipeline=pipeline.name,
            executor=self.cpu,
            early_decodes=self._early_decodes,
            local=self.learner,
        )
        processed = await run_pipeline(
            pipeline, data, context, order.image_dims, order.area_ratio, order.color_format
        )
        return await self.storage.save_inference(
            order.user, order.folder, data, processed, pipeline.id, order.image_dims
        )


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
