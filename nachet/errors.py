"""The error a request is refused with: its message goes after "API Error <context> : ", its
status is the HTTP status (400 for bad input, 401, 502/504 for a failing model, ...)."""
from __future__ import annotations


class APIError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status
