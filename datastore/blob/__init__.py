"""Blob storage: one small async interface, a filesystem store and an Azure Blob store.

Names follow the original layout (datastore-spec §3): container `user-<uuid>`, pictures
`<folder>/<picture uuid>`, folder markers `<folder>/<folder>.json`, index tags `picture_uuid` and
`picture_set_uuid`.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class BlobError(Exception):
    """The blob store failed (unreachable, refused, corrupt)."""


class BlobNotFound(BlobError):
    """The container or blob does not exist."""


class BlobExists(BlobError):
    """An upload with overwrite=False met an existing blob."""


@dataclass
class BlobInfo:
    name: str
    size: int
    tags: dict[str, str] = field(default_factory=dict)
    modified: datetime | None = None  # last write (UTC)


class BlobStore(Protocol):
    location: str  # where the blobs live, for messages (a URL or a folder, never a key)

    async def create_container(self, container: str) -> None: ...
    async def container_exists(self, container: str) -> bool: ...
    async def delete_container(self, container: str) -> None: ...
    async def containers(self, prefix: str = "") -> builtins.list[str]: ...
    async def upload(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        tags: dict[str, str] | None = None,
        overwrite: bool = True,
    ) -> None: ...
    async def download(self, container: str, name: str) -> bytes: ...
    async def delete(self, container: str, name: str) -> None: ...
    async def list(self, container: str, prefix: str = "") -> builtins.list[BlobInfo]: ...
    async def find_by_tag(self, container: str, key: str, value: str) -> builtins.list[str]: ...
    async def copy(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        *,
        tags: dict[str, str] | None = None,
    ) -> None: ...
    async def close(self) -> None: ...


def open_blob_store(
    data_dir, azure_connection_string: str | None, azure_api_version: str | None = None, **azure_limits
) -> BlobStore:
    """Azure when a connection string is configured (`azure_limits`: connect_timeout_s,
    read_timeout_s, retries), otherwise files under `data_dir/blob`."""
    if azure_connection_string:
        from .azure import AzureBlobStore

        return AzureBlobStore(azure_connection_string, api_version=azure_api_version, **azure_limits)
    from .fs import FsBlobStore

    return FsBlobStore(data_dir / "blob")
