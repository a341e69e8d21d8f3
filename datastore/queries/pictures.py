from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def insert_picture(
    conn: Connection, folder_id: UUID, sha256: str, metadata=None, picture_id=None
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO picture (id, picture, picture_set_id, nb_obj, sha256)
           VALUES (coalesce($4, gen_random_uuid()), $3, $1, 0, $2) RETURNING id""",
        folder_id,
        sha256,
        metadata if metadata is not None else [],
        picture_id,
    )


async def set_picture_metadata(conn: Connection, picture_id: UUID, metadata: dict) -> None:
    await conn.execute("UPDATE picture SET picture = $2 WHERE id = $1", picture_id, metadata)


async def move_picture(conn: Connection, picture_id: UUID, folder_id: UUID, metadata: dict) -> None:
    await conn.execute(
        "UPDATE picture SET picture_set_id = $2, picture = $3, nb_obj = 0 WHERE id = $1",
        picture_id,
        folder_id,
        metadata,
    )


async def insert_picture_seed(conn: Connection, picture_id: UUID, seed_id: UUID) -> None:
    await conn.execute("INSERT INTO picture_seed (picture_id, seed_id) VALUES ($1, $2)", picture_id, seed_id)


async def get_picture(conn: Connection, picture_id: UUID) -> Record | None:
    """The picture with its folder's name, owner and default flag (to find and guard its blob)."""
    return await conn.fetchrow(
        """SELECT p.id, p.picture, p.picture_set_id, ps.name AS folder_name, ps.owner_id,
                  (u.default_set_id = ps.id) AS is_default
             FROM picture p JOIN picture_set ps ON ps.id = p.picture_set_id JOIN users u ON u.id = ps.owner_id
            WHERE p.id = $1""",
        picture_id,
    )


async def record_validator(conn: Connection, sha256: str) -> None:
    await conn.execute("INSERT INTO image_validator (sha256) VALUES ($1) ON CONFLICT DO NOTHING", sha256)
