"""Deferring a task from inside one of our transactions: the job row is written by the task
engine's own SQL function (procrastinate's `procrastinate_defer_jobs_v1`, schema of migration
0009), so a job exists exactly when the rows it is about were committed."""

from __future__ import annotations

from typing import TypedDict

from asyncpg import Connection

from kernel.json_types import JsonObject


async def defer(conn: Connection, task: str, args: JsonObject, *, queue: str, lock: str | None = None) -> int:
    """Queue `task(**args)`; the job's id. Workers are woken by the engine's NOTIFY at commit."""
    ids = await conn.fetchval(
        """SELECT procrastinate_defer_jobs_v1(ARRAY[
               ROW($1, $2, 0, $3, NULL, $4::jsonb, NULL)::procrastinate_job_to_defer_v1])""",
        queue,
        task,
        lock,
        args,
    )
    return ids[0]


async def defer_many(conn: Connection, task: str, args: list[JsonObject], *, queue: str) -> list[int]:
    if not args:
        return []
    return await conn.fetchval(
        """SELECT procrastinate_defer_jobs_v1(ARRAY(
               SELECT ROW($1, $2, 0, NULL, NULL, a, NULL)::procrastinate_job_to_defer_v1
                 FROM unnest($3::jsonb[]) a))""",
        queue,
        task,
        args,
    )


async def unfinished(conn: Connection) -> int:
    """Jobs queued (due now) or running."""
    return await conn.fetchval(
        """SELECT count(*) FROM procrastinate_jobs
            WHERE status = 'doing' OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))"""
    )


async def learning_queued(conn: Connection, task: str, folder: str) -> int:
    """Learning tasks (named `task`) of a folder not started yet (the rest of a batch import)."""
    return await conn.fetchval(
        """SELECT count(*) FROM procrastinate_jobs
            WHERE task_name = $2 AND status = 'todo' AND args->>'folder' = $1""",
        folder,
        task,
    )


async def learning_progress(conn: Connection, task: str, folder: str) -> dict[str, int]:
    """The pictures (sources) of a folder's learning tasks (named `task`), by the task's state."""
    rows = await conn.fetch(
        """SELECT status::text, coalesce(sum(jsonb_array_length(args->'sources')), 0)::int AS n
             FROM procrastinate_jobs
            WHERE task_name = $2 AND args->>'folder' = $1 GROUP BY status""",
        folder,
        task,
    )
    return {row["status"]: row["n"] for row in rows}


class QueueDepth(TypedDict):
    queue: str
    waiting: int  # jobs due now
    oldest_s: float  # how long the oldest has waited


async def queue_depths(conn: Connection) -> list[QueueDepth]:
    """Per queue: jobs waiting (due now) and how long the oldest has waited, in seconds."""
    rows = await conn.fetch(
        """SELECT j.queue_name AS queue, count(*)::int AS waiting,
                  coalesce(extract(epoch FROM now() - min(e.at)), 0)::float8 AS oldest_s
             FROM procrastinate_jobs j
             LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
            WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
            GROUP BY j.queue_name"""
    )
    return [QueueDepth(queue=row["queue"], waiting=row["waiting"], oldest_s=row["oldest_s"]) for row in rows]
