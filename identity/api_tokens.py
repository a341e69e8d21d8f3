"""Personal API tokens for scripts and lab machines: `nachet_` and 43 random url-safe
characters (256 bits). Only their SHA-256 is stored: with that much entropy a fast hash is
enough, and it lets a request be checked with one indexed lookup."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from storage import accounts, api_tokens

PREFIX = "nachet_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def looks_like_api_token(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) < 100


async def create_token(
    pool: asyncpg.Pool, email: str, name: str = "", expires_days: float | None = None
) -> tuple[UUID, str]:
    """A new token for a registered user: (its id, the token, to be shown once)."""
    user_id = await accounts.user_id_by_email(pool, email)
    if user_id is None:
        raise LookupError(f"no user {email} (register it with: users add {email})")
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days is not None else None
    token = new_token()
    return await api_tokens.add_token(pool, user_id, name, token_hash(token), expires), token


async def list_tokens(pool: asyncpg.Pool, email: str | None = None) -> list[asyncpg.Record]:
    user_id = await accounts.user_id_by_email(pool, email) if email else None
    if email and user_id is None:
        raise LookupError(f"no user {email}")
    return await api_tokens.list_tokens(pool, user_id)


async def revoke_token(pool: asyncpg.Pool, token_id: str) -> None:
    try:
        ident = UUID(token_id)
    except ValueError:
        raise LookupError(f"not a token id: {token_id!r} (see: tokens list)") from None
    if not await api_tokens.revoke(pool, ident):
        raise LookupError(f"no live token {token_id}")
