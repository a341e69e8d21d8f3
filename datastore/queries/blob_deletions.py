from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def remember(conn: Connection, blobs: list[tuple[str, str]]) -> None:
    """(container, name) of blobs to delete once the blob store answers again."""
    await conn.executemany(
        "INSERT INTO blob_deletion (container, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", blobs
    )


async def pending(conn: Connection, limit: int) -> list[Record]:
    return await conn.fetch("SELECT container, name FROM blob_deletion ORDER BY since LIMIT $1", limit)


async def forget(conn: Connection, container: str, name: str) -> None:
    await conn.execute("DELETE FROM blob_deletion WHERE container = $1 AND name = $2", container, name)


async def still_expected(conn: Connection, owner_id: UUID, folder: str, picture_id: UUID | None) -> bool:
    """Whether a row names this blob again (a folder created again under the same name, for a
    marker): then it is not an orphan any more and must stay."""
    if picture_id is not None:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM picture WHERE id = $1)", picture_id))
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM picture_set ps JOIN users u ON u.id = ps.owner_id
                               WHERE ps.owner_id = $1
                                 AND (ps.name = $2 OR ($2 = 'General' AND u.default_set_id = ps.id)))""",
            owner_id,
            folder,
        )
    )
