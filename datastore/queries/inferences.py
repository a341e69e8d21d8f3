from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from asyncpg import Connection, Record

Objects = list[tuple[UUID, dict, UUID]]  # (object id, box metadata, id of its best guess)
Guesses = list[tuple[UUID, UUID, UUID, float]]  # (seed_obj id, seed id, object id, score)

# An inference with its objects and their guesses, as CTEs after one named `pic` (the picture's
# id): one statement, one round trip, whatever the number of boxes. Objects are inserted in the
# model's order (their seq keeps it).
_INFERENCE_ROWS = """
    inf AS (
        INSERT INTO inference (id, inference, picture_id, user_id, pipeline_id)
        SELECT $1, $2, pic.id, $3, $4 FROM pic RETURNING id
    ), obj AS (
        INSERT INTO object (id, box_metadata, inference_id, type_id, top_id)
        SELECT o.id, o.box_metadata, inf.id, 1, o.top_id
          FROM inf,
               unnest($5::uuid[], $6::json[], $7::uuid[]) WITH ORDINALITY AS o(id, box_metadata, top_id, n)
         ORDER BY o.n
        RETURNING id
    ), guess AS (
        INSERT INTO seed_obj (id, seed_id, object_id, score)
        SELECT g.id, g.seed_id, g.object_id, g.score
          FROM inf,
               unnest($8::uuid[], $9::uuid[], $10::uuid[], $11::float8[]) AS g(id, seed_id, object_id, score)
        RETURNING id
    )"""


@dataclass(frozen=True)
class NewInference:
    """An inference to insert: its id (made client-side), whose and which pipeline's it is, its
    summary JSON, its objects and their guesses."""

    id: UUID
    user_id: UUID
    pipeline_id: UUID | None
    summary: dict
    objects: Objects
    guesses: Guesses

    def args(self) -> list:
        """$1..$11 of _INFERENCE_ROWS."""
        objects, guesses = self.objects, self.guesses
        return [
            self.id,
            self.summary,
            self.user_id,
            self.pipeline_id,
            *([o[i] for o in objects] for i in range(3)),
            *([g[i] for g in guesses] for i in range(4)),
        ]


async def insert_inference(conn: Connection, picture_id: UUID, inference: NewInference) -> None:
    """An inference of a stored picture with its objects and guesses, in one statement."""
    await conn.execute(
        f"WITH pic AS (SELECT $12::uuid AS id), {_INFERENCE_ROWS} SELECT 1", *inference.args(), picture_id
    )


async def insert_picture_with_inference(
    conn: Connection, folder_id: UUID, picture_id: UUID, sha256: str, metadata: dict, inference: NewInference
) -> bool:
    """A picture with its inference, objects and guesses, in one statement (its own transaction),
    after the folder's row lock in the writers' order; False, with nothing written, when the
    folder was deleted meanwhile."""
    return await conn.fetchval(
        f"""WITH folder AS (
                SELECT id FROM picture_set WHERE id = $12 FOR KEY SHARE
            ), pic AS (
                INSERT INTO picture (id, picture, picture_set_id, nb_obj, sha256)
                SELECT $13, $14, folder.id, 0, $15 FROM folder RETURNING id
            ), {_INFERENCE_ROWS}
            SELECT EXISTS (SELECT 1 FROM pic)""",
        *inference.args(),
        folder_id,
        picture_id,
        metadata,
        sha256,
    )


async def insert_object(
    conn: Connection, inference_id: UUID, box_metadata: dict, *, manual: bool = False
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO object (box_metadata, inference_id, type_id, manual_detection)
           VALUES ($1, $2, 1, $3) RETURNING id""",
        box_metadata,
        inference_id,
        manual,
    )


async def insert_seed_obj(conn: Connection, seed_id: UUID, object_id: UUID, score: float) -> UUID:
    return await conn.fetchval(
        "INSERT INTO seed_obj (seed_id, object_id, score) VALUES ($1, $2, $3) RETURNING id",
        seed_id,
        object_id,
        score,
    )


async def set_top(conn: Connection, object_id: UUID, seed_obj_id: UUID) -> None:
    await conn.execute(
        "UPDATE object SET top_id = $2, update_at = now() WHERE id = $1", object_id, seed_obj_id
    )


async def get_inference_row(conn: Connection, inference_id: UUID) -> Record | None:
    """The inference with its picture's owner (for the ownership check)."""
    return await conn.fetchrow(
        """SELECT i.id, i.inference, i.picture_id, i.pipeline_id, i.verified, ps.owner_id, ps.id AS folder_id
             FROM inference i JOIN picture p ON p.id = i.picture_id
             JOIN picture_set ps ON ps.id = p.picture_set_id
            WHERE i.id = $1""",
        inference_id,
    )


async def lock_inference(conn: Connection, inference_id: UUID) -> Record | None:
    """Hold the inference for feedback (after its folder, in the writers' lock order): two
    feedbacks on one inference run one after the other. None if it was deleted meanwhile."""
    return await conn.fetchrow("SELECT id, verified FROM inference WHERE id = $1 FOR UPDATE", inference_id)


async def latest_inference_of_picture(conn: Connection, picture_id: UUID) -> Record | None:
    return await conn.fetchrow(
        """SELECT id, inference, picture_id, pipeline_id, verified FROM inference
            WHERE picture_id = $1 ORDER BY upload_date DESC, id LIMIT 1""",
        picture_id,
    )


async def objects_with_guesses(conn: Connection, inference_id: UUID) -> list[Record]:
    """Every object of the inference with its candidate seeds (best score first), one row each."""
    return await conn.fetch(
        """SELECT o.id, o.box_metadata, o.verified_id, o.top_id, o.valid, o.type_id,
                  coalesce(json_agg(json_build_object('object_id', so.id, 'label', s.name, 'score', so.score,
                                                      'seed_id', s.id)
                                    ORDER BY so.score DESC, so.id) FILTER (WHERE so.id IS NOT NULL),
                           '[]'::json) AS guesses
             FROM object o LEFT JOIN seed_obj so ON so.object_id = o.id LEFT JOIN seed s ON s.id = so.seed_id
            WHERE o.inference_id = $1
            GROUP BY o.id
            ORDER BY o.seq""",
        inference_id,
    )


async def pipeline_summary(conn: Connection, pipeline_id: UUID | None) -> Record | None:
    if pipeline_id is None:
        return None
    return await conn.fetchrow("SELECT id, name, data FROM pipeline WHERE id = $1", pipeline_id)


async def get_object(conn: Connection, object_id: UUID) -> Record | None:
    return await conn.fetchrow(
        "SELECT id, inference_id, box_metadata, verified_id, top_id, valid FROM object WHERE id = $1",
        object_id,
    )


async def verify_object(
    conn: Connection, object_id: UUID, seed_obj_id: UUID | None, *, valid: bool = True
) -> None:
    await conn.execute(
        "UPDATE object SET verified_id = $2, valid = $3, update_at = now() WHERE id = $1",
        object_id,
        seed_obj_id,
        valid,
    )


async def set_box_metadata(conn: Connection, object_id: UUID, box_metadata: dict) -> None:
    await conn.execute(
        "UPDATE object SET box_metadata = $2, update_at = now() WHERE id = $1", object_id, box_metadata
    )


async def find_seed_obj(conn: Connection, object_id: UUID, seed_id: UUID) -> UUID | None:
    return await conn.fetchval(
        "SELECT id FROM seed_obj WHERE object_id = $1 AND seed_id = $2 ORDER BY score DESC LIMIT 1",
        object_id,
        seed_id,
    )


async def verify_inference_if_resolved(conn: Connection, inference_id: UUID, user_id: UUID) -> bool:
    """Mark the inference verified when every box is confirmed or deleted; True if it now is."""
    return bool(
        await conn.fetchval(
            """UPDATE inference SET verified = true, feedback_user_id = $2, update_at = now()
                WHERE id = $1 AND NOT verified
                  AND NOT EXISTS (SELECT 1 FROM object o
                                   WHERE o.inference_id = $1 AND o.verified_id IS NULL AND o.valid)
            RETURNING true""",
            inference_id,
            user_id,
        )
    )


async def seed_of_guess(conn: Connection, seed_obj_id: UUID | None) -> UUID | None:
    return await conn.fetchval("SELECT seed_id FROM seed_obj WHERE id = $1", seed_obj_id)


async def measurements(conn: Connection, user_id: UUID | None) -> list[Record]:
    """Every measured box (of one user, or of all), with its seed: the chosen one when the box
    is verified, else the best guess."""
    return await conn.fetch(
        """SELECT u.email, ps.name AS folder, i.picture_id, i.id AS inference_id, o.id AS box_id,
                  s.name AS label, so.score, o.box_metadata -> 'measurements' AS measurements,
                  o.verified_id IS NOT NULL AS verified
             FROM object o
             JOIN inference i ON i.id = o.inference_id
             JOIN picture p ON p.id = i.picture_id
             JOIN picture_set ps ON ps.id = p.picture_set_id
             JOIN users u ON u.id = i.user_id
             LEFT JOIN seed_obj so ON so.id = coalesce(o.verified_id, o.top_id)
             LEFT JOIN seed s ON s.id = so.seed_id
            WHERE json_typeof(o.box_metadata -> 'measurements') = 'object'
              AND ($1::uuid IS NULL OR i.user_id = $1)
            ORDER BY i.upload_date, i.id, o.seq""",
        user_id,
    )
