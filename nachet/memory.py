"""glibc malloc settings for a threaded server: at most two malloc arenas.

glibc gives each thread that allocates its own arena (up to 8 per core); the image threads
and the event loop then each keep freed request buffers around, and RSS grows with the number
of threads that ever ran. Two arenas hold the same work. No-op off glibc."""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2) -> bool:
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
