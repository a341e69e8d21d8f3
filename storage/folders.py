"""Folders (picture sets): creation, listing and the three ways of deleting one."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from datastore.db import transaction
from datastore.queries import folders, pictures, users
from kernel.errors import DatastoreError, NotFoundError, UserNotFoundError

from . import layout
from . import messages as say
from .base import StorageBase, as_uuid, folder_named, guard
from .unit import Unit

ARCHIVE_ROUNDS = 3  # copy rounds before /delete-with-archive gives up on a folder that keeps changing


class Folders(StorageBase):
    # -- folders -------------------------------------------------------------------------------------
    @guard
    async def create_picture_set(
        self, user_id: object, nb_pictures: int, folder_name: str | None = None
    ) -> UUID:
        if folder_name is not None:
            folder_name = layout.check_folder_name(folder_name)
        folder_id = uuid4()
        name = folder_name if folder_name is not None else str(folder_id)  # as the trigger names it
        async with transaction(self.pool) as conn:  # the claim: one request gets the name
            user = await self._user(conn, user_id)
            if await folders.insert_folder(conn, user["id"], name, nb_pictures, folder_id) is None:
                raise DatastoreError("Folder already exists")
        async with self._undone_on_error(lambda: self._release_folder(folder_id), f"folder {folder_id}"):
            async with self._unit() as unit:
                await self._write_marker(unit, user["id"], name, folder_id)
        return folder_id

    @guard
    async def get_directories(self, user_id: object) -> list[dict]:
        async with self.pool.acquire() as conn:
            uid = as_uuid(user_id, UserNotFoundError(say.user_not_found(user_id)))
            rows = await folders.list_directories(conn, uid)
            if not rows:
                await self._user(conn, uid)  # only on the empty path: tell "no user" from "no folder"
                raise NotFoundError(f"No picture set found for user: {user_id}")
        return [dict(r) for r in rows]

    @guard
    async def delete_directory_request(self, user_id: object, folder_id: object) -> bool:
        """Whether the folder holds validated pictures the user may let CFIA keep."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            not_owner = say.not_folder_owner(user_id, folder_id)
            folder = await self._owned_folder(conn, user, folder_id, not_owner=not_owner)
            return bool(await folders.validated_picture_ids(conn, folder["id"]))

    async def _folder_to_delete(
        self, conn, user_id: object, folder_id: object, lock: str | None = "delete"
    ) -> tuple[asyncpg.Record, asyncpg.Record]:
        """(user, folder) for the deletion routes, the folder locked against new writers."""
        user = await self._user(conn, user_id)
        not_owner = say.cannot_delete_folder(user_id, folder_id)
        folder = await self._owned_folder(conn, user, folder_id, not_owner=not_owner, lock=lock)
        if folder["is_default"]:
            raise DatastoreError(say.cannot_delete_default_folder(user_id))
        return user, folder

    @guard
    async def delete_directory_permanently(self, user_id: object, folder_id: object) -> bool:
        async with self._unit() as unit, unit.rows() as conn:
            user, folder = await self._folder_to_delete(conn, user_id, folder_id)
            await self._delete_folder(conn, unit, user["id"], folder)
        return True

    @guard
    async def delete_directory_by_name(self, user_id: object, name_or_id: str) -> bool:
        """/del: the frontend sends the folder's id once one is selected, its name otherwise."""
        async with self._unit() as unit, unit.rows() as conn:
            user = await self._user(conn, user_id)
            folder_id = await folder_named(conn, user["id"], name_or_id)
            if folder_id is None:
                raise NotFoundError("directory does not exist")
            user, folder = await self._folder_to_delete(conn, user_id, folder_id)
            await self._delete_folder(conn, unit, user["id"], folder)
        return True

    @guard
    async def delete_directory_with_archive(
        self, user_id: object, folder_id: object, dev_email: str | None
    ) -> UUID:
        """Move the folder's validated pictures to the dev user's archive, delete the rest. The
        pictures are copied first (no transaction open), then the rows move in one transaction;
        a picture validated while they were copied is copied on the next round."""
        if not dev_email:
            raise DatastoreError("archiving is not configured (DEV_USER_EMAIL is not set)")
        async with self.pool.acquire() as conn:
            user, folder = await self._folder_to_delete(conn, user_id, folder_id, lock=None)
            dev_id = await users.get_user_id_by_email(conn, dev_email)
        if dev_id is None:
            raise UserNotFoundError(f"the archive user {dev_email} is not registered")
        archive_name, archive_id = f"{user['id']}/{folder['name']}", uuid4()
        # The archive's row is claimed first: of two identical requests, only the one that made it
        # writes at the archive's paths (the other is refused and writes nothing).
        async with transaction(self.pool) as conn:
            if await folders.insert_folder(conn, dev_id, archive_name, 0, archive_id) is None:
                raise DatastoreError(f"the archive already holds a folder {archive_name}")
        async with self._undone_on_error(lambda: self._release_folder(archive_id), f"archive {archive_id}"):
            return await self._archive(user_id, folder_id, user, folder, dev_id, archive_name, archive_id)

    async def _archive(
        self,
        user_id: object,
        folder_id: object,
        user: asyncpg.Record,
        folder: asyncpg.Record,
        dev_id: UUID,
        archive_name: str,
        archive_id: UUID,
    ) -> UUID:
        src, dst = layout.container_name(user["id"]), layout.container_name(dev_id)
        async with self._unit() as unit:
            tags = {"picture_set_uuid": str(folder["id"])}
            await unit.put(
                dst, layout.marker_blob(archive_name), layout.marker_content(archive_name, folder["id"]), tags
            )
            copied: set[UUID] = set()

            async def copy(pictures: list[UUID]) -> None:
                for picture_id in (p for p in pictures if p not in copied):
                    data = await self.blobs.download(src, layout.picture_blob(folder["name"], picture_id))
                    name = layout.picture_blob(archive_name, picture_id)
                    await unit.put(dst, name, data, layout.picture_tags(picture_id, archive_id))
                    copied.add(picture_id)

            for round_ in range(1, ARCHIVE_ROUNDS + 1):
                async with self.pool.acquire() as conn:
                    await copy(await folders.validated_picture_ids(conn, folder["id"]))
                async with unit.rows() as conn:
                    user, folder = await self._folder_to_delete(conn, user_id, folder_id)
                    validated = await folders.validated_picture_ids(conn, folder["id"])
                    if not set(validated) <= copied:
                        if round_ < ARCHIVE_ROUNDS:
                            continue  # validated meanwhile: copy those too, without the lock
                        # writers keep adding: copy the last few while the folder is locked, so
                        # the deletion ends (a bounded wait for writers, never a livelock)
                        await copy(validated)
                    await self._move_to_archive(conn, unit, folder, validated, archive_name, archive_id)
                    await self._delete_folder(conn, unit, user["id"], folder)
                    return archive_id
            raise AssertionError("unreachable: the last round always archives")

    async def _move_to_archive(
        self, conn, unit: Unit, folder, validated: list[UUID], archive_name: str, archive_id: UUID
    ) -> None:
        await folders.set_number_of_images(conn, archive_id, len(validated))
        src = layout.container_name(folder["owner_id"])
        for picture_id in validated:
            row = await pictures.get_picture(conn, picture_id)
            metadata = dict(row["picture"]) if row is not None and isinstance(row["picture"], dict) else {}
            link = layout.picture_blob(archive_name, picture_id)
            await pictures.move_picture(conn, picture_id, archive_id, {**metadata, "link": link})
            unit.delete_after_commit(src, layout.picture_blob(folder["name"], picture_id))
