"""The operator's changes to the pipelines in service (`python -m nachet pipelines ...`): which
one is the default, taking one out of service, and asking every worker to reload them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from datastore.queries import pipelines


async def make_default(pool: asyncpg.Pool, name: str) -> bool:
    """Make the active pipeline `name` the default; False when there is no such pipeline."""
    return bool(await _change(pool, pipelines.set_default, name))


async def take_out_of_service(pool: asyncpg.Pool, name: str) -> bool | None:
    """Take the pipeline `name` out of service (its past inferences keep naming it). None when
    there is no such active pipeline, False when it is the default (refused)."""
    return await _change(pool, pipelines.deactivate, name)


async def _change(
    pool: asyncpg.Pool, change: Callable[[asyncpg.Connection, str], Awaitable[bool | None]], name: str
) -> bool | None:
    """One change, pipeline writers serialised; every worker reloads once it is committed."""
    async with pool.acquire() as conn, conn.transaction():
        await pipelines.lock_pipelines(conn)
        done = await change(conn, name)
        if done:
            await pipelines.notify_reload(conn)
    return done


async def request_reload(pool: asyncpg.Pool) -> None:
    """Every worker and replica reloads its pipelines, and no cached model result of an earlier
    revision is served again."""
    async with pool.acquire() as conn:
        await pipelines.notify_reload(conn)
