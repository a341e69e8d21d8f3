"""PostgreSQL's LISTEN on a pooled connection, for the caches every worker keeps of what the
database holds (pipelines, the built-in classifier's examples): a NOTIFY on the channel calls
back, and the periodic refresh of each cache covers a missed one."""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)


class Listening:
    """A connection listening on one channel until `stop()`."""

    def __init__(self, pool: asyncpg.Pool, channel: str, on_notify: Callable[[], None]):
        self.pool, self.channel = pool, channel
        self._callback = lambda *_: on_notify()
        self._conn: asyncpg.Connection | None = None

    async def start(self) -> bool:
        """False (logged) when the database cannot be listened to now: the caller polls."""
        try:
            self._conn = await self.pool.acquire()
            await self._conn.add_listener(self.channel, self._callback)
            return True
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("cannot listen on %s (%s); relying on the periodic refresh", self.channel, error)
            return False

    async def stop(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.remove_listener(self.channel, self._callback)
            await self.pool.release(self._conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # the connection died with the database; the pool drops it
        self._conn = None
