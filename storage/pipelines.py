"""Pipelines and their models in the database: the rows every worker loads (the engine's
registry reads them through `PipelineRows`), one writer for the three ways pipelines are added
(a pipeline file, the spec's test pipeline, the built-in one), and the operator's changes
(`python -m nachet pipelines set-default|remove|reload`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from datastore.queries import pipelines as queries

from .notifications import Listening

CHANNEL = "nachet_pipelines"


@dataclass(frozen=True)
class ModelRecord:
    """A model as stored: a new version of it holding `data` becomes its active one."""

    name: str
    endpoint_name: str
    task: str  # "Object Detection" or "Classification"
    version: str
    data: dict[str, object]  # a JSON object


@dataclass(frozen=True)
class PipelineRecord:
    name: str
    models: list[str]  # names of ModelRecords written with it, run in this order
    data: dict[str, object]  # a JSON object


class UnknownTask(ValueError):
    """A model names a task the database does not know."""


async def any_pipeline(pool: asyncpg.Pool) -> bool:
    """Whether the database has any pipeline at all (active or not)."""
    async with pool.acquire() as conn:
        return await queries.any_pipeline(conn)


class PipelineRows:
    """What the engine's registry reads: the active pipelines with their models, and a call back
    whenever any worker or the CLI changed them."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def rows(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return list(await queries.active_pipelines(conn))

    async def listen(self, on_change: Callable[[], None]) -> Listening:
        listening = Listening(self.pool, CHANNEL, on_change)
        await listening.start()
        return listening


async def save_pipelines(
    pool: asyncpg.Pool,
    models: list[ModelRecord],
    pipelines: list[PipelineRecord],
    *,
    default: str | None = None,
    first_if_no_default: bool = True,
    unless_exists: str | None = None,
) -> bool:
    """Write the models (a new version each) and the pipelines (exactly these models linked) in
    one transaction, writers serialised; every worker reloads once it commits. The default is
    `default` when given, else the current one stays, else (`first_if_no_default`) the first
    of `pipelines`. False, writing nothing, when the pipeline `unless_exists` is there already.
    UnknownTask when a model's task is not in the database (nothing written)."""
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock_pipelines(conn)  # several workers start at once: one installs
        if unless_exists is not None and await queries.pipeline_exists(conn, unless_exists):
            return False
        ids = {}
        for model in models:
            task = await queries.task_id(conn, model.task)
            if task is None:
                raise UnknownTask(f"model {model.name}: unknown task {model.task!r}")
            ids[model.name] = await queries.upsert_model(
                conn, model.name, model.endpoint_name, task, model.version, model.data
            )
        current = await queries.default_name(conn)
        default = default or current or (pipelines[0].name if first_if_no_default and pipelines else None)
        for pipeline in pipelines:
            await queries.upsert_pipeline(
                conn,
                pipeline.name,
                pipeline.data,
                [ids[m] for m in pipeline.models],
                is_default=pipeline.name == default,
            )
        await queries.notify_reload(conn)
    return True


async def make_default(pool: asyncpg.Pool, name: str) -> bool:
    """Make the active pipeline `name` the default; False when there is no such pipeline."""
    return bool(await _change(pool, queries.set_default, name))


async def take_out_of_service(pool: asyncpg.Pool, name: str) -> bool | None:
    """Take the pipeline `name` out of service (its past inferences keep naming it). None when
    there is no such active pipeline, False when it is the default (refused)."""
    return await _change(pool, queries.deactivate, name)


async def _change(
    pool: asyncpg.Pool, change: Callable[[asyncpg.Connection, str], Awaitable[bool | None]], name: str
) -> bool | None:
    """One change, pipeline writers serialised; every worker reloads once it is committed."""
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock_pipelines(conn)
        done = await change(conn, name)
        if done:
            await queries.notify_reload(conn)
    return done


async def request_reload(pool: asyncpg.Pool) -> None:
    """Every worker and replica reloads its pipelines, and no cached model result of an earlier
    revision is served again."""
    async with pool.acquire() as conn:
        await queries.notify_reload(conn)
