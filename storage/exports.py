"""What the export commands read: the labelled boxes of a training-set export (each picture's
latest inference) and every measured seed."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from datastore.queries import exports, inferences


async def folders_named(pool: asyncpg.Pool, name: str, user_id: UUID | None) -> list[UUID]:
    """The folders called `name` (of one user, or of every user)."""
    async with pool.acquire() as conn:
        return await exports.folders_named(conn, name, user_id)


async def labelled_boxes(
    pool: asyncpg.Pool, user_id: UUID | None, folder_ids: list[UUID] | None, verified_only: bool
) -> list[asyncpg.Record]:
    """One row per box of each picture's latest inference (boxes removed by feedback left out),
    pictures in upload order; `verified_only`: boxes a user confirmed or corrected."""
    async with pool.acquire() as conn:
        return await exports.labelled_boxes(conn, user_id, folder_ids, verified_only)


async def measurements(pool: asyncpg.Pool, user_id: UUID | None) -> list[asyncpg.Record]:
    """Every measured box (of one user, or of all) with its seed: the chosen one when the box is
    verified, else the best guess."""
    async with pool.acquire() as conn:
        return await inferences.measurements(conn, user_id)
