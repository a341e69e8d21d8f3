"""The review of the built-in classifier's examples and its versions, in storage: one review at a
time (an advisory lock held for the transaction), so two verifiers accepting at once make one
version after the other and none is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from datastore.queries import examples as example_queries
from datastore.queries import review as queries


class Reviewing:
    """The review's statements, in its transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def chosen(
        self, ids: list[int] | None, email: str | None, folder: UUID | None
    ) -> list[asyncpg.Record]:
        return await queries.chosen(self.conn, ids, email, folder)

    async def set_state(self, ids: list[int], state: str, by: str) -> None:
        await queries.set_state(self.conn, ids, state, by)

    async def accepted_ids(self) -> list[int]:
        return await queries.accepted_ids(self.conn)

    async def rows_of(self, ids: list[int]) -> list[asyncpg.Record]:
        return await queries.rows_of(self.conn, ids)

    async def active(self) -> asyncpg.Record | None:
        return await queries.active(self.conn)

    async def version(self, version_id: str) -> asyncpg.Record | None:
        return await queries.version(self.conn, version_id)

    async def versions(self) -> list[asyncpg.Record]:
        return await queries.versions(self.conn)

    async def add_version(
        self, version_id: str, by: str, examples: list[int], counts: dict, score, embedder: str, state: str
    ) -> None:
        await queries.add_version(self.conn, version_id, by, examples, counts, score, embedder, state)

    async def activate(self, version_id: str) -> None:
        await queries.activate(self.conn, version_id)

    async def pending_not_in(self, examples: list[int], by: str) -> int:
        return await queries.pending_not_in(self.conn, examples, by)

    async def announce(self) -> None:
        """At commit, every worker of every replica refits."""
        await example_queries.announce(self.conn)


@asynccontextmanager
async def reviewing(pool: asyncpg.Pool) -> AsyncIterator[Reviewing]:
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock(conn)
        yield Reviewing(conn)


async def listed(
    pool: asyncpg.Pool, state: str | None, owner: UUID | None = None, email: str | None = None
) -> list[dict]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await queries.listed(conn, state, owner, email)]


async def versions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await queries.versions(conn)


async def active_version(pool: asyncpg.Pool) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        return await queries.active(conn)


async def diff_material(pool: asyncpg.Pool, a: str, b: str, limit: int) -> tuple | None:
    """(version a, version b, a's example rows, b's, the latest `limit` boxes answered); None when
    either version is unknown."""
    async with pool.acquire() as conn:
        first, second = await queries.version(conn, a), await queries.version(conn, b)
        if first is None or second is None:
            return None
        rows_a = await queries.rows_of(conn, list(first["examples"]))
        rows_b = await queries.rows_of(conn, list(second["examples"]))
        return first, second, rows_a, rows_b, await queries.recent_boxes(conn, limit)
