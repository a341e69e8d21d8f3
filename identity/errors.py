"""How a caller is refused: 401 (who are you?), 403 (not yours), 429 (slow down), and 503 when
the identity provider's keys cannot be had (our failure, not the caller's)."""

from __future__ import annotations

from storage.errors import ServiceError


class Unauthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class TooManyRequests(ServiceError):
    status = 429


class IdentityUnavailable(ServiceError):
    status = 503
