"""What every part of the storage facade shares: the guard that retries lost lock conflicts and
turns outages into 503s, the unit of work, and the user and ownership checks (spec §4.22 texts)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from datastore.blob import BlobError, BlobNotFound, BlobStore
from datastore.queries import blob_deletions, folders, users
from kernel.errors import DatastoreError, NotFoundError, NotOwnerError, StorageUnavailable, UserNotFoundError

from . import layout
from . import messages as say
from .seed_names import SeedNames
from .unit import Unit, unit_of_work

log = logging.getLogger("storage")

_DB_DOWN = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    TimeoutError,
)


RETRIES = 3  # attempts of a whole unit of work that lost a deadlock or serialization conflict
_CONFLICTS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


def guard(method):
    """Retry a unit of work that lost a lock conflict (its blobs were already compensated by
    the unit), and turn infrastructure failures into StorageUnavailable (HTTP 503)."""

    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        for attempt in range(1, RETRIES + 1):
            try:
                return await method(*args, **kwargs)
            except DatastoreError:
                raise
            except _CONFLICTS as error:
                log.warning(
                    "%s lost a lock conflict (attempt %d of %d): %s", method.__name__, attempt, RETRIES, error
                )
                if attempt == RETRIES:
                    raise StorageUnavailable("the database is busy, try again") from error
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
            except BlobNotFound as error:
                log.error("blob missing in %s: %s", method.__name__, error)
                raise DatastoreError(f"the stored image is missing: {error}") from error
            except BlobError as error:
                log.error("blob store failure in %s: %s", method.__name__, error)
                if "authentication" in str(error):
                    raise StorageUnavailable(
                        "the blob storage refused our credentials (authentication failed)"
                    ) from error
                raise StorageUnavailable("the blob storage is unavailable") from error
            except _DB_DOWN as error:
                log.error("database failure in %s: %s", method.__name__, error)
                raise StorageUnavailable("the database is unavailable") from error

    return wrapper


async def folder_named(conn: asyncpg.Connection, owner_id: UUID, ref: object) -> UUID | None:
    """The id of the folder `owned_folder` finds."""
    folder = await owned_folder(conn, owner_id, ref)
    return folder["id"] if folder is not None else None


async def owned_folder(conn: asyncpg.Connection, owner_id: UUID, ref: object) -> asyncpg.Record | None:
    """The folder a client's folder reference means (its row, as `folders.get_folder` reads it):
    the one of the owner's folders with that id, else the owner's folder of that name (the
    frontend sends a selected folder's id). None: neither. The id of another user's folder is
    refused (NotOwnerError), never taken for a name."""
    folder_id, name = folder_reference(ref)
    if name is None:
        return None
    found = await folders.find_owned_folder(conn, owner_id, folder_id, name)
    if found is None and folder_id is not None and await folders.get_folder(conn, folder_id) is not None:
        raise NotOwnerError(say.not_folder_owner(owner_id, ref))
    return found


def folder_reference(ref: object) -> tuple[UUID | None, str | None]:
    """(the id it may be, the name it may be) of a client's folder reference; (None, None) for
    no reference (not a string, or empty)."""
    if not isinstance(ref, str) or not ref:
        return None, None
    try:
        return UUID(ref), ref
    except ValueError:
        return None, ref


async def fetch_owned(
    fetch, conn, user_id: UUID, ident: object, not_found: str, not_owner: str
) -> asyncpg.Record:
    """The row `fetch` finds for a client-sent id, if `user_id` owns it (§4.22's messages)."""
    error = NotFoundError(not_found)
    row = await fetch(conn, as_uuid(ident, error))
    if row is None:
        raise error
    if row["owner_id"] != user_id:
        raise NotOwnerError(not_owner)
    return row


def as_uuid(value: object, error: DatastoreError) -> UUID:
    """Parse an id sent by a client; a malformed one is reported with the caller's error."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise error from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StorageBase:
    def __init__(self, pool: asyncpg.Pool, blobs: BlobStore):
        self.pool = pool
        self.blobs = blobs
        self.seed_names = SeedNames()  # what /inf's labels name (seed_names.py)

    def _unit(self):
        return unit_of_work(self.pool, self.blobs)

    @staticmethod
    async def _user(
        conn: asyncpg.Connection, user_id: object, not_found: str | None = None
    ) -> asyncpg.Record:
        error = UserNotFoundError(not_found or say.user_not_found(user_id))
        user = await users.get_user(conn, as_uuid(user_id, error))
        if user is None:
            raise error
        return user

    @staticmethod
    @asynccontextmanager
    async def _undone_on_error(undo: Callable[[], Awaitable[object]], what: str) -> AsyncIterator[None]:
        """Rows claimed first are given up again if the blobs that go with them fail.

        Paths that identical requests share (a folder's marker, an archive) are written only by the
        request whose rows won the unique key, and only after they are committed: the loser
        writes nothing, so no compensation can ever delete the winner's blobs. The undo runs
        shielded, so a client that hangs up meanwhile still leaves nothing half-made; if the
        database is away it is left to fsck (a folder without its marker, rewritten by repair)."""
        try:
            yield
        except BaseException:
            try:
                await asyncio.shield(undo())
            except Exception as error:
                log.error("could not undo %s after its blobs failed: %s", what, error)
            raise

    async def _release_folder(self, folder_id: UUID) -> None:
        """Delete a claimed folder whose blobs could not be written, as the deletion routes do
        (a picture added meanwhile goes with it)."""
        async with self._unit() as unit, unit.rows() as conn:
            folder = await folders.get_folder(conn, folder_id, "delete")
            if folder is not None:
                await self._delete_folder(conn, unit, folder["owner_id"], folder)

    async def _delete_folder(self, conn, unit: Unit, user_id: UUID, folder: asyncpg.Record) -> None:
        """Delete a folder locked "delete": no writer can add a picture any more, so the list of
        blobs to remove after the commit is complete."""
        container = layout.container_name(user_id)
        for picture_id in await folders.picture_ids(conn, folder["id"]):
            unit.delete_after_commit(container, layout.picture_blob(folder["name"], picture_id))
        unit.delete_after_commit(container, layout.marker_blob(folder["name"]))
        await folders.delete_folder(conn, folder["id"])

    async def _write_marker(self, unit: Unit, user_id: UUID, folder: str, folder_id: UUID) -> None:
        await unit.put(
            layout.container_name(user_id),
            layout.marker_blob(folder),
            layout.marker_content(folder, folder_id),
            {"picture_set_uuid": str(folder_id)},
        )

    async def _owned_folder(
        self,
        conn: asyncpg.Connection,
        user: asyncpg.Record,
        folder_ref: object,
        *,
        not_owner: str,
        not_found: str | None = None,
        lock: str | None = None,
    ) -> asyncpg.Record:
        """The user's folder `folder_ref` names, checked and then locked ("write": adding to it,
        "delete"); a folder deleted meanwhile is not found too (`not_found`, by default the
        original's "Picture set not found" text)."""
        not_found = not_found or say.folder_not_found(folder_ref)
        row = await fetch_owned(folders.get_folder, conn, user["id"], folder_ref, not_found, not_owner)
        if lock is not None:
            row = await folders.get_folder(conn, row["id"], lock)
            if row is None:
                raise NotFoundError(not_found)
        return row

    async def sweep_blob_deletions(self, limit: int = 100) -> int:
        """Delete the blobs earlier units could not (the store was away), unless a row names them
        again; returns how many are settled. Safe to run from every worker at once."""
        settled = 0
        async with self.pool.acquire() as conn:
            for row in await blob_deletions.pending(conn, limit):
                container, name = row["container"], row["name"]
                if not await self._still_expected(conn, container, name):
                    try:
                        await self.blobs.delete(container, name)
                    except BlobNotFound:
                        pass
                    except BlobError:  # still away: next sweep
                        continue
                await blob_deletions.forget(conn, container, name)
                settled += 1
        return settled

    @staticmethod
    async def _still_expected(conn, container: str, name: str) -> bool:
        owner = layout.owner_of(container)
        folder, _, last = name.rpartition("/")
        if owner is None or not folder:
            return False
        if layout.is_marker(name):
            return await blob_deletions.still_expected(conn, owner, folder, None)
        try:
            return await blob_deletions.still_expected(conn, owner, folder, UUID(last))
        except ValueError:
            return False
