"""Process-level set-up: logging, and a workaround for the server we run under."""

from __future__ import annotations

import logging
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


def configure_logging(level: int = logging.INFO, azure_http: bool = False) -> None:
    """One line per record. Libraries that log secrets or every call stay at WARNING: httpx (model
    URLs with keys), the Azure SDK's HTTP policy (every blob call's headers over many lines, unless
    NACHET_AZURE_HTTP_LOG asks for them)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
        logging.INFO if azure_http else logging.WARNING
    )
    logging.getLogger("azure").setLevel(logging.INFO if azure_http else logging.WARNING)
