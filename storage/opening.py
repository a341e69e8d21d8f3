"""Opening what storage stands on: the database (the embedded PostgreSQL when no URL is given),
migrated, with a pool; and the blob store (Azure when a connection string is given, else files).
The process wiring (nachet/runtime.py) calls these and hands the results to storage's users."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from datastore.blob import BlobStore, open_blob_store
from datastore.db import DatabaseUnavailable, create_pool, mask_url
from datastore.embedded import EmbeddedPostgres, start_embedded
from datastore.migrate import migrate

__all__ = ["BlobStore", "DatabaseUnavailable", "EmbeddedPostgres", "open_blobs", "open_database"]


async def database_url(url: str | None, data_dir: Path) -> tuple[str, EmbeddedPostgres | None]:
    """`url`, or the embedded PostgreSQL's under `data_dir` (started, or joined when another
    process of this data directory started it)."""
    if url is not None:
        return url, None
    embedded = await asyncio.to_thread(start_embedded, data_dir)
    return embedded.url(), embedded


async def open_database(
    url: str | None, data_dir: Path, schema: str, *, pool_min: int, pool_max: int
) -> tuple[str, asyncpg.Pool, EmbeddedPostgres | None, list[str]]:
    """(its URL, a pool on `schema` migrated first, the embedded server if it is ours, the
    migrations applied now). DatabaseUnavailable, one clear line, when it cannot be reached."""
    url, embedded = await database_url(url, data_dir)
    try:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            raise DatabaseUnavailable(
                f"cannot connect to the database at {mask_url(url)}: {error}"
            ) from error
        try:
            applied = await migrate(conn, schema)
        finally:
            await conn.close()
        pool = await create_pool(url, schema, min_size=pool_min, max_size=pool_max)
    except BaseException:
        if embedded is not None:  # give back this process's hold on the embedded server
            await asyncio.to_thread(embedded.stop)
        raise
    return url, pool, embedded, applied


def open_blobs(
    data_dir: Path, connection_string: str | None, api_version: str | None = None, **limits: float
) -> BlobStore:
    """Azure Blob Storage when a connection string is given (`limits`: connect_timeout_s,
    read_timeout_s, retries), else files under `data_dir/blob`."""
    return open_blob_store(data_dir, connection_string, api_version, **limits)
