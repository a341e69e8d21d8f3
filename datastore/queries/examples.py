from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record

CHANNEL_JOBS = "nachet_example_jobs"
CHANNEL_EXAMPLES = "nachet_examples"


async def enqueue(conn: Connection, jobs: list[tuple[UUID, UUID, UUID | None, dict | None, str]]) -> None:
    """(picture_id, seed_id, object_id, box, source) jobs; workers hear of them at commit."""
    if not jobs:
        return
    await conn.executemany(
        "INSERT INTO example_job (picture_id, seed_id, object_id, box, source) VALUES ($1, $2, $3, $4, $5)", jobs
    )
    await conn.execute(f"SELECT pg_notify('{CHANNEL_JOBS}', '')")


async def claim_job(conn: Connection) -> Record | None:
    """Take the oldest job nobody else holds (the caller's transaction owns it until commit)."""
    return await conn.fetchrow(
        """DELETE FROM example_job WHERE id = (
               SELECT id FROM example_job ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
           RETURNING id, picture_id, seed_id, object_id, box, source, attempts"""
    )


async def retry_job(conn: Connection, job: Record) -> None:
    await conn.execute(
        """INSERT INTO example_job (picture_id, seed_id, object_id, box, source, attempts)
           SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM picture WHERE id = $1)""",
        job["picture_id"], job["seed_id"], job["object_id"], job["box"], job["source"], job["attempts"] + 1,
    )


async def add_examples(conn: Connection, rows: list[tuple], object_id: UUID | None) -> None:
    """(seed_id, embedding bytes|None, features bytes, source, picture_id, object_id) rows; a
    re-labelled object replaces its earlier examples."""
    if object_id is not None:
        await conn.execute("DELETE FROM seed_example WHERE object_id = $1", object_id)
    await conn.executemany(
        """INSERT INTO seed_example (seed_id, embedding, features, source, picture_id, object_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        rows,
    )
    await conn.execute(f"SELECT pg_notify('{CHANNEL_EXAMPLES}', '')")


async def version(conn: Connection) -> tuple[int, int]:
    row = await conn.fetchrow("SELECT count(*) AS n, coalesce(max(id), 0) AS last FROM seed_example")
    return row["n"], row["last"]


async def examples_after(conn: Connection, last_id: int) -> list[Record]:
    return await conn.fetch(
        """SELECT e.id, e.seed_id, s.name, e.embedding, e.features FROM seed_example e
             JOIN seed s ON s.id = e.seed_id WHERE e.id > $1 ORDER BY e.id""",
        last_id,
    )
