"""The rate limiters' counters, kept in PostgreSQL so that every worker and replica shares one
allowance per caller."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from datastore.queries import rate_limits


async def take(pool: asyncpg.Pool, key: str, emission: timedelta, burst: timedelta) -> float:
    """Take one request from `key`'s allowance (one request per `emission`, up to `burst` ahead):
    0.0 when allowed, else the seconds to wait before the next one is."""
    async with pool.acquire() as conn:
        return await rate_limits.take(conn, key, emission, burst)
