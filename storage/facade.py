"""The storage facade: one async method per datastore operation the routes need.

Each method runs in one transaction (plus its blob writes, see unit.py), checks that the user
exists and owns what it touches before writing anything, and raises DatastoreError subclasses
with messages fit for the client. The database is the source of truth: no method lists or reads
a whole blob container.
"""
from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import logging
import random
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from datastore.blob import BlobError, BlobNotFound, BlobStore
from datastore.db import transaction
from datastore.queries import examples, folders, inferences, pictures, seeds, users

from . import layout
from . import messages as say
from .errors import (
    DatastoreError,
    DefaultFolderError,
    FeedbackError,
    FolderExistsError,
    FolderNotFoundError,
    NotFoundError,
    NotOwnerError,
    SeedNotFoundError,
    StorageUnavailable,
    UserAlreadyExistsError,
    UserNotFoundError,
)
from .inference_json import rebuild_inference
from .unit import Unit, unit_of_work

log = logging.getLogger(__name__)

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


def _guard(method):
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
                log.warning("%s lost a lock conflict (attempt %d of %d): %s", method.__name__, attempt, RETRIES, error)
                if attempt == RETRIES:
                    raise StorageUnavailable("the database is busy, try again") from error
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
            except BlobNotFound as error:
                log.error("blob missing in %s: %s", method.__name__, error)
                raise DatastoreError(f"the stored image is missing: {error}") from error
            except BlobError as error:
                log.error("blob store failure in %s: %s", method.__name__, error)
                raise StorageUnavailable("the blob storage is unavailable") from error
            except _DB_DOWN as error:
                log.error("database failure in %s: %s", method.__name__, error)
                raise StorageUnavailable("the database is unavailable") from error

    return wrapper


async def _folder_named(conn: asyncpg.Connection, owner_id: UUID, ref: Any) -> UUID | None:
    """The id a client's folder reference means: the id of one of the owner's folders, else the
    owner's folder of that name (the frontend sends a selected folder's id). None: neither."""
    if not isinstance(ref, str) or not ref:
        return None
    try:
        folder_id: UUID | None = UUID(ref)
    except ValueError:
        folder_id = None
    return await folders.find_owned_folder(conn, owner_id, folder_id, ref)


async def _fetch_owned(fetch, conn, user_id: UUID, ident: Any, not_found: str, not_owner: str) -> asyncpg.Record:
    """The row `fetch` finds for a client-sent id, if `user_id` owns it (§4.22's messages)."""
    error = NotFoundError(not_found)
    row = await fetch(conn, as_uuid(ident, error))
    if row is None:
        raise error
    if row["owner_id"] != user_id:
        raise NotOwnerError(not_owner)
    return row


def as_uuid(value: Any, error: DatastoreError) -> UUID:
    """Parse an id sent by a client; a malformed one is reported with the caller's error."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise error from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Storage:
    def __init__(self, pool: asyncpg.Pool, blobs: BlobStore):
        self.pool = pool
        self.blobs = blobs

    def _unit(self):
        return unit_of_work(self.pool, self.blobs)

    # -- users -------------------------------------------------------------------------------------
    @staticmethod
    async def _user(conn: asyncpg.Connection, user_id: Any, not_found: str | None = None) -> asyncpg.Record:
        error = UserNotFoundError(not_found or say.user_not_found(user_id))
        user = await users.get_user(conn, as_uuid(user_id, error))
        if user is None:
            raise error
        return user

    @_guard
    async def get_user_id(self, email: str) -> UUID:
        async with self.pool.acquire() as conn:
            user_id = await users.get_user_id_by_email(conn, email)
        if user_id is None:
            raise UserNotFoundError("User not found")
        return user_id

    @_guard
    async def require_user(self, user_id: Any) -> UUID:
        """The id of an existing /inf user (checked before any model is called)."""
        async with self.pool.acquire() as conn:
            return (await self._user(conn, user_id, say.INFERENCE_USER_UNKNOWN))["id"]

    @_guard
    async def create_user(self, email: str) -> UUID:
        """Register a user with its "General" folder, blob container and folder marker."""
        email = email.strip()
        if not email or "@" not in email:
            raise DatastoreError(f"invalid email address: {email!r}")
        async with self._unit() as unit:
            user_id = await users.insert_user(unit.conn, email)
            if user_id is None:
                raise UserAlreadyExistsError(f"User already exists: {email}")
            general = await folders.insert_folder(unit.conn, user_id, layout.DEFAULT_FOLDER, 0)
            await users.set_default_set(unit.conn, user_id, general["id"])
            await self._write_marker(unit, user_id, layout.DEFAULT_FOLDER, general["id"])
        return user_id

    @_guard
    async def ensure_user(self, email: str) -> UUID:
        """The id of `email`, registering it first if needed (start-up seeding of the default user)."""
        try:
            return await self.get_user_id(email)
        except UserNotFoundError:
            try:
                return await self.create_user(email)
            except UserAlreadyExistsError:  # another worker registered it meanwhile
                return await self.get_user_id(email)

    @_guard
    async def list_users(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await users.list_users(conn)

    @_guard
    async def remove_user(self, email_or_id: str) -> UUID:
        async with transaction(self.pool) as conn:
            user_id = await users.get_user_id_by_email(conn, email_or_id)
            if user_id is None:
                user_id = (await self._user(conn, email_or_id))["id"]
            await users.delete_user(conn, user_id)
        try:
            await self.blobs.delete_container(layout.container_name(user_id))
        except BlobNotFound:
            pass
        return user_id

    # -- seeds ---------------------------------------------------------------------------------------
    @_guard
    async def get_all_seeds(self) -> list[dict]:
        async with self.pool.acquire() as conn:
            return [dict(r) for r in await seeds.all_seeds(conn)]

    @_guard
    async def seed_data(self, name: str) -> dict | list | None:
        """The stored record of a seed (by catalogue name), the whole list for "seeds", else None."""
        async with self.pool.acquire() as conn:
            if name == "seeds":
                return [dict(r) for r in await seeds.all_seeds(conn)]
            info = await seeds.get_seed_info(conn, name)
            if info is not None:
                return info
            seed = await seeds.find_seed(conn, name)
            return {"seed_id": seed["id"], "seed_name": seed["name"]} if seed else None

    @_guard
    async def reload_seed_data(self, source_url: str | None) -> int:
        """Replace the seed records with `<source_url>/seeds/all.json`, or, with no source, rebuild
        them from the seed table. Returns the number of records."""
        if source_url:
            records = parse_seed_records(await fetch_json(source_url.rstrip("/") + "/seeds/all.json"))
        else:
            records = {s["seed_name"]: {"seed_id": str(s["seed_id"]), "seed_name": s["seed_name"]}
                       for s in await self.get_all_seeds()}
        async with transaction(self.pool) as conn:
            await seeds.replace_seed_info(conn, records)
        return len(records)

    # -- folders -------------------------------------------------------------------------------------
    async def _write_marker(self, unit: Unit, user_id: UUID, folder: str, folder_id: UUID) -> None:
        await unit.put(
            layout.container_name(user_id),
            layout.marker_blob(folder),
            layout.marker_content(folder, folder_id),
            {"picture_set_uuid": str(folder_id)},
        )

    async def _owned_folder(self, conn: asyncpg.Connection, user: asyncpg.Record, folder_ref: Any, *,
                            not_found: str, not_owner: str, lock: str | None = None) -> asyncpg.Record:
        """The user's folder `folder_ref` names, checked and then locked ("write": adding to it,
        "delete"); a folder deleted meanwhile is `not_found` too."""
        row = await _fetch_owned(folders.get_folder, conn, user["id"], folder_ref, not_found, not_owner)
        if lock is not None:
            row = await folders.get_folder(conn, row["id"], lock)
            if row is None:
                raise FolderNotFoundError(not_found)
        return row

    @_guard
    async def create_picture_set(self, user_id: Any, nb_pictures: int, folder_name: str | None = None) -> UUID:
        if folder_name is not None:
            folder_name = layout.check_folder_name(folder_name)
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            created = await folders.insert_folder(unit.conn, user["id"], folder_name, nb_pictures)
            if created is None:
                raise FolderExistsError("Folder already exists")
            await self._write_marker(unit, user["id"], created["name"], created["id"])
        return created["id"]

    @_guard
    async def get_directories(self, user_id: Any) -> list[dict]:
        async with self.pool.acquire() as conn:
            uid = as_uuid(user_id, UserNotFoundError(say.user_not_found(user_id)))
            rows = await folders.list_directories(conn, uid)
            if not rows:
                await self._user(conn, uid)  # only on the empty path: tell "no user" from "no folder"
                raise FolderNotFoundError(f"No picture set found for user: {user_id}")
        return [dict(r) for r in rows]

    @_guard
    async def delete_directory_request(self, user_id: Any, folder_id: Any) -> bool:
        """Whether the folder holds validated pictures the user may let CFIA keep."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            folder = await self._owned_folder(conn, user, folder_id, not_found=say.folder_not_found(folder_id),
                                              not_owner=say.not_folder_owner(user_id, folder_id))
            return bool(await folders.validated_picture_ids(conn, folder["id"]))

    async def _folder_to_delete(self, unit: Unit, user_id: Any, folder_id: Any) -> tuple[asyncpg.Record, ...]:
        """(user, folder) for the deletion routes, the folder locked against new writers."""
        user = await self._user(unit.conn, user_id)
        folder = await self._owned_folder(unit.conn, user, folder_id, not_found=say.folder_not_found(folder_id),
                                          not_owner=say.cannot_delete_folder(user_id, folder_id), lock="delete")
        if folder["is_default"]:
            raise DefaultFolderError(say.cannot_delete_default_folder(user_id))
        return user, folder

    async def _delete_folder(self, unit: Unit, user_id: UUID, folder: asyncpg.Record) -> None:
        """Delete a folder locked "delete": no writer can add a picture any more, so the list of
        blobs to remove after the commit is complete."""
        container = layout.container_name(user_id)
        for picture_id in await folders.picture_ids(unit.conn, folder["id"]):
            unit.delete_after_commit(container, layout.picture_blob(folder["name"], picture_id))
        unit.delete_after_commit(container, layout.marker_blob(folder["name"]))
        await folders.delete_folder(unit.conn, folder["id"])

    @_guard
    async def delete_directory_permanently(self, user_id: Any, folder_id: Any) -> bool:
        async with self._unit() as unit:
            user, folder = await self._folder_to_delete(unit, user_id, folder_id)
            await self._delete_folder(unit, user["id"], folder)
        return True

    @_guard
    async def delete_directory_by_name(self, user_id: Any, name_or_id: str) -> bool:
        """/del: the frontend sends the folder's id once one is selected, its name otherwise."""
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            folder_id = await _folder_named(unit.conn, user["id"], name_or_id)
            if folder_id is None:
                raise FolderNotFoundError("directory does not exist")
            user, folder = await self._folder_to_delete(unit, user_id, folder_id)
            await self._delete_folder(unit, user["id"], folder)
        return True

    @_guard
    async def delete_directory_with_archive(self, user_id: Any, folder_id: Any, dev_email: str | None) -> UUID:
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
                raise FolderExistsError(f"the archive already holds a folder {archive_name}")
            src, dst = layout.container_name(user["id"]), layout.container_name(dev_id)
            await unit.put(dst, layout.marker_blob(archive_name),
                           layout.marker_content(archive_name, folder["id"]), {"picture_set_uuid": str(folder["id"])})
            for picture_id in validated:
                row = await pictures.get_picture(unit.conn, picture_id)
                if row is None:  # cannot happen while the folder is locked; never a TypeError
                    continue
                source = layout.picture_blob(folder["name"], picture_id)
                name = layout.picture_blob(archive_name, picture_id)
                await unit.put(dst, name, await self.blobs.download(src, source),
                               layout.picture_tags(picture_id, archive["id"]))
                metadata = dict(row["picture"]) if isinstance(row["picture"], dict) else {}
                await pictures.move_picture(unit.conn, picture_id, archive["id"], {**metadata, "link": name})
                unit.delete_after_commit(src, source)
            await self._delete_folder(unit, user["id"], folder)
        return archive["id"]

    # -- pictures ------------------------------------------------------------------------------------
    @_guard
    async def upload_pictures(
        self,
        user_id: Any,
        folder_id: Any,
        images: list[bytes],
        seed_name: str | None = None,
        seed_id: Any = None,
        zoom_level: float | None = None,
        nb_seeds: int | None = None,
    ) -> list[UUID]:
        """Store labelled pictures (batch import): each is validated at once by its picture_seed row."""
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            folder = await self._owned_folder(unit.conn, user, folder_id, not_found=say.UPLOAD_FAILED,
                                              not_owner=say.not_folder_owner(user_id, folder_id), lock="write")
            if seed_id:
                seed = await seeds.get_seed(unit.conn, as_uuid(seed_id, SeedNotFoundError(f"Seed not found: {seed_id}")))
                if seed is None:
                    raise SeedNotFoundError(f"Seed not found: {seed_id}")
            elif seed_name:
                seed = await seeds.get_or_create_seed(unit.conn, seed_name)
            else:
                raise SeedNotFoundError("a seed_name or a seed_id is required")
            container = layout.container_name(user["id"])
            folder_path = layout.folder_name(folder["name"], folder["is_default"])
            ids = []
            for image in images:
                picture_id = await pictures.insert_picture(unit.conn, folder["id"], sha256(image))
                await pictures.insert_picture_seed(unit.conn, picture_id, seed["id"])
                name = layout.picture_blob(folder_path, picture_id)
                await unit.put(container, name, image, layout.picture_tags(picture_id, folder["id"]))
                await pictures.set_picture_metadata(
                    unit.conn,
                    picture_id,
                    {"link": name, "nb_seeds": nb_seeds, "zoom": zoom_level, "description": "Uploaded through the API"},
                )
                ids.append(picture_id)
            # labelled pictures teach the built-in classifier (processed after the commit)
            await examples.enqueue(unit.conn, [(p, seed["id"], None, None, "upload") for p in ids])
        return ids

    @_guard
    async def get_picture(self, user_id: Any, picture_id: Any) -> tuple[dict | None, bytes]:
        """The picture's latest inference (or None) and its bytes."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            picture = await _fetch_owned(pictures.get_picture, conn, user["id"], picture_id,
                                         say.picture_not_found(picture_id),
                                         say.cannot_access_picture(user_id, picture_id))
            row = await inferences.latest_inference_of_picture(conn, picture["id"])
            inference = await rebuild_inference(conn, row) if row else None
        folder = layout.folder_name(picture["folder_name"], picture["is_default"])
        try:
            data = await self.blobs.download(layout.container_name(user["id"]), layout.picture_blob(folder, picture["id"]))
        except BlobNotFound:  # deleted with its folder since the rows were read
            raise NotFoundError(say.picture_not_found(picture_id)) from None
        return inference, data

    async def _target_folder(self, conn, user: asyncpg.Record, folder_ref: Any) -> asyncpg.Record:
        """The user's folder named (or identified) by `folder_ref`, else the default "General";
        locked for writing. A folder deleted while the request ran is not found."""
        folder_id = await _folder_named(conn, user["id"], folder_ref)
        if folder_id is not None:
            folder = await folders.get_folder(conn, folder_id, "write")
            if folder is None:
                raise FolderNotFoundError(say.folder_not_found(folder_ref))
            return folder
        folder = await folders.get_folder(conn, user["default_set_id"], "write") if user["default_set_id"] else None
        if folder is None:  # a user whose General folder was lost (possible in the original)
            created = await folders.insert_folder(conn, user["id"], layout.DEFAULT_FOLDER, 0)
            if created is None:
                raise FolderNotFoundError("the user has no default folder")
            await users.set_default_set(conn, user["id"], created["id"])
            folder = await folders.get_folder(conn, created["id"], "write")
        return folder

    @_guard
    async def save_inference(
        self, user_id: Any, folder_ref: Any, image: bytes, result: dict, pipeline_id: UUID | None,
        image_dims: list[float] | None = None,
    ) -> dict:
        """Store the picture, the inference, its boxes and their candidate seeds in one unit, and
        return a copy of `result` completed with the ids (spec §6.1). Nothing is written if any
        part fails. Ids are made here so every table is written in one batched statement;
        `image_dims` (the size the boxes are in) is kept so feedback boxes can be mapped back."""
        result = copy.deepcopy(result)  # a retried unit starts again from the models' answer
        boxes = result.get("boxes") or []
        async with self._unit() as unit:
            conn = unit.conn
            user = await self._user(conn, user_id, say.INFERENCE_USER_UNKNOWN)
            folder = await self._target_folder(conn, user, folder_ref)
            labels = [g["label"] for box in boxes for g in _guesses(box)]
            found = await seeds.resolve_labels(conn, [label for label in labels if isinstance(label, str)])
            unknown = next((label for label in labels if label not in found), None)
            if boxes and (unknown is not None or not all(isinstance(label, str) for label in labels)):
                raise SeedNotFoundError(f"the model answered a label that is not in the seed table: {unknown!r}")
            picture_id = uuid4()
            name = layout.picture_blob(layout.folder_name(folder["name"], folder["is_default"]), picture_id)
            await pictures.insert_picture(conn, folder["id"], sha256(image),
                                          {"link": name, "description": "Uploaded through the API"}, picture_id)
            await unit.put(layout.container_name(user["id"]), name, image, layout.picture_tags(picture_id, folder["id"]))
            summary = {k: result.get(k) for k in ("filename", "labelOccurrence", "totalBoxes", "models")}
            if image_dims:
                summary["imageDims"] = list(image_dims)
            inference_id = await inferences.insert_inference(conn, picture_id, user["id"], pipeline_id, summary)
            objects, guesses = [], []
            for box in boxes:
                object_id, entries = uuid4(), _guesses(box)
                ids = [uuid4() for _ in entries]
                scores = [float(entry.get("score") or 0.0) for entry in entries]
                top = ids[scores.index(max(scores))]
                for guess_id, entry, score in zip(ids, entries, scores):
                    guesses.append((guess_id, found[entry["label"]]["id"], object_id, score))
                    if box.get("topN"):
                        entry["object_id"] = str(guess_id)
                metadata = {k: box.get(k) for k in ("box", "color", "overlapping", "overlappingIndices")}
                objects.append((object_id, metadata, top))
                box.update(object_type_id=1, box_id=str(object_id), top_id=str(top))
            await inferences.insert_objects(conn, inference_id, objects)
            await inferences.insert_seed_objs(conn, guesses)
        result["inference_id"] = str(inference_id)
        result["pipeline_id"] = str(pipeline_id) if pipeline_id else None
        return result

    # -- image validators ----------------------------------------------------------------------------
    @_guard
    async def record_validator(self, digest: str) -> None:
        async with self.pool.acquire() as conn:
            await pictures.record_validator(conn, digest)

    @_guard
    async def validator_known(self, digest: str) -> bool:
        async with self.pool.acquire() as conn:
            return await pictures.validator_known(conn, digest)

    # -- inferences and feedback ---------------------------------------------------------------------
    async def _inference_for_feedback(self, conn, user_id: Any, inference_id: Any,
                                      verified_message: str) -> tuple[asyncpg.Record, asyncpg.Record]:
        """(user, inference) for a feedback route, in the writers' lock order: the folder held for
        writing, then the inference held until commit (two feedbacks on one inference queue up)."""
        user = await self._user(conn, user_id)
        row = await self._owned_inference(conn, user, user_id, inference_id)
        locked = None
        if await folders.get_folder(conn, row["folder_id"], "write") is not None:
            locked = await inferences.lock_inference(conn, row["id"])
        if locked is None:  # deleted with its folder while we were on our way
            raise NotFoundError(say.inference_not_found(inference_id))
        if locked["verified"]:
            raise FeedbackError(verified_message)
        return user, row

    @_guard
    async def get_inference(self, user_id: Any, inference_id: Any) -> dict:
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            return await rebuild_inference(conn, await self._owned_inference(conn, user, user_id, inference_id))

    @staticmethod
    async def _owned_inference(conn, user: asyncpg.Record, user_ref: Any, inference_id: Any) -> asyncpg.Record:
        error = NotFoundError(say.inference_not_found(inference_id))
        row = await inferences.get_inference_row(conn, as_uuid(inference_id, error))
        if row is None:
            raise error
        if row["owner_id"] != user["id"]:  # the original checks the picture's owner
            raise NotOwnerError(say.cannot_access_picture(user_ref, row["picture_id"]))
        return row

    async def _boxes_of(self, conn, inference_id: UUID, box_ids: list[Any]) -> list[asyncpg.Record]:
        found = []
        for box_id in box_ids:
            error = FeedbackError(say.box_not_found(box_id))
            obj = await inferences.get_object(conn, as_uuid(box_id, error))
            if obj is None or obj["inference_id"] != inference_id:
                raise error
            found.append(obj)
        return found

    @_guard
    async def save_perfect_feedback(self, user_id: Any, inference_id: Any, box_ids: list[Any]) -> dict:
        """Confirm the listed boxes as the model labelled them; return the updated inference."""
        async with transaction(self.pool) as conn:
            user, row = await self._inference_for_feedback(conn, user_id, inference_id,
                                                           say.verified_inference(inference_id))
            dims = _image_dims(row)
            jobs = []
            for obj in await self._boxes_of(conn, row["id"], box_ids):
                await inferences.verify_object(conn, obj["id"], obj["top_id"])
                seed_id = await inferences.seed_of_guess(conn, obj["top_id"])
                if seed_id is not None:
                    metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
                    jobs.append((row["picture_id"], seed_id, obj["id"], _job_box(_stored_coordinates(metadata), dims),
                                 "feedback"))
            await inferences.verify_inference_if_resolved(conn, row["id"], user["id"])
            await examples.enqueue(conn, jobs)
            return await rebuild_inference(conn, await inferences.get_inference_row(conn, row["id"]))

    @_guard
    async def save_annotated_feedback(self, user_id: Any, inference_id: Any, boxes: list[dict]) -> dict:
        """Apply the user's corrections (relabel, move, delete, add boxes); return the inference."""
        async with transaction(self.pool) as conn:
            user, row = await self._inference_for_feedback(conn, user_id, inference_id,
                                                           say.already_verified(inference_id))
            dims = _image_dims(row)
            jobs = []
            for box in boxes:
                corrected = await self._correct_box(conn, row["id"], box)
                if corrected is not None:
                    object_id, seed_id, coordinates = corrected
                    jobs.append((row["picture_id"], seed_id, object_id, _job_box(coordinates, dims), "feedback"))
            await inferences.verify_inference_if_resolved(conn, row["id"], user["id"])
            await examples.enqueue(conn, jobs)
            return await rebuild_inference(conn, await inferences.get_inference_row(conn, row["id"]))

    async def _seed_of(self, conn, box: dict) -> asyncpg.Record | None:
        """The seed a corrected box names by classId or label (a new label joins the catalogue)."""
        class_id, label = box.get("classId") or "", box.get("label") or ""
        if class_id:
            error = SeedNotFoundError(f"Seed not found: {class_id}")
            seed = await seeds.get_seed(conn, as_uuid(class_id, error))
            if seed is None:
                raise error
            return seed
        if label:
            if not isinstance(label, str):
                raise FeedbackError("a box label must be a string")
            return await seeds.get_or_create_seed(conn, label)
        return None

    async def _correct_box(self, conn, inference_id: UUID, box: dict) -> tuple | None:
        """Apply one corrected box; (object id, seed id, coordinates) when it now names a seed."""
        coordinates = _box_coordinates(box.get("box"))
        seed = await self._seed_of(conn, box)
        if box.get("boxId") in ("", None):
            if seed is None:
                raise FeedbackError("a new box needs a label or a classId")
            metadata = {"box": coordinates, "color": box.get("color") or "#000000", "overlapping": False,
                        "overlappingIndices": []}
            object_id = await inferences.insert_object(conn, inference_id, metadata, manual=True)
            guess = await inferences.insert_seed_obj(conn, seed["id"], object_id, 0.0)
            await inferences.set_top(conn, object_id, guess)
            await inferences.verify_object(conn, object_id, guess)
            return object_id, seed["id"], coordinates
        (obj,) = await self._boxes_of(conn, inference_id, [box["boxId"]])
        if obj["verified_id"] is not None:
            raise FeedbackError(f"Object {obj['id']} is already verified")
        metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
        if coordinates != _stored_coordinates(metadata):
            await inferences.set_box_metadata(conn, obj["id"], {**metadata, "box": coordinates})
        if seed is None:  # neither label nor classId: the user deleted this box
            await inferences.verify_object(conn, obj["id"], None, valid=False)
            return None
        guess = await inferences.find_seed_obj(conn, obj["id"], seed["id"])
        if guess is None:
            guess = await inferences.insert_seed_obj(conn, seed["id"], obj["id"], 0.0)
        await inferences.verify_object(conn, obj["id"], guess)
        return obj["id"], seed["id"], coordinates


def _image_dims(inference: asyncpg.Record) -> list[float] | None:
    """The [width, height] the inference's boxes are in (None for inferences saved before it was kept)."""
    summary = inference["inference"] if isinstance(inference["inference"], dict) else {}
    dims = summary.get("imageDims")
    return dims if isinstance(dims, list) and len(dims) == 2 else None


def _job_box(coordinates: dict | None, dims: list[float] | None) -> dict | None:
    if coordinates is None:
        return None
    return {**coordinates, "imageDims": dims} if dims else coordinates


def _guesses(box: dict) -> list[dict]:
    return box.get("topN") or [{"label": box.get("label"), "score": box.get("score")}]


async def fetch_json(url: str) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


def parse_seed_records(document: Any) -> dict[str, dict]:
    """all.json as a {name: record} map or a list of records naming their seed."""
    if isinstance(document, dict):
        return {str(k): v if isinstance(v, dict) else {"value": v} for k, v in document.items()}
    if isinstance(document, list):
        records = {}
        for item in document:
            name = isinstance(item, dict) and (item.get("seed_name") or item.get("name"))
            if name:
                records[str(name)] = item
        if records:
            return records
    raise ValueError("seeds/all.json holds neither a map of seeds nor a list of named seed records")


def _stored_coordinates(metadata: dict) -> dict | None:
    """The stored box (or a legacy bare box the original wrote on coordinate edits)."""
    try:
        return _box_coordinates(metadata.get("box", metadata))
    except FeedbackError:
        return None


def _box_coordinates(box: Any) -> dict:
    if not isinstance(box, dict):
        raise FeedbackError("a box needs its coordinates: topX, topY, bottomX, bottomY")
    try:
        return {k: float(box[k]) for k in ("topX", "topY", "bottomX", "bottomY")}
    except (KeyError, TypeError, ValueError):
        raise FeedbackError("a box needs numeric coordinates: topX, topY, bottomX, bottomY") from None
