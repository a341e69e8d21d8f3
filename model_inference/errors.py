"""Errors of the inference path. Each carries the message after "API Error during
classification : " and the HTTP status (400 for a bad request, 502/504 for a failing model)."""
from __future__ import annotations


class ModelError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class PipelineNotFound(ModelError):
    pass


class UpstreamError(ModelError):
    """A model endpoint failed: named, logged with the pipeline and model, HTTP 502 (504 timeout)."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message, status)
