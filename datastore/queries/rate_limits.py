"""A GCRA rate limiter in one statement, so every worker and replica shares the same counters
and two concurrent requests can never both take the last slot."""

from __future__ import annotations

from datetime import timedelta

from asyncpg import Connection


async def take(conn: Connection, key: str, emission: timedelta, burst: timedelta) -> float:
    """Take one request from `key`'s allowance (one request per `emission`, up to `burst` ahead):
    0.0 when allowed, else the seconds to wait before the next one is."""
    allowed = await conn.fetchval(
        """INSERT INTO rate_limit AS r (key, tat) VALUES ($1, now() + $2::interval)
           ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now()) + $2::interval
            WHERE greatest(r.tat, now()) - now() <= $3::interval
           RETURNING true""",
        key,
        emission,
        burst,
    )
    if allowed:
        return 0.0
    wait = await conn.fetchval(
        "SELECT extract(epoch FROM tat - $2::interval - now()) FROM rate_limit WHERE key = $1", key, burst
    )
    return max(float(wait or 0.0), 0.0)
