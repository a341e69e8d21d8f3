"""The review of the built-in classifier's examples and its versions (issue "Trusted learning")."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record

REVIEW_LOCK = "nachet classifier versions"  # one review at a time: one version after the other


async def lock(conn: Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", REVIEW_LOCK)


EXAMPLE_COLUMNS = """e.id, s.name AS label, e.state, e.picture_id, ps.id AS folder_id, ps.name AS folder,
    u.email, e.created_at, e.reviewed_by, e.reviewed_at"""
EXAMPLE_JOINS = """seed_example e JOIN seed s ON s.id = e.seed_id
    LEFT JOIN picture p ON p.id = e.picture_id LEFT JOIN picture_set ps ON ps.id = p.picture_set_id
    LEFT JOIN users u ON u.id = ps.owner_id"""


async def listed(conn: Connection, state: str | None, owner: UUID | None, email: str | None) -> list[Record]:
    """Examples in `state` (any: None), of the user `owner` or `email` (anyone's: None), by id."""
    return await conn.fetch(
        f"""SELECT {EXAMPLE_COLUMNS} FROM {EXAMPLE_JOINS}
            WHERE ($1::text IS NULL OR e.state = $1) AND ($2::uuid IS NULL OR ps.owner_id = $2)
              AND ($3::text IS NULL OR lower(u.email) = lower($3))
            ORDER BY e.id""",
        state,
        owner,
        email,
    )


async def chosen(
    conn: Connection, ids: list[int] | None, email: str | None, folder: UUID | None
) -> list[Record]:
    """The examples a review names (by id, by their user's email, or by batch folder), locked."""
    return await conn.fetch(
        f"""SELECT e.id, e.state FROM {EXAMPLE_JOINS}
            WHERE ($1::bigint[] IS NULL OR e.id = ANY($1))
              AND ($2::text IS NULL OR lower(u.email) = lower($2)) AND ($3::uuid IS NULL OR ps.id = $3)
            ORDER BY e.id FOR UPDATE OF e""",
        ids,
        email,
        folder,
    )


async def set_state(conn: Connection, ids: list[int], state: str, by: str) -> None:
    await conn.execute(
        "UPDATE seed_example SET state = $2, reviewed_by = $3, reviewed_at = now() WHERE id = ANY($1)",
        ids,
        state,
        by,
    )


async def accepted_ids(conn: Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM seed_example WHERE state = 'accepted'")]


async def rows_of(conn: Connection, ids: list[int]) -> list[Record]:
    """The examples as the classifier is fitted from them."""
    return await conn.fetch(
        """SELECT e.id, e.seed_id, s.name, e.embedding, e.features, e.picture_id FROM seed_example e
             JOIN seed s ON s.id = e.seed_id WHERE e.id = ANY($1) ORDER BY e.id""",
        ids,
    )


async def active(conn: Connection) -> Record | None:
    return await conn.fetchrow("SELECT * FROM classifier_version WHERE state = 'active'")


async def version(conn: Connection, version_id: str) -> Record | None:
    return await conn.fetchrow("SELECT * FROM classifier_version WHERE id = $1", version_id)


async def versions(conn: Connection) -> list[Record]:
    return await conn.fetch("SELECT * FROM classifier_version ORDER BY created_at, id")


async def add_version(
    conn: Connection,
    version_id: str,
    by: str,
    examples: list[int],
    counts: dict,
    score,
    embedder: str,
    state: str,
) -> None:
    """A new version (an existing id keeps its row: the same examples make the same version)."""
    await conn.execute(
        """INSERT INTO classifier_version (id, created_by, examples, counts, score, embedder, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING""",
        version_id,
        by,
        examples,
        counts,
        score,
        embedder,
        state,
    )


async def activate(conn: Connection, version_id: str) -> None:
    """`version_id` active, the previously active one retired."""
    await conn.execute(
        "UPDATE classifier_version SET state = 'retired' WHERE state = 'active' AND id <> $1", version_id
    )
    await conn.execute("UPDATE classifier_version SET state = 'active' WHERE id = $1", version_id)


async def pending_not_in(conn: Connection, examples: list[int], by: str) -> int:
    """Accepted examples outside `examples` go back to pending (a rollback); how many."""
    result = await conn.execute(
        """UPDATE seed_example SET state = 'pending', reviewed_by = $2, reviewed_at = now()
            WHERE state = 'accepted' AND NOT (id = ANY($1))""",
        examples,
        by,
    )
    return int(result.split()[-1])


async def recent_boxes(conn: Connection, limit: int) -> list[Record]:
    """The latest boxes the built-in classifier answered: their picture, box and the size the box
    is drawn in (imageDims)."""
    return await conn.fetch(
        """SELECT o.id, i.picture_id, o.box_metadata->'box' AS box, i.inference->'imageDims' AS dims
             FROM object o JOIN inference i ON i.id = o.inference_id
            WHERE i.inference->>'classifier_version' IS NOT NULL
            ORDER BY i.upload_date DESC, o.seq LIMIT $1""",
        limit,
    )
