"""The task queue as storage sees it: deferring background work in the caller's transaction (the
task is queued if and only if the rows it is about commit; kernel/tasks.py defines each task's
arguments), and how busy the queue is (a worker waiting until idle, /metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from datastore.queries import tasks
from datastore.queries.tasks import QueueDepth
from kernel.tasks import Task


async def defer(conn: asyncpg.Connection, task: Task) -> int:
    """The job's id; workers are woken by the task engine's NOTIFY at commit."""
    return await tasks.defer(conn, task.name, task.args(), queue=task.queue)


async def defer_many(conn: asyncpg.Connection, batch: Sequence[Task]) -> list[int]:
    """Tasks of one kind, in one statement."""
    if not batch:
        return []
    first = batch[0]
    return await tasks.defer_many(conn, first.name, [t.args() for t in batch], queue=first.queue)


async def unfinished(pool: asyncpg.Pool) -> int:
    """Jobs queued (due now) or running, whichever process runs them."""
    async with pool.acquire() as conn:
        return await tasks.unfinished(conn)


async def queue_depths(pool: asyncpg.Pool) -> list[QueueDepth]:
    """Per queue that has any: {queue, waiting (due now), oldest_s (seconds waited)}."""
    async with pool.acquire() as conn:
        return await tasks.queue_depths(conn)
