"""The built-in classifier's examples in the database: which labels teach it (`teaches`, the
learning policy), the task that turns labelled pictures and verified boxes into examples, the
examples themselves, and the NOTIFY that has every worker refit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from datastore.queries import examples as queries
from datastore.queries import tasks
from kernel.tasks import ExampleSource, LearnExamples

from .notifications import Listening
from .tasks_queue import defer

PLACEHOLDER_SEED = "Unknown seed"  # the classifier's "no idea"

Version = tuple[int, int, str]  # (examples, last example id, stamp of their states): what a fit read
NO_EXAMPLES: Version = (0, 0, "")


def teaches(seed_name: str) -> bool:
    """The learning policy: every label teaches but the placeholder, which is the classifier's
    own "no idea" (uploads, confirmations and corrections naming it teach nothing). Of the
    examples of one box, the latest correction wins: `save_examples` replaces the box's earlier
    ones (a picture's, when its task runs again)."""
    return seed_name.strip().lower() != PLACEHOLDER_SEED.lower()


async def enqueue_learning(
    conn: asyncpg.Connection, folder_id: UUID, sources: Sequence[ExampleSource]
) -> None:
    """One `LearnExamples` task for the sources whose label teaches, deferred in the caller's
    transaction (it runs once the rows it reads are committed)."""
    names = await queries.seed_names(conn, list({s.seed_id for s in sources}))
    teaching = [s for s in sources if teaches(names.get(s.seed_id, PLACEHOLDER_SEED))]
    if teaching:
        await defer(conn, LearnExamples(folder=folder_id, sources=teaching))


@dataclass(frozen=True)
class SourceExamples:
    """The examples computed from one source: (seed id, embedding bytes or None, features bytes,
    where in the picture it was cropped: fractions)."""

    source: ExampleSource
    vectors: list[tuple[UUID, bytes | None, bytes, dict]]


async def save_examples(
    pool: asyncpg.Pool,
    batch: Sequence[SourceExamples],
    folder: UUID | None,
    announce: bool,
    state: str = "accepted",
) -> tuple[int, bool]:
    """Store the examples (`state`: accepted, or pending review) in one short transaction that
    holds each source's folder, picture and object in the writers' lock order (a source deleted
    meanwhile is skipped, never a deadlock); (how many were stored, whether every worker was told
    to refit at commit: when `announce`, or once no learning task of `folder` is left to start)."""
    stored = 0
    async with pool.acquire() as conn, conn.transaction():
        for item in batch:
            source = item.source
            rows = [
                (seed, embedding, features, source.source, source.picture_id, source.object_id, crop, state)
                for seed, embedding, features, crop in item.vectors
            ]
            if rows and await queries.lock_sources(conn, source.picture_id, source.object_id):
                await queries.add_examples(conn, rows, source.object_id)
                stored += len(rows)
        told = bool(stored) and (
            announce
            or folder is None
            or not await tasks.learning_queued(conn, LearnExamples.name, str(folder))
        )
        if told:
            await queries.announce(conn)  # at commit: every worker refits
    return stored, told


@dataclass(frozen=True)
class Snapshot:
    """What the classifier is fitted from, read at one instant: the examples that may teach
    (pending and accepted, keyed by id) and the active shared version (id and example ids; None
    before the first review)."""

    version: Version
    rows: dict[int, asyncpg.Record]
    active: tuple[str, frozenset[int], str] | None  # (id, example ids, embedder)


async def load_examples(
    pool: asyncpg.Pool, known: Mapping[int, asyncpg.Record], version: Version
) -> Snapshot | None:
    """The examples that teach, read in one snapshot: `known` completed with the newer ones (all
    of them again when some were deleted or reviewed); None when nothing changed since `version`.
    Rows are keyed by id, so none is ever loaded twice."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        count, last, stamp = await queries.version(conn)
        if (count, last, stamp) == version:
            return None
        same_states = stamp == version[2]
        rows = dict(known) if same_states else {}
        rows.update(
            (r["id"], r)
            for r in await queries.examples_after(conn, version[1] if same_states else 0)
            if teaches(r["name"])
        )
        if len(rows) != count:  # some were deleted (or committed late): take them all again
            rows = {r["id"]: r for r in await queries.examples_after(conn, 0) if teaches(r["name"])}
        active = await conn.fetchrow(
            "SELECT id, examples, embedder FROM classifier_version WHERE state = 'active'"
        )
    shared = (active["id"], frozenset(active["examples"]), active["embedder"]) if active else None
    return Snapshot((len(rows), max(rows, default=0), stamp), rows, shared)


async def listen_for_examples(pool: asyncpg.Pool, on_new: Callable[[], None]) -> Listening:
    listening = Listening(pool, queries.CHANNEL_EXAMPLES, on_new)
    await listening.start()
    return listening


async def counts_by_seed(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    """(seed name, examples), by seed name."""
    async with pool.acquire() as conn:
        return await queries.counts_by_seed(conn)
