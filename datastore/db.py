"""The asyncpg pool: one per process, every connection on the Nachet schema, JSON decoded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def mask_url(url: str) -> str:
    """A database URL with its password replaced by `***`, fit for an error line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class DatabaseUnavailable(Exception):
    """The database could not be reached (at start-up or while serving)."""


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own cleanup (which rolls back a stray
    transaction and drops listener callbacks): nothing, as no pooled connection is given session
    state (no SET, no session advisory lock; listeners UNLISTEN when they stop). asyncpg's
    default sends a reset query on every release: a round trip and 0.1 ms of CPU, 3 times per /inf."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open the pool; raise DatabaseUnavailable naming the (masked) URL when it cannot connect."""
    try:
        return await asyncpg.create_pool(
            dsn=url,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"search_path": f'"{schema}",public', "application_name": "nachet-backend"},
            timeout=10,
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise DatabaseUnavailable(f"cannot connect to the database at {mask_url(url)}: {error}") from error


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection inside one transaction; rolled back and returned to the pool on error."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            yield conn
