"""Identity: who a request acts for (verified JWTs, Vouch cookies, API tokens), what it may touch,
and how often. Below the API layer: it reads its rows through storage, and knows nothing of Quart."""

from kernel.errors import Forbidden, IdentityUnavailable, TooManyRequests, Unauthenticated

from .caller import Caller
from .identity import Identity
from .rate_limit import RateLimit

__all__ = [
    "Caller",
    "Forbidden",
    "Identity",
    "IdentityUnavailable",
    "RateLimit",
    "TooManyRequests",
    "Unauthenticated",
]
