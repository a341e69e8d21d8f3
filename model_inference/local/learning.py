"""How the built-in classifier learns, in every worker of every replica.

Labelled uploads and verified feedback defer a `learn_examples` task (tasks/) in the same
transaction as the rows they come from. Whichever process runs it crops the seeds, computes their
features and stores them as `seed_example` rows; a NOTIFY then makes every worker load the new
rows and refit (coalesced: a batch of tasks makes one or two refits). The classifier in memory is
a cache of the database: safe to lose, rebuilt on start, refreshed on notification and every
minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import asyncpg

from datastore.queries import examples as queries
from datastore.queries import tasks

from ..cpu import run_cpu
from ..imaging import crop_fraction, decode_bgr

log = logging.getLogger(__name__)
PictureLoader = Callable[[UUID], Awaitable["bytes | None"]]  # a stored picture's bytes, None if gone
MAX_SEEDS_PER_UPLOAD = 50
ANNOUNCE_EVERY_S = 5.0  # during a long batch import, the classifier catches up this often
LEARNING_THREADS = 1  # niced: it takes what /inf leaves (two threads fought /inf for the GIL)


class Learner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        load_picture: PictureLoader,
        features,
        executor=None,
        refresh_s: float = 60.0,
        abstain_level: float | None = None,
    ):
        self.pool, self.load_picture, self.features, self.executor = pool, load_picture, features, executor
        self.classifier = None  # no examples yet (numpy and the model load with the first ones)
        self.refresh_s = refresh_s
        self.abstain_level = abstain_level  # open set: see classifier.SizeModel
        self._rows: dict = {}  # example id -> row, in id order
        self._version = (0, 0)
        self._wake = asyncio.Event()
        self._refresh_lock = asyncio.Lock()
        self._tasks: list[asyncio.Future] = []
        self._listener: asyncpg.Connection | None = None
        self._learning_executor: ThreadPoolExecutor | None = None
        self._announced = 0.0  # when this process last told the workers to refit
        self._stopped = False

    @property
    def version(self) -> tuple[int, int]:
        """(examples, last example id) the classifier in memory was fitted on."""
        return self._version

    async def _cpu(self, function, *args):
        return await run_cpu(self.executor, function, *args)

    # -- the model ----------------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """Load new examples (all of them if some were deleted) and refit; True if it changed.
        Rows are keyed by id and read in one snapshot, so none is ever loaded twice."""
        async with self._refresh_lock:
            async with (
                self.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                count, last = await queries.version(conn)
                if (count, last) == self._version:
                    return False
                rows = dict(self._rows)
                rows.update((r["id"], r) for r in await queries.examples_after(conn, self._version[1]))
                if len(rows) != count:  # some were deleted (or committed late): take them all again
                    rows = {r["id"]: r for r in await queries.examples_after(conn, 0)}
            self._rows = rows
            self.classifier = await self._cpu(_fit, list(rows.values()), self.abstain_level)
            self._version = (len(rows), max(rows, default=0))
            if self.classifier is not None:
                log.info(
                    "built-in classifier: %d examples of %d seeds (%s)",
                    self.classifier.size,
                    len(self.classifier.classes),
                    self.classifier.mode,
                )
            return True

    async def classify(self, crops: list, top_n: int = 5) -> list[list[dict]]:
        """Top-N {label, score} per BGR crop; "Unknown seed" while there are no examples."""
        from .classifier import UNKNOWN

        classifier = self.classifier
        if classifier is None or not classifier.size:
            return [[{"label": UNKNOWN, "score": 1.0}] for _ in crops]
        embeddings, hand = await self._cpu(self.features, crops)
        return await self._cpu(classifier.predict, embeddings, hand, top_n)

    # -- learning (run by the `learn_examples` task) ------------------------------------------------
    async def learn(self, sources: list[dict], folder: str | None = None) -> int:
        """Store the examples of these labelled pictures or boxes; how many were stored.

        Each picture is decoded and its seeds cropped on the learning executor, all crops are
        embedded in one batched call, then the examples are written in one short transaction that
        holds each folder, picture and object in the writers' lock order (a source deleted in
        between is skipped, never a deadlock). Running it twice stores the same examples once."""
        crops_per_source = await asyncio.gather(*(self._crops_of(source) for source in sources))
        crops = [crop for found in crops_per_source for crop in found]
        if not crops:
            return 0
        embeddings, hand = await self._learning_cpu(self.features, crops)
        stored, first = 0, 0
        async with self.pool.acquire() as conn, conn.transaction():
            for source, found in zip(sources, crops_per_source, strict=True):
                picture, obj = UUID(source["picture_id"]), _uuid(source.get("object_id"))
                rows = [
                    (
                        UUID(source["seed_id"]),
                        None if embeddings is None else embeddings[i].astype("float32").tobytes(),
                        hand[i].astype("float32").tobytes(),
                        source["source"],
                        picture,
                        obj,
                    )
                    for i in range(first, first + len(found))
                ]
                first += len(found)
                if rows and await queries.lock_sources(conn, picture, obj):
                    await queries.add_examples(conn, rows, obj)
                    stored += len(rows)
            if stored and await self._batch_learned(conn, folder):
                await queries.announce(conn)  # at commit: every worker refits
                self._announced = time.monotonic()
        return stored

    async def _batch_learned(self, conn, folder: str | None) -> bool:
        """Refit once per batch: when no task of this folder is left to start (each of the last
        ones running says so too), or every ANNOUNCE_EVERY_S during a long import."""
        if time.monotonic() - self._announced >= ANNOUNCE_EVERY_S or folder is None:
            return True
        return not await tasks.learning_queued(conn, folder)

    async def _crops_of(self, source: dict) -> list:
        data = await self.load_picture(UUID(source["picture_id"]))
        if data is None:  # deleted meanwhile: nothing to learn
            return []
        return await self._learning_cpu(_crops_for, data, source.get("box"))

    async def _learning_cpu(self, function, *args):
        """Learning runs on threads of lower priority: /inf keeps the cores it needs while a
        batch is learned (a few seconds later is fine for examples, not for answers)."""
        if self._learning_executor is None:
            self._learning_executor = ThreadPoolExecutor(
                max_workers=LEARNING_THREADS, thread_name_prefix="nachet-learn", initializer=_lower_priority
            )
        return await run_cpu(self._learning_executor, function, *args)

    # -- background -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopped = False
        await self.refresh()
        try:
            self._listener = await self.pool.acquire()
            await self._listener.add_listener(queries.CHANNEL_EXAMPLES, self._on_examples)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("built-in classifier: cannot listen for new labels (%s); polling", error)
        self._tasks.append(asyncio.ensure_future(self._refresh_forever()))

    def _on_examples(self, *_) -> None:
        self._wake.set()  # coalesced: a batch of notifications makes one or two refits

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as error:
            log.error("built-in classifier refresh failed: %s", error)

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.refresh_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self._refresh_quietly()

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        self._tasks = []
        if self._learning_executor is not None:
            self._learning_executor.shutdown(wait=False, cancel_futures=True)
            self._learning_executor = None
        if self._listener is not None:
            try:
                await self._listener.remove_listener(queries.CHANNEL_EXAMPLES, self._on_examples)
                await self.pool.release(self._listener)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
            self._listener = None


def _lower_priority() -> None:
    """Nice the learning thread (Linux sets priority per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _uuid(value) -> UUID | None:
    return UUID(value) if value else None


def _crops_for(data: bytes, box) -> list:
    """The seeds of a labelled picture: the verified box, or every seed the detector finds (the
    whole picture when it finds none: one seed per picture)."""
    from .detector import detect_seeds

    pixels = decode_bgr(data)
    if box:
        # pixels of the inference's imageDims (the size the client drew on), else of the picture
        w, h = box.get("imageDims") or (pixels.shape[1], pixels.shape[0])
        fraction = {
            "topX": box["topX"] / w,
            "topY": box["topY"] / h,
            "bottomX": box["bottomX"] / w,
            "bottomY": box["bottomY"] / h,
        }
        return [crop_fraction(pixels, fraction)]
    found = detect_seeds(pixels)[:MAX_SEEDS_PER_UPLOAD]
    return [crop_fraction(pixels, b["box"]) for b in found] or [pixels]


def _padded(vectors: list):
    """Rows of one length: older examples (fewer features) padded with NaN."""
    import numpy as np

    width = max(len(v) for v in vectors)
    return np.stack([np.pad(v, (0, width - len(v)), constant_values=np.nan) for v in vectors])


def _fit(rows, abstain_level: float | None = None):
    """The classifier of these example rows (None without rows: nothing is loaded for it)."""
    if not rows:
        return None
    import numpy as np

    from .classifier import Examples, SeedClassifier

    with_embedding = all(r["embedding"] is not None for r in rows)
    return SeedClassifier(
        Examples(
            seed_ids=[r["seed_id"] for r in rows],
            names={r["seed_id"]: r["name"] for r in rows},
            embeddings=np.stack([np.frombuffer(r["embedding"], np.float32) for r in rows])
            if with_embedding
            else None,
            hand=_padded([np.frombuffer(r["features"], np.float32) for r in rows]),
        ),
        abstain_level,
    )
