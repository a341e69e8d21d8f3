"""A filesystem blob store: a container is a folder, a blob a file, its tags a JSON sidecar.

Writes go to a temporary file renamed into place, so readers (other workers, other replicas on a
shared volume) never see half a blob. Blocking file work runs in a thread.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from kernel.files import written_whole

from . import BlobError, BlobExists, BlobInfo, BlobNotFound

_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])")


class FsBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = str(self.root)

    # -- paths -------------------------------------------------------------------------------
    def _container(self, container: str) -> Path:
        if not _CONTAINER.fullmatch(container) or "--" in container:
            raise ValueError(f"invalid container name: {container!r}")
        return self.root / container

    def _paths(self, container: str, name: str) -> tuple[Path, Path]:
        parts = name.split("/")
        if (
            not name
            or name.startswith("/")
            or any(p in ("..", ".", "") for p in parts)
            or "\\" in name
            or "\0" in name
        ):
            raise ValueError(f"invalid blob name: {name!r}")
        base = self._container(container)
        return base / "blobs" / name, base / "tags" / (name + ".tags.json")

    # -- blocking implementations --------------------------------------------------------------
    def _upload(
        self, container: str, name: str, data: bytes, tags: dict[str, str] | None, overwrite: bool
    ) -> None:
        blob, tag_file = self._paths(container, name)
        if not self._container(container).is_dir():
            raise BlobNotFound(f"container not found: {container}")
        blob.parent.mkdir(parents=True, exist_ok=True)
        try:
            with written_whole(blob, exclusive=not overwrite) as handle:
                handle.write(data)
        except FileExistsError:
            raise BlobExists(f"blob already exists: {container}/{name}") from None
        self._write_tags(tag_file, tags or {})

    @staticmethod
    def _write_tags(tag_file: Path, tags: dict[str, str]) -> None:
        tag_file.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(tag_file, "w") as handle:
            json.dump(tags, handle)

    def _download(self, container: str, name: str) -> bytes:
        blob, _ = self._paths(container, name)
        try:
            return blob.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(f"blob not found: {container}/{name}") from None

    def _delete(self, container: str, name: str) -> None:
        blob, tag_file = self._paths(container, name)
        try:
            blob.unlink()
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(f"blob not found: {container}/{name}") from None
        tag_file.unlink(missing_ok=True)

    def _tags(self, tag_file: Path) -> dict[str, str]:
        try:
            return json.loads(tag_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _list(self, container: str, prefix: str) -> builtins.list[BlobInfo]:
        base = self._container(container) / "blobs"
        if not self._container(container).is_dir():
            raise BlobNotFound(f"container not found: {container}")
        # Walk only the folder the prefix names, never the whole container when a prefix is given.
        start = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        found = []
        if start.is_dir():
            for path in start.rglob("*"):
                if path.is_file() and not path.name.startswith(".tmp-"):
                    name = path.relative_to(base).as_posix()
                    if name.startswith(prefix):
                        tags = self._tags(self._paths(container, name)[1])
                        stat = path.stat()
                        found.append(
                            BlobInfo(name, stat.st_size, tags, datetime.fromtimestamp(stat.st_mtime, UTC))
                        )
        return sorted(found, key=lambda b: b.name)

    def _find_by_tag(self, container: str, key: str, value: str) -> builtins.list[str]:
        tags_root = self._container(container) / "tags"
        if not tags_root.is_dir():
            return []
        names = []
        for path in tags_root.rglob("*.tags.json"):
            if self._tags(path).get(key) == value:
                names.append(path.relative_to(tags_root).as_posix()[: -len(".tags.json")])
        return sorted(names)

    def _copy(self, src_c: str, src: str, dst_c: str, dst: str, tags: dict[str, str] | None) -> None:
        data = self._download(src_c, src)
        if tags is None:
            tags = self._tags(self._paths(src_c, src)[1])
        self._upload(dst_c, dst, data, tags, True)

    def _containers(self, prefix: str) -> builtins.list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith(prefix))

    def _delete_container(self, container: str) -> None:
        path = self._container(container)
        if not path.is_dir():
            raise BlobNotFound(f"container not found: {container}")
        shutil.rmtree(path)

    # -- async interface -------------------------------------------------------------------------
    @staticmethod
    async def _run(function, *args):
        """Run blocking file work in a thread; a failing disk is a BlobError like any store's."""
        try:
            return await asyncio.to_thread(function, *args)
        except BlobError:
            raise
        except OSError as error:
            raise BlobError(f"file blob store failed: {error.strerror or error}") from error

    async def create_container(self, container: str) -> None:
        await self._run(lambda: self._container(container).mkdir(parents=True, exist_ok=True))

    async def container_exists(self, container: str) -> bool:
        return await self._run(self._container(container).is_dir)

    async def containers(self, prefix: str = "") -> builtins.list[str]:
        return await self._run(self._containers, prefix)

    async def delete_container(self, container: str) -> None:
        await self._run(self._delete_container, container)

    async def upload(self, container, name, data, *, tags=None, overwrite=True) -> None:
        await self._run(self._upload, container, name, data, tags, overwrite)

    async def download(self, container: str, name: str) -> bytes:
        return await self._run(self._download, container, name)

    async def delete(self, container: str, name: str) -> None:
        await self._run(self._delete, container, name)

    async def list(self, container: str, prefix: str = "") -> builtins.list[BlobInfo]:
        return await self._run(self._list, container, prefix)

    async def find_by_tag(self, container: str, key: str, value: str) -> builtins.list[str]:
        return await self._run(self._find_by_tag, container, key, value)

    async def copy(self, src_container, src_name, dst_container, dst_name, *, tags=None) -> None:
        await self._run(self._copy, src_container, src_name, dst_container, dst_name, tags)

    async def close(self) -> None:
        return None
