"""The pipelines a process can run, loaded from the database and refreshed without a restart.

The cache is safe to lose: it is rebuilt from the database on start, on a `nachet_pipelines`
NOTIFY (sent to every worker and replica whenever storage changes the pipelines, and by
`python -m nachet pipelines reload`), on SIGUSR1, and every few minutes in case a notification
was missed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol, TypedDict
from uuid import UUID

from cryptography.fernet import Fernet

from . import open_inference
from .adapters import protocol_of
from .models import ModelSpec, Pipeline, reveal

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    async def stop(self) -> None: ...


class LinkedModel(TypedDict):
    """A model linked to a pipeline, with its active version (a JSON object of the row)."""

    model_id: str
    model_name: str
    endpoint_name: str
    task: str
    version: str
    data: object  # the version's JSON: a dict of settings, or anything a hand edit left there


class PipelineRow(TypedDict):
    """An active pipeline as its source reads it (a database row, or a mapping in a test)."""

    id: UUID
    name: str
    is_default: bool
    data: object  # the pipeline's JSON: a dict of settings, or anything a hand edit left there
    models: list[LinkedModel]


class PipelineSource(Protocol):
    """Where pipelines are kept (storage.pipelines.PipelineRows): their rows, and a call back
    whenever they change."""

    async def rows(self) -> list[PipelineRow]: ...
    async def listen(self, on_change: Callable[[], None]) -> Stoppable: ...


def build_pipeline(row: PipelineRow, fernet: Fernet | None) -> tuple[Pipeline | None, dict]:
    """The runnable pipeline (None if a model it names is missing) and its public metadata."""
    data = row["data"] if isinstance(row["data"], dict) else {}
    linked = {m["model_name"]: m for m in row["models"]}
    metadata = {
        "models": [m["model_id"] for m in row["models"]],
        "pipeline_id": str(row["id"]),
        "pipeline_name": row["name"],
        "model_name": row["name"],
        "default": row["is_default"],
        **data,
    }
    listed = data.get("models")
    order = listed if isinstance(listed, list) else list(linked)
    specs = []
    for name in order:
        model = linked.get(name)
        if model is None:
            log.error(
                "pipeline %s names model %s, which is not linked to it: pipeline disabled", row["name"], name
            )
            return None, metadata
        extra = model["data"] if isinstance(model["data"], dict) else {}
        specs.append(
            ModelSpec(
                name=name,
                version=extra.get("version", model["version"]),
                endpoint=reveal(extra.get("endpoint", model["endpoint_name"]), fernet),
                api_key=reveal(extra.get("api_key"), fernet),
                content_type=extra.get("content_type") or "application/json",
                deployment_platform=extra.get("deployment_platform") or "",
                protocol=extra.get("protocol"),
                task=model["task"] or "",
                options=extra.get("open_inference"),
            )
        )
    for index, spec in enumerate(specs):
        protocol = protocol_of(spec)
        if protocol is None:
            log.warning(
                "pipeline %s: model %s has no known protocol; /inf will refuse it", row["name"], spec.name
            )
        elif protocol == open_inference.PROTOCOL:
            try:  # the record's settings, parsed once here
                parsed = open_inference.settings_of(spec.options, spec.task)
            except ValueError as error:
                log.error("pipeline %s disabled: model %s: %s", row["name"], spec.name, error)
                return None, metadata
            specs[index] = dataclasses.replace(spec, options=parsed)
        elif protocol.startswith("onnx-"):
            from .local.onnx_models import (  # numpy etc. only when used
                OnnxModelError,
                load_onnx_model,
            )

            try:
                load_onnx_model(spec.endpoint)
            except OnnxModelError as error:
                log.error("pipeline %s disabled: model %s: %s", row["name"], spec.name, error)
                return None, metadata
    return Pipeline(row["id"], row["name"], tuple(specs), metadata, row["is_default"]), metadata


class PipelineRegistry:
    def __init__(self, source: PipelineSource, fernet: Fernet | None = None, refresh_s: float = 300.0):
        self.source = source
        self.fernet = fernet
        self.refresh_s = refresh_s
        self._pipelines: dict[str, Pipeline] = {}
        self._metadata: list[dict] = []
        self._listening: Stoppable | None = None
        self._refresher: asyncio.Task | None = None

    def get(self, name) -> Pipeline | None:
        return self._pipelines.get(name) if isinstance(name, str) else None

    @property
    def default(self) -> Pipeline | None:
        return next((p for p in self._pipelines.values() if p.is_default), None)

    @property
    def loaded(self) -> list[Pipeline]:
        return list(self._pipelines.values())

    @property
    def metadata(self) -> list[dict]:
        return self._metadata

    async def reload(self) -> int:
        rows = await self.source.rows()
        pipelines, metadata = {}, []
        for row in rows:
            pipeline, meta = build_pipeline(row, self.fernet)
            if pipeline is not None:  # a broken pipeline is neither offered nor run
                pipelines[pipeline.name] = pipeline
                metadata.append(meta)
        self._pipelines, self._metadata = pipelines, metadata  # swapped whole: readers never see half
        open_inference.forget_labels()  # a model redeployed with its pipeline: its labels asked again
        log.info("pipelines loaded: %s", ", ".join(pipelines) or "none")
        return len(pipelines)

    def _reload_soon(self) -> None:
        asyncio.ensure_future(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except Exception as error:  # keep serving the pipelines we have
            log.error("pipeline reload failed: %s", error)

    async def start(self) -> None:
        await self.reload()
        self._listening = await self.source.listen(self._reload_soon)
        self._refresher = asyncio.ensure_future(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self._reload_quietly()

    async def stop(self) -> None:
        if self._refresher:
            self._refresher.cancel()
        if self._listening is not None:
            await self._listening.stop()
            self._listening = None
