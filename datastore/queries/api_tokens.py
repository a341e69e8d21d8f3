"""Personal API tokens: only the SHA-256 of a token is stored, so a database leak reveals none."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from asyncpg import Connection, Record


async def insert_token(
    conn: Connection, user_id: UUID, name: str, token_hash: bytes, expires_at: datetime | None
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO api_token (user_id, name, token_hash, expires_at) VALUES ($1, $2, $3, $4)
           RETURNING id""",
        user_id,
        name,
        token_hash,
        expires_at,
    )


async def caller_of(conn: Connection, token_hash: bytes) -> Record | None:
    """The user a live (not revoked, not expired) token stands for."""
    return await conn.fetchrow(
        """SELECT u.id, u.email, u.is_admin, u.is_verifier FROM api_token t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now())""",
        token_hash,
    )


async def list_tokens(conn: Connection, user_id: UUID | None) -> list[Record]:
    return await conn.fetch(
        """SELECT t.id, u.email, t.name, t.created_at, t.expires_at, t.revoked_at
             FROM api_token t JOIN users u ON u.id = t.user_id
            WHERE $1::uuid IS NULL OR t.user_id = $1
            ORDER BY t.created_at""",
        user_id,
    )


async def revoke(conn: Connection, token_id: UUID) -> bool:
    """Whether a live token was revoked (False: unknown or already revoked)."""
    return (
        await conn.execute(
            "UPDATE api_token SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
        )
    ).endswith(" 1")
