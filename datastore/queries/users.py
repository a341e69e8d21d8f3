from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def get_user_id_by_email(conn: Connection, email: str) -> UUID | None:
    return await conn.fetchval("SELECT id FROM users WHERE email = $1", email)


async def caller_by_email(conn: Connection, email: str) -> Record | None:
    return await conn.fetchrow("SELECT id, email, is_admin, is_verifier FROM users WHERE email = $1", email)


async def set_admin(conn: Connection, email: str, admin: bool) -> UUID | None:
    """The user's id, or None when the email is not registered."""
    return await conn.fetchval(
        "UPDATE users SET is_admin = $2, updated_at = now() WHERE email = $1 RETURNING id", email, admin
    )


async def get_user(conn: Connection, user_id: UUID) -> Record | None:
    return await conn.fetchrow("SELECT id, email, default_set_id FROM users WHERE id = $1", user_id)


async def insert_user(conn: Connection, email: str, user_id: UUID | None = None) -> UUID | None:
    """The new user's id, or None when the email is already registered."""
    return await conn.fetchval(
        """INSERT INTO users (id, email) VALUES (coalesce($2, gen_random_uuid()), $1)
           ON CONFLICT (email) DO NOTHING RETURNING id""",
        email,
        user_id,
    )


async def set_default_set(conn: Connection, user_id: UUID, set_id: UUID) -> None:
    await conn.execute(
        "UPDATE users SET default_set_id = $2, updated_at = now() WHERE id = $1", user_id, set_id
    )


async def list_users(conn: Connection) -> list[Record]:
    return await conn.fetch(
        """SELECT u.id, u.email, u.registration_date, u.is_admin,
                  (SELECT count(*) FROM picture_set ps WHERE ps.owner_id = u.id) AS folders
             FROM users u ORDER BY u.registration_date, u.email"""
    )


async def delete_user(conn: Connection, user_id: UUID) -> None:
    """Remove a user with everything they own (pictures cascade from their folders)."""
    await conn.execute("UPDATE users SET default_set_id = NULL WHERE id = $1", user_id)
    await conn.execute("DELETE FROM inference WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM pipeline_default WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM picture_set WHERE owner_id = $1", user_id)
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)


async def set_verifier(conn: Connection, email: str, verifier: bool) -> UUID | None:
    """The user's id, or None when the email is not registered."""
    return await conn.fetchval(
        "UPDATE users SET is_verifier = $2, updated_at = now() WHERE email = $1 RETURNING id", email, verifier
    )
