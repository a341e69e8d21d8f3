"""Jobs users can see: classify every picture of a folder (one task each, deferred by storage)."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def create_job(
    conn: Connection, user_id: UUID, folder_id: UUID, model_name: str
) -> tuple[UUID, list[UUID]]:
    """The job and one item per picture of the folder, in the caller's transaction; (its id, the
    pictures, whose tasks the caller defers)."""
    job_id = await conn.fetchval(
        "INSERT INTO folder_job (user_id, folder_id, model_name) VALUES ($1, $2, $3) RETURNING id",
        user_id,
        folder_id,
        model_name,
    )
    pictures = await conn.fetch(
        """INSERT INTO folder_job_item (job_id, picture_id)
           SELECT $1, id FROM picture WHERE picture_set_id = $2 ORDER BY upload_date, id
           RETURNING picture_id""",
        job_id,
        folder_id,
    )
    return job_id, [p["picture_id"] for p in pictures]


async def get_job(conn: Connection, job_id: UUID) -> Record | None:
    return await conn.fetchrow(
        "SELECT id, user_id, folder_id, model_name, cancelled, created_at FROM folder_job WHERE id = $1",
        job_id,
    )


async def items(conn: Connection, job_id: UUID) -> list[Record]:
    return await conn.fetch(
        """SELECT picture_id, inference_id, error, finished_at FROM folder_job_item
            WHERE job_id = $1 ORDER BY finished_at NULLS LAST, picture_id""",
        job_id,
    )


async def pending_item(conn: Connection, job_id: UUID, picture_id: UUID) -> Record | None:
    """The unfinished item, locked until the caller's transaction ends (a retried task finds it
    finished and does nothing)."""
    return await conn.fetchrow(
        """SELECT i.picture_id, j.user_id, j.cancelled FROM folder_job_item i
             JOIN folder_job j ON j.id = i.job_id
            WHERE i.job_id = $1 AND i.picture_id = $2 AND i.finished_at IS NULL
              FOR UPDATE OF i""",
        job_id,
        picture_id,
    )


async def unfinished_item(conn: Connection, job_id: UUID, picture_id: UUID) -> Record | None:
    return await conn.fetchrow(
        """SELECT j.model_name, j.cancelled, j.user_id AS owner_id
             FROM folder_job_item i JOIN folder_job j ON j.id = i.job_id
            WHERE i.job_id = $1 AND i.picture_id = $2 AND i.finished_at IS NULL""",
        job_id,
        picture_id,
    )


async def batch_size(conn: Connection, folder_id: UUID) -> tuple[int, int]:
    """(pictures announced by /new-batch-import, pictures uploaded) of a folder."""
    row = await conn.fetchrow(
        """SELECT coalesce((ps.picture_set->'image_data_picture_set'->>'number_of_images')::int, 0)
                    AS expected,
                  (SELECT count(*) FROM picture p WHERE p.picture_set_id = ps.id)::int AS uploaded
             FROM picture_set ps WHERE ps.id = $1""",
        folder_id,
    )
    return (row["expected"], row["uploaded"]) if row else (0, 0)


async def finish_item(
    conn: Connection, job_id: UUID, picture_id: UUID, inference_id: UUID | None, error: str | None
) -> None:
    await conn.execute(
        """UPDATE folder_job_item SET inference_id = $3, error = $4, finished_at = now()
            WHERE job_id = $1 AND picture_id = $2 AND finished_at IS NULL""",
        job_id,
        picture_id,
        inference_id,
        error,
    )


async def cancel(conn: Connection, job_id: UUID, task_name: str) -> None:
    """Mark the job cancelled and cancel its tasks not started yet (the engine's own function);
    a task already running finishes its picture."""
    await conn.execute("UPDATE folder_job SET cancelled = true WHERE id = $1", job_id)
    await conn.execute(
        """UPDATE folder_job_item SET error = 'cancelled', finished_at = now()
            WHERE job_id = $1 AND finished_at IS NULL
              AND picture_id IN (SELECT (args->>'picture_id')::uuid FROM procrastinate_jobs
                                  WHERE task_name = $3 AND status = 'todo'
                                    AND args->>'job_id' = $2)""",
        job_id,
        str(job_id),
        task_name,
    )
    await conn.execute(
        """SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs
            WHERE task_name = $2 AND status = 'todo' AND args->>'job_id' = $1""",
        str(job_id),
        task_name,
    )
