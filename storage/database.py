"""The database as the operator and the configuration see it: its URL fit for a message (the
password masked), the error raised when it cannot be reached, its migrations and the version
of its schema."""

from __future__ import annotations

import asyncpg

from datastore import migrate as migrations
from datastore.db import DatabaseUnavailable, mask_url

__all__ = ["DatabaseUnavailable", "apply_migrations", "mask_url", "schema_version"]


async def apply_migrations(url: str, schema: str) -> list[str]:
    """Create `schema` if needed and apply the missing migrations on a connection of its own;
    the names applied (empty: the database is up to date)."""
    conn = await asyncpg.connect(url)
    try:
        return await migrations.migrate(conn, schema)
    finally:
        await conn.close()


async def schema_version(pool: asyncpg.Pool) -> str | None:
    """The last migration applied (`NNNN_name`), None before the first."""
    async with pool.acquire() as conn:
        return await migrations.schema_version(conn)
