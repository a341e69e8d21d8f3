"""How the built-in classifier learns, in every worker of every replica.

Labelled uploads and verified feedback enqueue jobs (`example_job`) in the same transaction as
the rows they come from. Any worker claims a job (SKIP LOCKED), crops the seeds, computes their
features and stores them as `seed_example` rows; a NOTIFY then makes every worker load the new
rows and refit. The classifier in memory is a cache of the database: safe to lose, rebuilt on
start, refreshed on notification and every minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg

from datastore.queries import examples as queries

from ..cpu import run_cpu
from ..imaging import crop_fraction, decode_bgr

log = logging.getLogger(__name__)
PictureLoader = Callable[[UUID], Awaitable["bytes | None"]]  # a stored picture's bytes, None if gone
MAX_SEEDS_PER_UPLOAD = 50
MAX_ATTEMPTS = 3
JOB_LEASE_S = 300.0  # a job whose worker died is taken again after this


class Learner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        load_picture: PictureLoader,
        features,
        executor=None,
        refresh_s: float = 60.0,
    ):
        self.pool, self.load_picture, self.features, self.executor = pool, load_picture, features, executor
        self.classifier = None  # no examples yet (numpy and the model load with the first ones)
        self.refresh_s = refresh_s
        self._rows: dict = {}  # example id -> row, in id order
        self._version = (0, 0)
        self._wake = asyncio.Event()
        self._refresh_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._listener: asyncpg.Connection | None = None
        self._stopped = False

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
            self.classifier = await self._cpu(_fit, list(rows.values()))
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

    # -- the job queue --------------------------------------------------------------------------------
    async def work_once(self) -> bool:
        """Turn one queued job into examples; False when the queue is empty.

        Three short steps, so no lock is held while the crops are computed: lease the job, compute
        its examples, then write them while holding the folder, picture and object in the
        writers' lock order (a deletion in between makes the job a no-op, never a deadlock)."""
        async with self.pool.acquire() as conn:
            job = await queries.claim_job(conn, JOB_LEASE_S)
        if job is None:
            return False
        try:
            rows = await self._examples_of(job)
        except Exception as error:  # a missing blob, an unreadable picture: retry, then drop
            log.warning("example job %s failed (%s)", job["id"], error)
            async with self.pool.acquire() as conn:
                await queries.release_job(conn, job, retry=job["attempts"] < MAX_ATTEMPTS)
            return True
        async with self.pool.acquire() as conn, conn.transaction():
            if not await queries.lock_sources(conn, job["picture_id"], job["object_id"]):
                rows = []  # the picture or box was deleted under us: nothing to learn
            if await queries.finish_job(conn, job) and rows:
                await queries.add_examples(conn, rows, job["object_id"])
        return True

    async def _examples_of(self, job) -> list[tuple]:
        data = await self.load_picture(job["picture_id"])
        if data is None:  # deleted meanwhile
            return []
        crops = await self._cpu(_crops_for, data, job["box"])
        embeddings, hand = await self._cpu(self.features, crops)
        return [
            (
                job["seed_id"],
                None if embeddings is None else embeddings[i].astype("float32").tobytes(),
                hand[i].astype("float32").tobytes(),
                job["source"],
                job["picture_id"],
                job["object_id"],
            )
            for i in range(len(crops))
        ]

    async def drain(self) -> int:
        done = 0
        while await self.work_once():
            done += 1
        return done

    # -- background -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopped = False
        await self.refresh()
        try:
            self._listener = await self.pool.acquire()
            await self._listener.add_listener(queries.CHANNEL_JOBS, self._on_jobs)
            await self._listener.add_listener(queries.CHANNEL_EXAMPLES, self._on_examples)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("built-in classifier: cannot listen for new labels (%s); polling", error)
        self._tasks += [
            asyncio.ensure_future(self._work_forever()),
            asyncio.ensure_future(self._refresh_forever()),
        ]
        self._wake.set()  # jobs left from before the start

    def _on_jobs(self, *_) -> None:
        self._wake.set()

    def _on_examples(self, *_) -> None:
        if not self._stopped:
            task = asyncio.ensure_future(self._refresh_quietly())
            self._tasks.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as error:
            log.error("built-in classifier refresh failed: %s", error)

    async def _work_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=5.0)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                if await self.drain():
                    await self._refresh_quietly()
            except Exception as error:  # database away: try again on the next wake-up
                log.error("example jobs: %s", error)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            await self._refresh_quietly()

    async def stop(self) -> None:
        self._stopped = True  # notifications still queued must not refresh from a closing pool
        for task in list(self._tasks):
            task.cancel()
        if self._listener is not None:
            try:
                await self._listener.remove_listener(queries.CHANNEL_JOBS, self._on_jobs)
                await self._listener.remove_listener(queries.CHANNEL_EXAMPLES, self._on_examples)
                await self.pool.release(self._listener)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
            self._listener = None


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


def _fit(rows):
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
            hand=np.stack([np.frombuffer(r["features"], np.float32) for r in rows]),
        )
    )
