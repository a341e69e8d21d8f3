"""Folders (picture sets): creation, listing and the three ways of deleting one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from datastore.db import transaction
from datastore.queries import folders, pictures, users

from . import layout
from . import messages as say
from .base import StorageBase, as_uuid, folder_named, guard
from .errors import DatastoreError, NotFoundError, UserNotFoundError
from .unit import Unit


class Folders(StorageBase):
    # -- folders -------------------------------------------------------------------------------------
    @guard
    async def create_picture_set(
        self, user_id: Any, nb_pictures: int, folder_name: str | None = None
    ) -> UUID:
        if folder_name is not None:
            folder_name = layout.check_folder_name(folder_name)
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            created = await folders.insert_folder(unit.conn, user["id"], folder_name, nb_pictures)
            if created is None:
                raise DatastoreError("Folder already exists")
            await self._write_marker(unit, user["id"], created["name"], created["id"])
        return created["id"]

    @guard
    async def get_directories(self, user_id: Any) -> list[dict]:
        async with self.pool.acquire() as conn:
            uid = as_uuid(user_id, UserNotFoundError(say.user_not_found(user_id)))
            rows = await folders.list_directories(conn, uid)
            if not rows:
                await self._user(conn, uid)  # only on the empty path: tell "no user" from "no folder"
                raise NotFoundError(f"No picture set found for user: {user_id}")
        return [dict(r) for r in rows]

    @guard
    async def delete_directory_request(self, user_id: Any, folder_id: Any) -> bool:
        """Whether the folder holds validated pictures the user may let CFIA keep."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            folder = await self._owned_folder(
                conn,
                user,
                folder_id,
                not_found=say.folder_not_found(folder_id),
                not_owner=say.not_folder_owner(user_id, folder_id),
            )
            return bool(await folders.validated_picture_ids(conn, folder["id"]))

    async def _folder_to_delete(self, unit: Unit, user_id: Any, folder_id: Any) -> tuple[asyncpg.Record, ...]:
        """(user, folder) for the deletion routes, the folder locked against new writers."""
        user = await self._user(unit.conn, user_id)
        folder = await self._owned_folder(
            unit.conn,
            user,
            folder_id,
            not_found=say.folder_not_found(folder_id),
            not_owner=say.cannot_delete_folder(user_id, folder_id),
            lock="delete",
        )
        if folder["is_default"]:
            raise DatastoreError(say.cannot_delete_default_folder(user_id))
        return user, folder

    async def _delete_folder(self, unit: Unit, user_id: UUID, folder: asyncpg.Record) -> None:
        """Delete a folder locked "delete": no writer can add a picture any more, so the list of
        blobs to remove after the commit is complete."""
        container = layout.container_name(user_id)
        for picture_id in await folders.picture_ids(unit.conn, folder["id"]):
            unit.delete_after_commit(container, layout.picture_blob(folder["name"], picture_id))
        unit.delete_after_commit(container, layout.marker_blob(folder["name"]))
        await folders.delete_folder(unit.conn, folder["id"])

    @guard
    async def delete_directory_permanently(self, user_id: Any, folder_id: Any) -> bool:
        async with self._unit() as unit:
            user, folder = await self._folder_to_delete(unit, user_id, folder_id)
            await self._delete_folder(unit, user["id"], folder)
        return True

    @guard
    async def delete_directory_by_name(self, user_id: Any, name_or_id: str) -> bool:
        """/del: the frontend sends the folder's id once one is selected, its name otherwise."""
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            folder_id = await folder_named(unit.conn, user["id"], name_or_id)
            if folder_id is None:
                raise NotFoundError("directory does not exist")
            user, folder = await self._folder_to_delete(unit, user_id, folder_id)
            await self._delete_folder(unit, user["id"], folder)
        return True

    @guard
    async def delete_directory_with_archive(
        self, user_id: Any, folder_id: Any, dev_email: str | None
    ) -> UUID:
        """Move the folder's validated pictures to the dev user's archive, delete the rest."""
        if not dev_email:
            raise DatastoreError("archiving is not configured (DEV_USER_EMAIL is not set)")
        async with self._unit() as unit:
            user, folder = await self._folder_to_delete(unit, user_id, folder_id)
            dev_id = await users.get_user_id_by_email(unit.conn, dev_email)
            if dev_id is None:
                raise UserNotFoundError(f"the archive user {dev_email} is not registered")
            validated = await folders.validated_picture_ids(unit.conn, folder["id"])
            archive_name = f"{user['id']}/{folder['name']}"
            archive = await folders.insert_folder(unit.conn, dev_id, archive_name, len(validated))
            if archive is None:
                raise DatastoreError(f"the archive already holds a folder {archive_name}")
            src, dst = layout.container_name(user["id"]), layout.container_name(dev_id)
            await unit.put(
                dst,
                layout.marker_blob(archive_name),
                layout.marker_content(archive_name, folder["id"]),
                {"picture_set_uuid": str(folder["id"])},
            )
            for picture_id in validated:
                row = await pictures.get_picture(unit.conn, picture_id)
                if row is None:  # cannot happen while the folder is locked; never a TypeError
                    continue
                source = layout.picture_blob(folder["name"], picture_id)
                name = layout.picture_blob(archive_name, picture_id)
                await unit.put(
                    dst,
                    name,
                    await self.blobs.download(src, source),
                    layout.picture_tags(picture_id, archive["id"]),
                )
                metadata = dict(row["picture"]) if isinstance(row["picture"], dict) else {}
                await pictures.move_picture(unit.conn, picture_id, archive["id"], {**metadata, "link": name})
                unit.delete_after_commit(src, source)
            await self._delete_folder(unit, user["id"], folder)
        return archive["id"]
