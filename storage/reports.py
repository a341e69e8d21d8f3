"""A folder as a sample (issue "Sample reports"): its weight and lot, and what its report is made
from, read in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from datastore.queries import reports as queries
from datastore.queries import review
from kernel.errors import NotFoundError, NotOwnerError

from . import messages as say
from .base import as_uuid, guard


@dataclass(frozen=True)
class SampleMaterial:
    """What a report is computed from: the folder and its sample, its boxes, and the active
    classifier version's cross-validated scores (its per-class recall)."""

    folder: asyncpg.Record
    boxes: list[asyncpg.Record]
    scores: dict | None


async def _owned(conn: asyncpg.Connection, user_id: UUID | None, folder_ref: object) -> asyncpg.Record:
    """The folder, if `user_id` owns it (None: an operator or admin, anyone's)."""
    error = NotFoundError(say.folder_not_found(folder_ref), 404)
    folder = await queries.folder(conn, as_uuid(folder_ref, error))
    if folder is None:
        raise error
    if user_id is not None and folder["owner_id"] != user_id:
        raise NotOwnerError(say.not_folder_owner(user_id, folder_ref))
    return folder


@guard
async def set_sample(
    pool: asyncpg.Pool, user_id: UUID | None, folder_ref: object, sample: dict, by: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        folder = await _owned(conn, user_id, folder_ref)
        await queries.set_sample(
            conn,
            folder["id"],
            sample["weight_g"],
            sample.get("lot"),
            sample.get("crop"),
            sample.get("notes"),
            by,
        )


@guard
async def material(pool: asyncpg.Pool, user_id: UUID | None, folder_ref: object) -> SampleMaterial:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        folder = await _owned(conn, user_id, folder_ref)
        boxes = await queries.boxes(conn, folder["id"])
        active = await review.active(conn)
    return SampleMaterial(folder, boxes, active["score"] if active else None)
