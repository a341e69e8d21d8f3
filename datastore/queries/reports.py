"""What a sample report reads (issue "Sample reports"): the folder's sample and, in one statement,
every box of the latest inference of each of its pictures."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def folder(conn: Connection, folder_id: UUID) -> Record | None:
    return await conn.fetchrow(
        """SELECT ps.id, ps.name, ps.owner_id, s.weight_g, s.lot, s.crop, s.notes, s.updated_at,
                  (SELECT count(*) FROM picture p WHERE p.picture_set_id = ps.id)::int AS pictures
             FROM picture_set ps LEFT JOIN folder_sample s ON s.folder_id = ps.id WHERE ps.id = $1""",
        folder_id,
    )


async def set_sample(
    conn: Connection,
    folder_id: UUID,
    weight_g: float,
    lot: str | None,
    crop: str | None,
    notes: str | None,
    by: str,
) -> None:
    await conn.execute(
        """INSERT INTO folder_sample (folder_id, weight_g, lot, crop, notes, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (folder_id) DO UPDATE SET weight_g = $2, lot = $3, crop = $4, notes = $5,
                                                 updated_by = $6, updated_at = now()""",
        folder_id,
        weight_g,
        lot,
        crop,
        notes,
        by,
    )


async def boxes(conn: Connection, folder_id: UUID) -> list[Record]:
    """Every box of the latest inference of each picture of the folder: its picture, index, label
    (the verified one when a user confirmed or corrected it), the model's top label and score,
    and of its metadata only what a report reads (prediction set, the box, measurements)."""
    return await conn.fetch(
        """WITH latest AS (
               SELECT DISTINCT ON (i.picture_id) i.id, i.picture_id, i.inference->'imageDims' AS dims,
                      i.inference->>'classifier_version' AS classifier_version
                 FROM inference i JOIN picture p ON p.id = i.picture_id
                WHERE p.picture_set_id = $1
                ORDER BY i.picture_id, i.upload_date DESC, i.id)
           SELECT l.picture_id, l.classifier_version, l.dims,
                  row_number() OVER (PARTITION BY l.id ORDER BY o.seq) - 1 AS box_index,
                  o.box_metadata->'prediction_set' AS prediction_set, o.box_metadata->'box' AS box,
                  o.box_metadata->'measurements' AS measurements,
                  top.name AS predicted, ts.score, ver.name AS verified
             FROM latest l JOIN object o ON o.inference_id = l.id
             LEFT JOIN seed_obj ts ON ts.id = o.top_id LEFT JOIN seed top ON top.id = ts.seed_id
             LEFT JOIN seed_obj vs ON vs.id = o.verified_id LEFT JOIN seed ver ON ver.id = vs.seed_id
            ORDER BY l.picture_id, o.seq""",
        folder_id,
    )
