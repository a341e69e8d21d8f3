"""Users as the identity sources and the operator commands find them: by email, with their
administrator role."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from datastore.queries import users


async def user_id_by_email(pool: asyncpg.Pool, email: str) -> UUID | None:
    async with pool.acquire() as conn:
        return await users.get_user_id_by_email(conn, email)


async def caller_by_email(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    """The registered user's id, email and administrator role (None: not registered)."""
    async with pool.acquire() as conn:
        return await users.caller_by_email(conn, email)


async def set_admin(pool: asyncpg.Pool, email: str, admin: bool) -> UUID | None:
    """Grant or take away the administrator role; the user's id, None when the email is not
    registered."""
    async with pool.acquire() as conn:
        return await users.set_admin(conn, email, admin)


async def set_verifier(pool: asyncpg.Pool, email: str, verifier: bool) -> UUID | None:
    """Grant or take away the verifier role (accepting examples into the shared classifier); the
    user's id, None when the email is not registered."""
    async with pool.acquire() as conn:
        return await users.set_verifier(conn, email, verifier)
