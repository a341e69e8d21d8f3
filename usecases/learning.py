"""How the built-in classifier learns, in every worker of every replica.

A labelled upload or a verified box defers a `LearnExamples` task in the transaction of its rows
(storage.seed_examples: which labels teach). Whichever process runs it crops the seeds, embeds
them and stores them as examples; a NOTIFY then has every worker load the new examples and refit
(coalesced: a batch of tasks makes one or two refits). The classifier in memory
(model_inference.local.learned) is a cache of the database: safe to lose, fitted on start, on
notification and every minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from kernel.tasks import ExampleSource, LearnExamples
from model_inference.cpu import run_cpu
from model_inference.local.lazy import embedder_identity
from model_inference.local.learned import LearnedClassifier, crops_for, version_id
from storage.notifications import Listening
from storage.seed_examples import (
    NO_EXAMPLES,
    Snapshot,
    SourceExamples,
    Version,
    listen_for_examples,
    load_examples,
    save_examples,
)

if TYPE_CHECKING:
    from model_inference.local.classifier import SeedClassifier

log = logging.getLogger(__name__)
PictureLoader = Callable[[UUID], Awaitable["bytes | None"]]  # a stored picture's bytes, None if gone
ANNOUNCE_EVERY_S = 5.0  # during a long batch import, the classifier catches up this often
LEARNING_THREADS = 1  # niced: it takes what /inf leaves (two threads fought /inf for the GIL)
PRIVATE_FITS_KEPT = 16  # users whose private layer stays fitted (reviewed mode)


class Learning:
    """`mode` (NACHET_LEARNING): "open", every example teaches the shared classifier at once; or
    "reviewed", a user's examples are pending and answer for that user alone (a private layer
    over the shared classifier) until a verifier accepts them into a new shared version
    (usecases/review.py)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        model: LearnedClassifier,
        load_picture: PictureLoader,
        refresh_s: float = 60.0,
        mode: str = "open",
    ):
        self.pool, self.model, self.load_picture = pool, model, load_picture
        self.refresh_s, self.mode = refresh_s, mode
        self.embedder = embedder_identity()
        self._rows: dict[int, asyncpg.Record] = {}  # example id -> row, in id order
        self._read: Version = NO_EXAMPLES  # what the rows are
        self._shared_rows: list = []
        self._pending: dict[str, list] = {}  # owner's user id -> their pending example rows
        self._private: OrderedDict[object, tuple[tuple, LearnedClassifier]] = OrderedDict()
        self._wake = asyncio.Event()
        self._refresh_lock = asyncio.Lock()
        self._tasks: list[asyncio.Future] = []
        self._listening: Listening | None = None
        self._learning_executor: ThreadPoolExecutor | None = None
        self._announced = 0.0  # when this process last told the workers to refit

    @property
    def classifier(self) -> SeedClassifier | None:
        """The fitted classifier (None: no examples yet)."""
        return self.model.fitted

    @classifier.setter
    def classifier(self, fitted: SeedClassifier | None) -> None:
        self.model.fitted = fitted

    @property
    def abstain_level(self) -> float | None:
        return self.model.abstain_level

    # -- the model -----------------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """Load the new examples (all of them if some were deleted or reviewed) and refit the
        shared classifier; True if anything changed."""
        async with self._refresh_lock:
            snapshot = await load_examples(self.pool, self._rows, self._read)
            if snapshot is None:
                return False
            self._read, self._rows = snapshot.version, snapshot.rows
            shared = self.shared_examples(snapshot)
            self._shared_rows = shared
            self._pending = {}
            for row in self._rows.values():  # read on every /inf of reviewed mode: indexed once here
                if row["state"] == "pending":
                    self._pending.setdefault(str(row["owner_id"]), []).append(row)
            version = version_id((r["id"] for r in shared), self.embedder)
            if snapshot.active is not None and snapshot.active[2] != self.embedder:
                log.error(
                    "classifier version %s was embedded by %s, not by today's embedder %s: its examples "
                    "are not comparable with new crops; roll back to a version of this embedder or relearn",
                    snapshot.active[0],
                    snapshot.active[2][:12],
                    self.embedder[:12],
                )
            await self.model.refit(shared, version)
            self._private.clear()
            return True

    def shared_examples(self, snapshot: Snapshot) -> list:
        """Open: every example that may teach. Reviewed: the active version's examples (deleted
        ones drop out), or the accepted ones before the first version."""
        rows = snapshot.rows.values()
        if self.mode == "open":
            return list(rows)
        if snapshot.active is not None:
            return [r for r in rows if r["id"] in snapshot.active[1]]
        return [r for r in rows if r["state"] == "accepted"]

    async def for_user(self, user: object) -> LearnedClassifier:
        """The classifier that answers `user`: the shared one, or, in reviewed mode while the user
        has examples pending review, the shared examples and theirs ("+private"; a few users'
        fits are kept, safe to lose)."""
        if self.mode != "reviewed":
            return self.model
        mine = self._pending.get(str(user), [])
        if not mine:
            return self.model
        key = (self.model.version, tuple(r["id"] for r in mine))
        cached = self._private.get(user)
        if cached is not None and cached[0] == key:
            self._private.move_to_end(user)
            return cached[1]
        private = self.model.like()
        await private.refit(self._shared_rows + mine, f"{self.model.version}+private")
        self._private[user] = (key, private)
        while len(self._private) > PRIVATE_FITS_KEPT:
            self._private.popitem(last=False)
        return private

    # -- learning (the `LearnExamples` task) ---------------------------------------------------------
    async def learn(self, task: LearnExamples) -> int:
        """Store the examples of these labelled pictures or boxes; how many were stored.

        Each picture is decoded and its seeds cropped on the learning thread, all crops are
        embedded in one batched call, then stored in one short transaction (a source deleted in
        between is skipped). Running it twice stores the same examples once."""
        crops_per_source = await asyncio.gather(*(self._crops_of(source) for source in task.sources))
        crops = [crop for found in crops_per_source for crop, _ in found]
        where = [fraction for found in crops_per_source for _, fraction in found]
        if not crops:
            return 0
        embeddings, hand = await self._learning_cpu(self.model.features, crops)
        batch, first = [], 0
        for source, found in zip(task.sources, crops_per_source, strict=True):
            vectors = [
                (
                    source.seed_id,
                    None if embeddings is None else embeddings[i].astype("float32").tobytes(),
                    hand[i].astype("float32").tobytes(),
                    where[i],
                )
                for i in range(first, first + len(found))
            ]
            first += len(found)
            batch.append(SourceExamples(source, vectors))
        # refit once per batch: when its last task ends, or every ANNOUNCE_EVERY_S of a long import
        catch_up = time.monotonic() - self._announced >= ANNOUNCE_EVERY_S
        state = "pending" if self.mode == "reviewed" else "accepted"
        stored, announced = await save_examples(self.pool, batch, task.folder, catch_up, state)
        if announced:
            self._announced = time.monotonic()
        return stored

    async def _crops_of(self, source: ExampleSource) -> list:
        data = await self.load_picture(source.picture_id)
        if data is None:  # deleted meanwhile: nothing to learn
            return []
        return await self._learning_cpu(crops_for, data, source.box)

    async def _learning_cpu(self, function, *args):
        """Learning runs on a thread of lower priority: /inf keeps the cores it needs while a
        batch is learned (a few seconds later is fine for examples, not for answers)."""
        if self._learning_executor is None:
            self._learning_executor = ThreadPoolExecutor(
                max_workers=LEARNING_THREADS, thread_name_prefix="nachet-learn", initializer=_lower_priority
            )
        return await run_cpu(self._learning_executor, function, *args)

    # -- background ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh()
        self._listening = await listen_for_examples(self.pool, self._wake.set)  # coalesced wake-ups
        self._tasks.append(asyncio.ensure_future(self._refresh_forever()))

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.refresh_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.refresh()
            except Exception as error:
                log.error("built-in classifier refresh failed: %s", error)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self._learning_executor is not None:
            self._learning_executor.shutdown(wait=False, cancel_futures=True)
            self._learning_executor = None
        if self._listening is not None:
            await self._listening.stop()
            self._listening = None


def _lower_priority() -> None:
    """Nice the learning thread (Linux sets priority per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass
