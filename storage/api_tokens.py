"""Personal API tokens as stored: their SHA-256 only (identity/api_tokens.py makes the tokens)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from datastore.queries import api_tokens


async def add_token(
    pool: asyncpg.Pool, user_id: UUID, name: str, token_hash: bytes, expires_at: datetime | None
) -> UUID:
    """The new token's id."""
    async with pool.acquire() as conn:
        return await api_tokens.insert_token(conn, user_id, name, token_hash, expires_at)


async def caller_of(pool: asyncpg.Pool, token_hash: bytes) -> asyncpg.Record | None:
    """The user (id, email, administrator role) a live token stands for; None when the token is
    unknown, expired or revoked."""
    async with pool.acquire() as conn:
        return await api_tokens.caller_of(conn, token_hash)


async def list_tokens(pool: asyncpg.Pool, user_id: UUID | None) -> list[asyncpg.Record]:
    """The tokens of one user (None: of every user), oldest first, never the tokens themselves."""
    async with pool.acquire() as conn:
        return await api_tokens.list_tokens(conn, user_id)


async def revoke(pool: asyncpg.Pool, token_id: UUID) -> bool:
    """Whether a live token was revoked (False: unknown or already revoked)."""
    async with pool.acquire() as conn:
        return await api_tokens.revoke(conn, token_id)
