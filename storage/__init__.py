"""Persistence of Nachet's users, folders, pictures and inferences: the storage facade the
services call (one transaction per operation, blob writes compensated) and the errors it raises
(kernel/errors.py's, named here too)."""

from kernel.errors import DatastoreError, NotFoundError, ServiceError, StorageUnavailable, Unhandled

from .facade import Storage

__all__ = ["DatastoreError", "NotFoundError", "ServiceError", "Storage", "StorageUnavailable", "Unhandled"]
