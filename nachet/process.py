"""What a process knows of the server it runs under (hypercorn's master), and a workaround for it."""

from __future__ import annotations

import multiprocessing
import os
import signal

import psutil


def hypercorn_master_pid() -> int | None:
    """The pid of the hypercorn master that spawned this worker, if it was one."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    try:
        command = " ".join(psutil.Process(parent.pid).cmdline())
    except psutil.Error:
        return None
    return parent.pid if "hypercorn" in command else None


def stop_hypercorn_master() -> None:
    """Make a hypercorn master exit non-zero when its worker cannot start.

    hypercorn 0.18 loses a failed worker's exit code (its run() joins the already-joined workers
    again and keeps that 0; upstream issue #269), so `hypercorn app:app` with a configuration
    error would exit 0 and a supervisor would not see the failure. A spawned worker whose parent
    is a hypercorn master kills that master instead: it exits 137, and the other workers, which
    fail on the same configuration, exit by themselves. Outside hypercorn this does nothing."""
    master = hypercorn_master_pid()
    if master is not None:
        os.kill(master, signal.SIGKILL)
