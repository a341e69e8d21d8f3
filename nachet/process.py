"""Process-level workarounds for the server we run under."""

from __future__ import annotations

import multiprocessing
import os
import signal

import psutil


def stop_hypercorn_master() -> None:
    """Make a hypercorn master exit non-zero when its worker cannot start.

    hypercorn 0.18 loses a failed worker's exit code (its run() joins the already-joined workers
    again and keeps that 0; upstream issue #269), so `hypercorn app:app` with a configuration
    error would exit 0 and a supervisor would not see the failure. A spawned worker whose parent
    is a hypercorn master kills that master instead: it exits 137, and the other workers, which
    fail on the same configuration, exit by themselves. Outside hypercorn this does nothing."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    try:
        command = " ".join(psutil.Process(parent.pid).cmdline())
    except psutil.Error:
        return
    if "hypercorn" in command:
        os.kill(parent.pid, signal.SIGKILL)
