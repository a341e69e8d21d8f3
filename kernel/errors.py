"""The errors a request is refused with, for every layer: one base carries the HTTP status and
the envelope's prefix, and the app maps every one to `["<prefix> <context> : <message>"]` in one
handler (spec §1.3). Lower layers raise them with messages fit for the client; the route adds its
context. This module imports nothing of the project, so every layer may import it."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused request: "API Error <context> : <message>" with HTTP `status`."""

    prefix = "API Error"
    status = 400
    headers: dict[str, str] = {}  # noqa: RUF012 (replaced per instance, never mutated)

    def __init__(self, message: str, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if headers:
            self.headers = headers


class Unhandled(Exception):
    """A failure the original reported only as "Unhandled API error : <sentence>" (the route's
    sentence; the details go to the log only)."""


class ModelFault(ServiceError):
    """A model answered what cannot be stored (a label that names no seed): the model's fault,
    not the client's: "API Error <context> : model <name> …", HTTP 502 as every model failure."""

    status = 502


class DatastoreError(ServiceError):
    """What storage refuses: "Datastore Error <context> : <message>"."""

    prefix = "Datastore Error"


class NotFoundError(DatastoreError):
    """What the request names does not exist (or no longer does)."""


class NotOwnerError(DatastoreError):
    """The data named belongs to another user. The original answered 400; in secured mode the
    app answers 403 (the caller is known, and this is not theirs)."""


class UserNotFoundError(NotFoundError):
    pass


class UserAlreadyExistsError(DatastoreError):
    pass


class StorageUnavailable(DatastoreError):
    """The database or the blob store is down: our failure, not the client's."""

    status = 503


# -- the inference path: "API Error during classification : <message>" ------------------------------
class ModelError(ServiceError):
    """A request the inference path refuses (bad picture, options or pipeline): HTTP 400."""


class UpstreamError(ModelError):
    """A model endpoint failed: named, logged with the pipeline and model, HTTP 502 (504 timeout)."""

    status = 502


# -- callers: 401 (who are you?), 403 (not yours), 429 (slow down), 503 (no keys to check with) ----
class Unauthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class TooManyRequests(ServiceError):
    status = 429


class IdentityUnavailable(ServiceError):
    status = 503
