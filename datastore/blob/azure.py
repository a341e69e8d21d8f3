"""Azure Blob Storage through azure.storage.blob.aio (also Azurite, with an API-version pin)."""

from __future__ import annotations

import builtins

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobType
from azure.storage.blob.aio import BlobServiceClient, LinearRetry

from . import BlobError, BlobExists, BlobInfo, BlobNotFound


def _translate(error: Exception, what: str) -> BlobError:
    if isinstance(error, ResourceNotFoundError):
        return BlobNotFound(f"{what} not found")
    if isinstance(error, ResourceExistsError):
        return BlobExists(f"{what} already exists")
    if isinstance(error, ClientAuthenticationError) or getattr(error, "status_code", None) in (401, 403):
        return BlobError(f"blob storage refused the credentials (authentication failed) on {what}")
    return BlobError(f"blob storage failed on {what}: {type(error).__name__}")


class AzureBlobStore:
    """Every call is bounded: `connect_timeout_s` to connect, `read_timeout_s` between bytes of an
    answer, and `retries` more attempts 0.5 s apart (the SDK's default waits 15 s, 45 s, ... and
    answered an unreachable account after 82-87 s)."""

    def __init__(
        self,
        connection_string: str,
        api_version: str | None = None,
        *,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 4.0,
        retries: int = 1,
        **client_options,
    ):
        if api_version:
            client_options["api_version"] = api_version
        client_options.setdefault("connection_timeout", connect_timeout_s)
        client_options.setdefault("read_timeout", read_timeout_s)
        # half a second between attempts (typed int in the SDK, used as a float by its sleep)
        retry = LinearRetry(backoff=0.5, retry_total=retries, random_jitter_range=0)  # type: ignore[arg-type]
        client_options.setdefault("retry_policy", retry)
        self._service = BlobServiceClient.from_connection_string(connection_string, **client_options)
        self.location = self._service.url

    def _blob(self, container: str, name: str):
        return self._service.get_blob_client(container, name)

    async def create_container(self, container: str) -> None:
        try:
            await self._service.create_container(container)
        except ResourceExistsError:
            pass
        except AzureError as error:
            raise _translate(error, f"container {container}") from error

    async def container_exists(self, container: str) -> bool:
        try:
            return await self._service.get_container_client(container).exists()
        except AzureError as error:
            raise _translate(error, f"container {container}") from error

    async def containers(self, prefix: str = "") -> builtins.list[str]:
        try:
            return sorted(
                [c.name async for c in self._service.list_containers(name_starts_with=prefix or None)]
            )
        except AzureError as error:
            raise _translate(error, "the container list") from error

    async def delete_container(self, container: str) -> None:
        try:
            await self._service.delete_container(container)
        except AzureError as error:
            raise _translate(error, f"container {container}") from error

    async def upload(self, container, name, data, *, tags=None, overwrite=True) -> None:
        try:
            await self._blob(container, name).upload_blob(
                data, blob_type=BlobType.BLOCKBLOB, overwrite=overwrite, tags=tags or None
            )
        except AzureError as error:
            raise _translate(error, f"blob {container}/{name}") from error

    async def download(self, container: str, name: str) -> bytes:
        try:
            stream = await self._blob(container, name).download_blob()
            return await stream.readall()
        except AzureError as error:
            raise _translate(error, f"blob {container}/{name}") from error

    async def delete(self, container: str, name: str) -> None:
        try:
            await self._blob(container, name).delete_blob()
        except AzureError as error:
            raise _translate(error, f"blob {container}/{name}") from error

    async def list(self, container: str, prefix: str = "") -> builtins.list[BlobInfo]:
        client = self._service.get_container_client(container)
        try:
            return [
                BlobInfo(b.name, b.size, dict(b.tags or {}), b.last_modified)
                async for b in client.list_blobs(name_starts_with=prefix or None, include=["tags"])
            ]
        except AzureError as error:
            raise _translate(error, f"container {container}") from error

    async def find_by_tag(self, container: str, key: str, value: str) -> builtins.list[str]:
        client = self._service.get_container_client(container)
        escaped = value.replace("'", "''")
        try:
            return sorted([b.name async for b in client.find_blobs_by_tags(f"\"{key}\"='{escaped}'")])
        except ResourceNotFoundError:
            return []
        except AzureError as error:
            raise _translate(error, f"container {container}") from error

    async def copy(self, src_container, src_name, dst_container, dst_name, *, tags=None) -> None:
        # A download + upload keeps this working across accounts and on Azurite without SAS URLs;
        # pictures are a few MB at most.
        if tags is None:
            try:
                tags = await self._blob(src_container, src_name).get_blob_tags()
            except AzureError as error:
                raise _translate(error, f"blob {src_container}/{src_name}") from error
        data = await self.download(src_container, src_name)
        await self.upload(dst_container, dst_name, data, tags=tags)

    async def close(self) -> None:
        await self._service.close()
