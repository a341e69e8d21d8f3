from __future__ import annotations

from datetime import date
from uuid import UUID

from asyncpg import Connection, Record


def folder_metadata(user_id: UUID, nb_pictures: int) -> dict:
    """The audit JSON the original stores in picture_set.picture_set."""
    today = date.today().isoformat()
    return {
        "image_data_picture_set": {"number_of_images": nb_pictures},
        "audit_trail": {
            "upload_date": today,
            "edited_by": str(user_id),
            "edit_date": today,
            "change_log": "picture_set created",
            "access_log": "picture_set accessed",
            "privacy_flag": False,
        },
    }


async def insert_folder(
    conn: Connection, owner_id: UUID, name: str | None, nb_pictures: int, folder_id: UUID | None = None
) -> Record | None:
    """(id, name) of the new folder, or None when the owner already has a folder of that name
    (a folder without a name is named after its id, by a trigger)."""
    return await conn.fetchrow(
        """INSERT INTO picture_set (id, picture_set, owner_id, name)
           VALUES (coalesce($4, gen_random_uuid()), $1, $2, $3)
           ON CONFLICT (owner_id, name) DO NOTHING RETURNING id, name""",
        folder_metadata(owner_id, nb_pictures),
        owner_id,
        name,
        folder_id,
    )


# Lock order, the same for every writer: folder row, then its pictures, then their inferences,
# objects and examples. Writers into a folder hold its row FOR KEY SHARE; deleting it takes
# FOR UPDATE, so a deletion waits for the writers in flight and then sees all their pictures,
# and a writer that comes after finds the folder gone.
_LOCKS = {None: "", "write": "FOR KEY SHARE OF ps", "delete": "FOR UPDATE OF ps"}


async def get_folder(conn: Connection, folder_id: UUID, lock: str | None = None) -> Record | None:
    """The folder with its owner and whether it is the owner's default ("General") folder;
    lock: None, "write" (adding to it) or "delete". None when it does not exist (any more)."""
    return await conn.fetchrow(
        f"""SELECT ps.id, ps.name, ps.owner_id, (u.default_set_id = ps.id) AS is_default
              FROM picture_set ps JOIN users u ON u.id = ps.owner_id
             WHERE ps.id = $1 {_LOCKS[lock]}""",
        folder_id,
    )


# The owner's folder a client's reference means: the folder with that id, else the folder with
# that name (a folder may be named like another folder's id). $1: the owner, $2: the id the
# reference may be, $3: the reference.
_NAMED_FOLDER = """SELECT ps.id, ps.name, ps.owner_id FROM picture_set ps
                    WHERE ps.owner_id = $1 AND (ps.id = $2 OR ps.name = $3)
                    ORDER BY (ps.id IS NOT DISTINCT FROM $2) DESC LIMIT 1"""


async def find_owned_folder(
    conn: Connection, owner_id: UUID, folder_id: UUID | None, name: str
) -> Record | None:
    """The owner's folder a client's reference means (`_NAMED_FOLDER`), as `get_folder` reads it."""
    return await conn.fetchrow(
        f"""SELECT f.id, f.name, f.owner_id, (u.default_set_id = f.id) AS is_default
              FROM ({_NAMED_FOLDER}) f JOIN users u ON u.id = f.owner_id""",
        owner_id,
        folder_id,
        name,
    )


async def inference_target(
    conn: Connection, user_id: UUID, folder_id: UUID | None, folder_name: str | None, validator: str | None
) -> Record | None:
    """/inf's user (None: unknown) and, in the same round trip: whether `validator` is a digest
    /image-validation gave, the user's folder the reference names (`named_*`, `_NAMED_FOLDER`),
    whether that id is another user's folder (`foreign`), and the user's default folder
    (`default_*`)."""
    return await conn.fetchrow(
        f"""SELECT u.id, u.email, u.default_set_id,
                   EXISTS (SELECT 1 FROM image_validator v WHERE v.sha256 = $4) AS validated,
                   named.id AS named_id, named.name AS named_name,
                   EXISTS (SELECT 1 FROM picture_set o WHERE o.id = $2 AND o.owner_id <> u.id) AS foreign,
                   d.id AS default_id, d.name AS default_name
              FROM users u
              LEFT JOIN LATERAL ({_NAMED_FOLDER}) named ON true
              LEFT JOIN picture_set d ON d.id = u.default_set_id
             WHERE u.id = $1""",
        user_id,
        folder_id,
        folder_name,
        validator,
    )


async def list_directories(conn: Connection, user_id: UUID) -> list[Record]:
    """Every folder of the user with its pictures' flags, in one round trip."""
    return await conn.fetch(
        """SELECT ps.id AS picture_set_id, ps.name AS folder_name, count(p.id)::int AS nb_pictures,
                  coalesce(json_agg(json_build_object(
                      'picture_id', p.id,
                      'is_validated', EXISTS (SELECT 1 FROM picture_seed s WHERE s.picture_id = p.id),
                      'inference_exist', EXISTS (SELECT 1 FROM inference i WHERE i.picture_id = p.id))
                    ORDER BY p.upload_date, p.id) FILTER (WHERE p.id IS NOT NULL), '[]'::json) AS pictures
             FROM picture_set ps LEFT JOIN picture p ON p.picture_set_id = ps.id
            WHERE ps.owner_id = $1
            GROUP BY ps.id
            ORDER BY ps.upload_date, ps.name""",
        user_id,
    )


async def validated_picture_ids(conn: Connection, folder_id: UUID) -> list[UUID]:
    """Pictures of the folder with a picture_seed row (batch-labelled or verified), each once."""
    rows = await conn.fetch(
        """SELECT p.id FROM picture p
            WHERE p.picture_set_id = $1
              AND EXISTS (SELECT 1 FROM picture_seed s WHERE s.picture_id = p.id)
            ORDER BY p.upload_date, p.id""",
        folder_id,
    )
    return [r["id"] for r in rows]


async def picture_ids(conn: Connection, folder_id: UUID) -> list[UUID]:
    rows = await conn.fetch("SELECT id FROM picture WHERE picture_set_id = $1", folder_id)
    return [r["id"] for r in rows]


async def set_number_of_images(conn: Connection, folder_id: UUID, nb_pictures: int) -> None:
    """The folder's audit JSON counts this many pictures (an archive, once they moved in)."""
    await conn.execute(
        """UPDATE picture_set
              SET picture_set = jsonb_set(picture_set::jsonb, '{image_data_picture_set,number_of_images}',
                                          to_jsonb($2::int))::json
            WHERE id = $1""",
        folder_id,
        nb_pictures,
    )


async def delete_folder(conn: Connection, folder_id: UUID) -> None:
    await conn.execute("DELETE FROM picture_set WHERE id = $1", folder_id)
