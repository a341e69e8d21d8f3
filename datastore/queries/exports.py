"""What a dataset export reads: each picture's latest inference and its boxes, with the seed
each box is labelled with (the verified one, else the best guess)."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def labelled_boxes(
    conn: Connection, user_id: UUID | None, folder_ids: list[UUID] | None, verified_only: bool
) -> list[Record]:
    """One row per box (boxes removed by feedback left out), pictures in upload order, boxes
    in the order the model gave them; `verified_only`: boxes a user confirmed or corrected."""
    return await conn.fetch(
        """WITH latest AS (
               SELECT DISTINCT ON (picture_id) id, picture_id, inference -> 'imageDims' AS dims
                 FROM inference ORDER BY picture_id, upload_date DESC, id)
           SELECT p.id AS picture_id, ps.name AS folder, u.email, l.id AS inference_id,
                  l.dims, o.id AS box_id, coalesce(o.box_metadata -> 'box', o.box_metadata) AS box,
                  o.verified_id IS NOT NULL AS verified, s.name AS label, so.score
             FROM latest l
             JOIN picture p ON p.id = l.picture_id
             JOIN picture_set ps ON ps.id = p.picture_set_id
             JOIN users u ON u.id = ps.owner_id
             JOIN object o ON o.inference_id = l.id AND o.valid
             JOIN seed_obj so ON so.id = coalesce(o.verified_id, o.top_id)
             JOIN seed s ON s.id = so.seed_id
            WHERE ($1::uuid IS NULL OR u.id = $1)
              AND ($2::uuid[] IS NULL OR ps.id = ANY($2))
              AND (NOT $3 OR o.verified_id IS NOT NULL)
            ORDER BY p.upload_date, p.id, o.seq""",
        user_id,
        folder_ids,
        verified_only,
    )


async def folders_named(conn: Connection, name: str, user_id: UUID | None) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM picture_set WHERE name = $1 AND ($2::uuid IS NULL OR owner_id = $2)", name, user_id
    )
    return [row["id"] for row in rows]
