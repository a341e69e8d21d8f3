"""Errors of the inference path: each carries the message after "API Error during
classification : " and the HTTP status (400 for a bad request, 502/504 for a failing model)."""

from __future__ import annotations

from storage.errors import ServiceError


class ModelError(ServiceError):
    """A request the inference path refuses (bad picture, options or pipeline): HTTP 400."""


class UpstreamError(ModelError):
    """A model endpoint failed: named, logged with the pipeline and model, HTTP 502 (504 timeout)."""

    status = 502
