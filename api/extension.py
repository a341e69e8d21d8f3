"""The process's services as a Quart extension: opened before serving (unless a test hands ready
ones in), closed after, reached from handlers through `services()`. The only place the services
meet Quart; below the HTTP layer they are passed as arguments."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from quart import Quart, current_app

from model_inference.local.lazy import check_embedder_file
from nachet.config import Settings
from nachet.memory import tune_malloc
from nachet.process import stop_hypercorn_master
from nachet.runtime import (
    UNSECURED_WARNING,
    Services,
    close_services,
    open_services,
    sweep_forever,
    warm_builtin_models,
)
from storage.opening import DatabaseUnavailable

log = logging.getLogger("nachet.runtime")


class NachetServices:
    """The Quart extension holding this process's services: opened before serving (unless a
    test hands ready ones in), closed after, reached from handlers through `services()`."""

    def __init__(self, settings: Settings, ready: Services | None = None):
        self.settings, self.ready = settings, ready

    def init_app(self, app: Quart) -> None:
        app.extensions["nachet"] = self.ready
        app.config["NACHET_SETTINGS"] = self.settings

        async def start() -> None:
            await self.start(app)

        async def stop() -> None:
            await self.stop(app)

        app.before_serving(start)
        app.after_serving(stop)

    async def start(self, app: Quart) -> None:
        tune_malloc()
        if app.extensions["nachet"] is None:
            try:
                app.extensions["nachet"] = await open_services(self.settings)
            except DatabaseUnavailable as error:  # one clear line and exit 2, not a lifespan traceback
                print(f"error: {error}", file=sys.stderr, flush=True)
                stop_hypercorn_master()
                os._exit(2)
        running: Services = app.extensions["nachet"]
        running.background.append(asyncio.ensure_future(sweep_forever(running.storage)))
        await running.pipelines.start()
        running.background.append(asyncio.ensure_future(warm_builtin_models(running)))
        await running.learner.start()
        if self.settings.task_worker:
            await running.tasks.start()
        check_embedder_file()
        try:  # SIGUSR1 reloads this worker's pipelines (hypercorn's SIGHUP restarts all workers)
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGUSR1, lambda: asyncio.ensure_future(running.pipelines.reload())
            )
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        if self.settings.secured:
            log.info("secured mode: callers are identified by %s", ", ".join(running.identity.sources))
        else:
            log.warning(UNSECURED_WARNING)

    async def stop(self, app: Quart) -> None:
        if self.ready is None and app.extensions.get("nachet") is not None:
            await close_services(app.extensions.pop("nachet"))


def services() -> Services:
    """This process's services, from a request or app context."""
    return current_app.extensions["nachet"]


def settings() -> Settings:
    return current_app.config["NACHET_SETTINGS"]
