"""Per-caller rate limits, counted in PostgreSQL (storage/rate_limits.py) so that all
workers and replicas share one allowance per caller."""

from __future__ import annotations

import math
from datetime import timedelta

import asyncpg

from kernel.errors import TooManyRequests
from storage import rate_limits


class RateLimit:
    def __init__(self, name: str, count: int, period_s: float):
        self.name, self.count, self.period_s = name, count, period_s
        self.emission = timedelta(seconds=period_s / count)
        self.burst = timedelta(seconds=period_s) - self.emission

    async def take(self, pool: asyncpg.Pool, who: str) -> None:
        """Count one request of `who`; raise TooManyRequests (with Retry-After) over the limit."""
        wait = await rate_limits.take(pool, f"{self.name}:{who}", self.emission, self.burst)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            error = TooManyRequests(
                f"too many requests: at most {self.count} per {_period(self.period_s)} for each user, "
                f"retry in {retry} s"
            )
            error.headers = {"Retry-After": str(retry)}
            raise error


def _period(seconds: float) -> str:
    names = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
    return names.get(seconds, f"{seconds:g} s")
