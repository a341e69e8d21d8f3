"""The task engine: a procrastinate App on the application's database and schema, and the worker
loop every process that runs tasks starts (with a recovery loop for jobs whose worker died)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
import procrastinate
from procrastinate import PsycopgConnector

from kernel.tasks import ClassifyPicture, LearnExamples
from storage import tasks_queue

from .definitions import TaskHandlers, tasks

log = logging.getLogger("nachet.tasks")
QUEUES = (LearnExamples.queue, ClassifyPicture.queue)  # every kind of task (kernel/tasks.py)


def task_app(db_url: str, schema: str, pool_max: int = 4) -> procrastinate.App:
    """Procrastinate on our database: its tables live in our schema (migration 0009)."""
    connector = PsycopgConnector(
        conninfo=db_url,
        kwargs={"options": f'-c search_path="{schema}",public', "application_name": "nachet-tasks"},
        min_size=1,
        max_size=pool_max,
    )
    app = procrastinate.App(connector=connector)
    app.add_tasks_from(tasks, namespace="")
    return app


class TaskWorker:
    """Runs the tasks of `QUEUES` in this process until stopped. A job left `doing` by a worker
    that died (kill -9, lost machine) is retried once its heartbeat is `stalled_after_s` old."""

    def __init__(
        self,
        app: procrastinate.App,
        concurrency: int = 2,
        heartbeat_s: float = 5.0,
        stalled_after_s: float = 30.0,
    ):
        self.app, self.concurrency = app, concurrency
        self.handlers: TaskHandlers | None = None  # the use cases every task calls (bind)
        self.pool: asyncpg.Pool | None = None
        self.heartbeat_s, self.stalled_after_s = heartbeat_s, stalled_after_s
        self._tasks: list[asyncio.Task] = []
        self._opened = False

    def bind(self, handlers: TaskHandlers, pool: asyncpg.Pool) -> None:
        """The use cases the tasks call, and the database whose queue is watched."""
        self.handlers, self.pool = handlers, pool

    def _options(self, wait: bool) -> dict:
        return {
            "queues": list(QUEUES),
            "concurrency": self.concurrency,
            "wait": wait,
            "install_signal_handlers": False,
            "additional_context": {"handlers": self.handlers},
            "update_heartbeat_interval": self.heartbeat_s,
            "stalled_worker_timeout": self.stalled_after_s,
            "fetch_job_polling_interval": 5.0,
            "shutdown_graceful_timeout": 10.0,  # then running jobs are aborted, and retried later
        }

    async def _open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def start(self) -> None:
        await self._open()
        self._tasks = [
            asyncio.ensure_future(self._work_forever()),
            asyncio.ensure_future(self._recover_forever()),
        ]

    async def _work_forever(self) -> None:
        """The procrastinate worker, started again if it stops (it stops when its database
        connection is lost: a restarted database must not leave this process idle)."""
        while True:
            try:
                await self.app.run_worker_async(**self._options(wait=True))
                log.warning("task worker stopped; starting it again")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("task worker failed (%s); starting it again", error)
            await asyncio.sleep(1.0)

    async def run_until_idle(self) -> None:
        """Run every job that is due now, then return (tests, and `worker --until-idle`)."""
        await self._open()
        await self.app.run_worker_async(**self._options(wait=False))

    async def wait_until_idle(self, timeout_s: float = 60.0) -> None:
        """Until no job is queued or running (whichever process runs them); TimeoutError after
        `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while True:
                if not await tasks_queue.unfinished(self.pool):
                    return
                await asyncio.sleep(0.05)

    async def recover(self) -> int:
        """Give the jobs of dead workers back to the queue; how many."""
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after_s)
        )
        for job in stalled:
            await self.app.job_manager.retry_job(job)
        if stalled:
            log.warning("retrying %d job(s) whose worker stopped answering", len(stalled))
        return len(stalled)

    async def _recover_forever(self) -> None:
        while True:
            try:
                await self.recover()
            except Exception as error:  # database away: next round
                log.warning("stalled job check: %s", error)
            await asyncio.sleep(max(self.stalled_after_s / 3, 0.5))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._opened:
            await self.app.close_async()
            self._opened = False
