"""The errors the storage facade raises. Every one carries a message fit for the client; the
route adds its context (`"Datastore Error <context> : <message>"`)."""
from __future__ import annotations


class DatastoreError(Exception):
    status = 400

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class UserNotFoundError(DatastoreError):
    pass


class UserAlreadyExistsError(DatastoreError):
    pass


class NotFoundError(DatastoreError):
    """What the request names does not exist (or no longer does)."""


class FolderNotFoundError(NotFoundError):
    pass


class FolderExistsError(DatastoreError):
    pass


class InvalidFolderNameError(DatastoreError):
    pass


class NotOwnerError(DatastoreError):
    pass


class DefaultFolderError(DatastoreError):
    pass


class SeedNotFoundError(DatastoreError):
    pass


class FeedbackError(DatastoreError):
    pass


class StorageUnavailable(DatastoreError):
    """The database or the blob store is down: our failure, not the client's (HTTP 503)."""

    status = 503
