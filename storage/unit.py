"""One unit of work: blob writes, then the rows in one short transaction, then blob deletions.

No transaction is open while a blob moves: blobs are written first (outside any transaction, so
a slow or unreachable blob store never holds a pooled connection), then `rows()` opens the
transaction that writes the rows. If anything fails (the commit included) the blobs written are
removed again, so a failure leaves neither behind. Blob deletions wait until the rows are
committed, so a database failure never loses a picture.

Writers take their folder's row lock inside `rows()` (or in the one statement that writes all
their rows, as /inf's save does) and find out there whether it still exists: the blob of a folder
deleted meanwhile is removed with the failed unit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg

from datastore.blob import BlobNotFound, BlobStore
from datastore.db import transaction
from datastore.queries import blob_deletions

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Unit:
    pool: asyncpg.Pool
    blobs: BlobStore
    written: list[tuple[str, str]] = field(default_factory=list)
    failed: set[tuple[str, str]] = field(default_factory=set)  # uploads that raised: maybe never stored
    doomed: list[tuple[str, str]] = field(default_factory=list)

    async def put(self, container: str, name: str, data: bytes, tags: dict[str, str] | None = None) -> None:
        """Upload (creating the container of a known user on first write). It is remembered
        before the upload: a write that fails half way (blob stored, tags not) is removed too."""
        self.written.append((container, name))
        try:
            try:
                await self.blobs.upload(container, name, data, tags=tags)
            except BlobNotFound:
                await self.blobs.create_container(container)
                await self.blobs.upload(container, name, data, tags=tags)
        except BaseException:
            self.failed.add((container, name))
            raise

    def keep(self) -> None:
        """The blobs written so far are named by committed rows now: a failure after this point
        (a client that hangs up) must not remove them."""
        self.written.clear()
        self.failed.clear()

    def delete_after_commit(self, container: str, name: str) -> None:
        self.doomed.append((container, name))

    def rows(self):
        """The unit's transaction: open it after the blobs are written, keep it short."""
        return transaction(self.pool)


async def to_the_end(statement: Awaitable[T], what: str) -> T:
    """Await a statement that commits on its own even if the caller is cancelled meanwhile (a
    client hangs up): whether it committed must be known before the unit decides which blobs to
    remove, and a cancelled query may have committed all the same. The caller's cancellation is
    raised once the statement has ended."""
    task = asyncio.ensure_future(statement)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        log.info("the caller went away while %s was being written: the write goes on to its end", what)
        await asyncio.wait([task])
        raise


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, blobs: BlobStore) -> AsyncIterator[Unit]:
    unit = Unit(pool, blobs)
    try:
        yield unit
    except BaseException:
        left = await _delete(blobs, reversed(unit.written), unit.failed, "after a failed unit")
        await _remember(pool, left)
        raise
    await _remember(pool, await _delete(blobs, unit.doomed, set(), "after its rows were deleted"))


async def _delete(blobs: BlobStore, names, quiet: set, why: str) -> list[tuple[str, str]]:
    """Delete the blobs; return those the store would not delete (it is away)."""
    left = []
    for container, name in names:
        try:
            await blobs.delete(container, name)
        except BlobNotFound:  # never written, or gone already
            pass
        except Exception as error:  # the original error matters more; leave a trace
            level = logging.DEBUG if (container, name) in quiet else logging.WARNING
            log.log(level, "could not remove blob %s/%s %s: %s", container, name, why, error)
            left.append((container, name))
    return left


async def _remember(pool: asyncpg.Pool, left: list[tuple[str, str]]) -> None:
    """Blobs the store would not delete are swept again later (sweep_blob_deletions)."""
    if not left:
        return
    try:
        async with pool.acquire() as conn:
            await blob_deletions.remember(conn, left)
    except Exception as error:  # the database is away too: fsck will find them
        log.warning("could not record %d blob(s) to delete again: %s", len(left), error)
