"""How many examples the built-in classifier has learned of each seed name (/metrics)."""

from __future__ import annotations

import asyncpg

from datastore.queries import examples


async def counts_by_seed(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    """(seed name, examples), by seed name."""
    async with pool.acquire() as conn:
        return await examples.counts_by_seed(conn)
