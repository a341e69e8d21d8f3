from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record

CHANNEL_EXAMPLES = "nachet_examples"
PLACEHOLDER_SEED = "Unknown seed"  # the classifier's "no idea" (storage.seed_examples.teaches)


async def seed_names(conn: Connection, seed_ids: list[UUID]) -> dict[UUID, str]:
    rows = await conn.fetch("SELECT id, name FROM seed WHERE id = ANY($1::uuid[])", seed_ids)
    return {row["id"]: row["name"] for row in rows}


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


async def add_examples(conn: Connection, rows: list[tuple], object_id: UUID | None) -> None:
    """(seed_id, embedding bytes|None, features bytes, source, picture_id, object_id, crop json,
    state) rows; a re-labelled object replaces its earlier examples."""
    if object_id is not None:
        await conn.execute("DELETE FROM seed_example WHERE object_id = $1", object_id)
    else:  # a retried task (its worker died after the commit) must not add them twice
        await conn.execute("DELETE FROM seed_example WHERE picture_id = $1 AND object_id IS NULL", rows[0][4])
    await conn.executemany(
        """INSERT INTO seed_example (seed_id, embedding, features, source, picture_id, object_id, crop, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        rows,
    )


async def announce(conn: Connection) -> None:
    """Tell every worker to load the new examples and refit."""
    await conn.execute(f"SELECT pg_notify('{CHANNEL_EXAMPLES}', '')")


async def version(conn: Connection) -> tuple[int, int, str]:
    """(examples that may teach, last example id, a stamp of the reviews and the active version):
    what a fit was made of; a change of stamp means states changed."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(max(e.id), 0) AS last,
                  md5(concat_ws('|', max(e.reviewed_at)::text, count(*) FILTER (WHERE e.state = 'pending'),
                      (SELECT id FROM classifier_version WHERE state = 'active'))) AS stamp
             FROM seed_example e
             JOIN seed s ON s.id = e.seed_id WHERE lower(s.name) <> lower($1) AND e.state <> 'rejected'""",
        PLACEHOLDER_SEED,
    )
    return row["n"], row["last"], row["stamp"]


async def examples_after(conn: Connection, last_id: int) -> list[Record]:
    return await conn.fetch(
        """SELECT e.id, e.seed_id, s.name, e.embedding, e.features, e.picture_id, ps.owner_id, e.state
             FROM seed_example e
             JOIN seed s ON s.id = e.seed_id
             LEFT JOIN picture p ON p.id = e.picture_id
             LEFT JOIN picture_set ps ON ps.id = p.picture_set_id
            WHERE e.id > $1 AND lower(s.name) <> lower($2) AND e.state <> 'rejected' ORDER BY e.id""",
        last_id,
        PLACEHOLDER_SEED,
    )


async def counts_by_seed(conn: Connection) -> list[tuple[str, int]]:
    """How many examples the built-in classifier has of each seed name."""
    rows = await conn.fetch(
        """SELECT s.name, count(*)::int AS n FROM seed_example e JOIN seed s ON s.id = e.seed_id
            GROUP BY s.name ORDER BY s.name"""
    )
    return [(row["name"], row["n"]) for row in rows]


async def example_source(conn: Connection, example_id: int) -> Record | None:
    """Where an example was cropped from: its picture, the picture's owner and the crop."""
    return await conn.fetchrow(
        """SELECT e.id, e.picture_id, e.crop, ps.owner_id FROM seed_example e
             JOIN picture p ON p.id = e.picture_id
             JOIN picture_set ps ON ps.id = p.picture_set_id
            WHERE e.id = $1""",
        example_id,
    )
