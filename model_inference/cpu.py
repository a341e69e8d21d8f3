"""Where CPU-bound work (decoding, cropping, features) runs: a pool shared by the process, one
thread per core, so requests queue there instead of each holding a decoded picture."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar, TypeVarTuple

T = TypeVar("T")
Args = TypeVarTuple("Args")


def run_cpu(executor: Executor | None, function: Callable[[*Args], T], *args: *Args) -> asyncio.Future[T]:
    """`function(*args)` on `executor` (None: asyncio's default pool), awaitable from the loop."""
    return asyncio.get_running_loop().run_in_executor(executor, function, *args)
