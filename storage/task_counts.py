"""How busy the task queue is: the jobs not finished yet (a worker waiting until idle) and, per
queue, the jobs waiting and the oldest one's wait (/metrics)."""

from __future__ import annotations

from typing import Any

import asyncpg

from datastore.queries import tasks


async def unfinished(pool: asyncpg.Pool) -> int:
    """Jobs queued (due now) or running, whichever process runs them."""
    async with pool.acquire() as conn:
        return await tasks.unfinished(conn)


async def queue_depths(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Per queue that has any: {queue, waiting (due now), oldest_s (seconds waited)}."""
    async with pool.acquire() as conn:
        return await tasks.queue_depths(conn)
