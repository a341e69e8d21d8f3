"""Errors of the inference path: each carries the message after "API Error during
classification : " and the HTTP status (400 for a bad request, 502/504 for a failing model)."""
from __future__ import annotations

from nachet.errors import APIError


class ModelError(APIError):
    pass


class UpstreamError(ModelError):
    """A model endpoint failed: named, logged with the pipeline and model, HTTP 502 (504 timeout)."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message, status)
