"""The consistency check behind `python -m nachet fsck`: the rows and the blobs must describe the
same pictures and folders (datastore-spec §3 layout).

Findings:
  row without blob   a picture row whose blob is gone, or a folder whose marker is gone
  blob without row   a blob in a user container that no picture row names
  dangling marker    a folder marker (`<folder>/<folder>.json`) whose folder row is gone
  container without user  a user container (`user-<id>`) whose user row is gone
Blobs written and folders created in the last `grace_s` seconds are left alone: a request in
flight writes a picture's blob before its rows commit (/inf while its models work: minutes at
worst, at 60 s a model call), and claims a folder's row before it writes the marker.
Repair deletes blobs without rows and dangling markers, rewrites missing markers, deletes
picture rows whose blob is lost (nothing can show them again) and deletes containers without a
user once they are empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from datastore.blob import BlobNotFound, BlobStore

from . import layout

log = logging.getLogger(__name__)
ROW_WITHOUT_BLOB, BLOB_WITHOUT_ROW, DANGLING_MARKER, CONTAINER_WITHOUT_USER = (
    "row without blob",
    "blob without row",
    "dangling marker",
    "container without user",
)


GRACE_S = 600.0  # an /inf whose models take their full timeouts stores its picture that early


@dataclass(frozen=True)
class Finding:
    kind: str
    container: str
    name: str
    picture_id: UUID | None = None  # a picture row without its blob
    folder_id: UUID | None = None  # a folder row without its marker

    def __str__(self) -> str:
        return f"{self.kind}: {self.container}" + (f"/{self.name}" if self.name else "")

    def repair_action(self) -> str:
        """What `repair` does about it, in words (what `fsck --repair` shows before applying)."""
        if self.kind == CONTAINER_WITHOUT_USER:
            return f"delete the container {self.container} (its blobs first)"
        if self.kind != ROW_WITHOUT_BLOB:
            return f"delete the blob {self.container}/{self.name}"
        if self.folder_id is not None:
            return f"rewrite the marker {self.container}/{self.name}"
        return f"delete the row of picture {self.picture_id}"


async def _expected(conn: asyncpg.Connection, recent: datetime) -> dict[str, dict[str, Finding | None]]:
    """container -> blob name -> the finding if that blob were missing (None: a folder claimed so
    recently that its marker may still be on its way)."""
    rows = await conn.fetch(
        """SELECT u.id AS user_id, ps.id AS folder_id, ps.name, (u.default_set_id = ps.id) AS is_default,
                  ps.created_at, p.id AS picture_id
             FROM users u LEFT JOIN picture_set ps ON ps.owner_id = u.id
             LEFT JOIN picture p ON p.picture_set_id = ps.id"""
    )
    expected: dict[str, dict[str, Finding | None]] = {}
    for row in rows:
        container = layout.container_name(row["user_id"])
        names = expected.setdefault(container, {})
        if row["folder_id"] is None:
            continue
        folder = layout.folder_name(row["name"], row["is_default"])
        marker = layout.marker_blob(folder)
        in_flight = row["created_at"] is not None and row["created_at"] > recent
        lost_marker = Finding(ROW_WITHOUT_BLOB, container, marker, folder_id=row["folder_id"])
        names.setdefault(marker, None if in_flight else lost_marker)
        if row["picture_id"] is not None:
            name = layout.picture_blob(folder, row["picture_id"])
            names[name] = Finding(ROW_WITHOUT_BLOB, container, name, picture_id=row["picture_id"])
    return expected


async def check(
    pool: asyncpg.Pool, blobs: BlobStore, grace_s: float = GRACE_S, only: set[str] | None = None
) -> list[Finding]:
    """Every finding, or those of the containers in `only`."""
    recent = datetime.now(UTC) - timedelta(seconds=grace_s)
    async with pool.acquire() as conn:
        expected = await _expected(conn, recent)
    findings: list[Finding] = []
    for container in sorted(set(expected) | set(await blobs.containers("user-"))):
        if only is not None and container not in only:
            continue
        wanted = dict(expected.get(container, {}))
        try:
            stored = await blobs.list(container)
        except BlobNotFound:
            stored = []
        if container not in expected and layout.owner_of(container) is not None:
            findings.append(Finding(CONTAINER_WITHOUT_USER, container, ""))
        for blob in stored:
            if blob.name in wanted:
                del wanted[blob.name]
                continue
            if blob.modified is not None and blob.modified > recent:
                continue
            findings.append(
                Finding(
                    DANGLING_MARKER if layout.is_marker(blob.name) else BLOB_WITHOUT_ROW, container, blob.name
                )
            )
        findings.extend(finding for finding in wanted.values() if finding is not None)
    return findings


async def repair(pool: asyncpg.Pool, blobs: BlobStore, findings: list[Finding]) -> int:
    """Fix what check() found; returns how many findings were repaired."""
    repaired = 0
    for finding in findings:
        try:
            if finding.kind == CONTAINER_WITHOUT_USER:
                for blob in await blobs.list(finding.container):
                    await blobs.delete(finding.container, blob.name)
                await blobs.delete_container(finding.container)
            elif finding.kind != ROW_WITHOUT_BLOB:
                await blobs.delete(finding.container, finding.name)
            elif finding.folder_id is not None:
                folder = finding.name.rsplit("/", 1)[0]
                await blobs.create_container(finding.container)
                await blobs.upload(
                    finding.container,
                    finding.name,
                    layout.marker_content(folder, finding.folder_id),
                    tags={"picture_set_uuid": str(finding.folder_id)},
                )
            else:
                async with pool.acquire() as conn:
                    await conn.execute("DELETE FROM picture WHERE id = $1", finding.picture_id)
            repaired += 1
        except BlobNotFound:  # gone meanwhile
            repaired += 1
        except Exception as error:
            log.error("could not repair %s: %s", finding, error)
    return repaired
