"""Model results by picture content and pipeline revision: a cache every worker shares (an
unlogged table: safe to lose)."""

from __future__ import annotations

from asyncpg import Connection


async def get(conn: Connection, digest: str, key: str) -> dict | None:
    return await conn.fetchval(
        "SELECT result FROM model_result WHERE picture_sha256 = $1 AND pipeline_key = $2", digest, key
    )


async def put(conn: Connection, digest: str, key: str, result: dict) -> None:
    await conn.execute(
        """INSERT INTO model_result (picture_sha256, pipeline_key, result) VALUES ($1, $2, $3)
           ON CONFLICT (picture_sha256, pipeline_key) DO UPDATE SET result = $3, created_at = now()""",
        digest,
        key,
        result,
    )


async def forget_all(conn: Connection) -> None:
    """A pipeline changed: no earlier result may be served again."""
    await conn.execute("DELETE FROM model_result")


async def prune(conn: Connection, older_than_days: float) -> int:
    status = await conn.execute(
        "DELETE FROM model_result WHERE created_at < now() - make_interval(days => $1)", older_than_days
    )
    return int(status.split()[-1])
