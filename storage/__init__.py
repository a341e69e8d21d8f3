"""The storage facade the route handlers call (facade.Storage) and the errors it raises."""
from .errors import DatastoreError, StorageUnavailable
from .facade import Storage

__all__ = ["DatastoreError", "Storage", "StorageUnavailable"]
