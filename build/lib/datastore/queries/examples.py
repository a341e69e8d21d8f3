from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record

CHANNEL_JOBS = "nachet_example_jobs"
CHANNEL_EXAMPLES = "nachet_examples"
PLACEHOLDER_SEED = "Unknown seed"  # the classifier's "no idea": never a training label


async def enqueue(conn: Connection, jobs: list[tuple[UUID, UUID, UUID | None, dict | None, str]]) -> None:
    """(picture_id, seed_id, object_id, box, source) jobs; workers hear of them at commit. Jobs
    labelled with the placeholder seed are dropped."""
    if not jobs:
        return
    await conn.executemany(
        """INSERT INTO example_job (picture_id, seed_id, object_id, box, source)
           SELECT $1, $2, $3, $4, $5 FROM seed WHERE id = $2 AND lower(name) <> lower($6)""",
        [(*job, PLACEHOLDER_SEED) for job in jobs],
    )
    await conn.execute(f"SELECT pg_notify('{CHANNEL_JOBS}', '')")


async def claim_job(conn: Connection, lease_s: float) -> Record | None:
    """Lease the oldest job nobody holds (a short transaction: no lock is kept while the worker
    computes). A worker that dies lets its lease run out, and the job is taken again."""
    return await conn.fetchrow(
        """UPDATE example_job SET claim = gen_random_uuid(), attempts = attempts + 1,
                  claimed_until = now() + make_interval(secs => $1)
            WHERE id = (SELECT id FROM example_job
                         WHERE claimed_until IS NULL OR claimed_until < now()
                         ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
        RETURNING id, claim, picture_id, seed_id, object_id, box, source, attempts""",
        lease_s,
    )


async def release_job(conn: Connection, job: Record, retry: bool) -> None:
    """Give the job back for another try, or drop it."""
    if retry:
        await conn.execute(
            "UPDATE example_job SET claimed_until = NULL WHERE id = $1 AND claim = $2",
            job["id"],
            job["claim"],
        )
    else:
        await conn.execute("DELETE FROM example_job WHERE id = $1 AND claim = $2", job["id"], job["claim"])


async def lock_sources(conn: Connection, picture_id: UUID, object_id: UUID | None) -> bool:
    """Hold the picture's folder, the picture and the object (in the writers' lock order) while
    their examples are written; False if any of them was deleted meanwhile."""
    folder_id = await conn.fetchval("SELECT picture_set_id FROM picture WHERE id = $1", picture_id)
    if folder_id is None or not await conn.fetchval(
        "SELECT true FROM picture_set WHERE id = $1 FOR KEY SHARE", folder_id
    ):
        return False
    if not await conn.fetchval("SELECT true FROM picture WHERE id = $1 FOR KEY SHARE", picture_id):
        return False
    return object_id is None or bool(
        await conn.fetchval("SELECT true FROM object WHERE id = $1 FOR KEY SHARE", object_id)
    )


async def finish_job(conn: Connection, job: Record) -> bool:
    """Remove the job if this claim still holds it; False if another worker finished it."""
    return (
        await conn.fetchval(
            "DELETE FROM example_job WHERE id = $1 AND claim = $2 RETURNING true", job["id"], job["claim"]
        )
        is not None
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
    row = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(max(e.id), 0) AS last FROM seed_example e
             JOIN seed s ON s.id = e.seed_id WHERE lower(s.name) <> lower($1)""",
        PLACEHOLDER_SEED,
    )
    return row["n"], row["last"]


async def examples_after(conn: Connection, last_id: int) -> list[Record]:
    return await conn.fetch(
        """SELECT e.id, e.seed_id, s.name, e.embedding, e.features FROM seed_example e
             JOIN seed s ON s.id = e.seed_id
            WHERE e.id > $1 AND lower(s.name) <> lower($2) ORDER BY e.id""",
        last_id,
        PLACEHOLDER_SEED,
    )
