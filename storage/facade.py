"""The storage facade: one async method per datastore operation the routes need.

Each method runs in one transaction (plus its blob writes, see unit.py), checks that the user
exists and owns what it touches before writing anything, and raises DatastoreError subclasses
with messages fit for the client. The database is the source of truth: no method lists or reads
a whole blob container.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from datastore.blob import BlobError, BlobNotFound, BlobStore
from datastore.db import transaction
from datastore.queries import examples, folders, inferences, pictures, seeds, users

from . import layout
from .errors import (
    DatastoreError,
    DefaultFolderError,
    FeedbackError,
    FolderExistsError,
    FolderNotFoundError,
    InferenceNotFoundError,
    NotOwnerError,
    PictureNotFoundError,
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


def _guard(method):
    """Turn infrastructure failures into StorageUnavailable (HTTP 503) with a clear message."""

    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except DatastoreError:
            raise
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
    """The id a client's folder reference means: the owner's folder of that name, else the
    reference itself when it is a UUID (the frontend sends a selected folder's id). None: neither."""
    if not isinstance(ref, str) or not ref:
        return None
    folder_id = await folders.find_folder_by_name(conn, owner_id, ref)
    if folder_id is not None:
        return folder_id
    try:
        return UUID(ref)
    except ValueError:
        return None


async def _fetch_owned(fetch, conn, user_id: UUID, ident: Any, not_found: DatastoreError, not_owner) -> asyncpg.Record:
    """The row `fetch` finds for a client-sent id, if `user_id` owns it: else not_found (also
    for a malformed id) or NotOwnerError(not_owner(row))."""
    row = await fetch(conn, as_uuid(ident, not_found))
    if row is None:
        raise not_found
    if row["owner_id"] != user_id:
        raise NotOwnerError(not_owner(row))
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
    async def _user(conn: asyncpg.Connection, user_id: Any) -> asyncpg.Record:
        error = UserNotFoundError(f"User not found based on the given id: {user_id}")
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
        """The id of an existing user (checked before work that costs more than a query)."""
        async with self.pool.acquire() as conn:
            return (await self._user(conn, user_id))["id"]

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

    @staticmethod
    async def _owned_folder(conn: asyncpg.Connection, user_id: UUID, folder_id: Any) -> asyncpg.Record:
        return await _fetch_owned(folders.get_folder, conn, user_id, folder_id,
                                  FolderNotFoundError(f"Folder not found: {folder_id}"),
                                  lambda row: f"User can't access this folder: {folder_id}")

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
            uid = as_uuid(user_id, UserNotFoundError(f"User not found based on the given id: {user_id}"))
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
            folder = await self._owned_folder(conn, user["id"], folder_id)
            return bool(await folders.validated_picture_ids(conn, folder["id"]))

    async def _delete_folder(self, unit: Unit, user_id: UUID, folder: asyncpg.Record) -> None:
        if folder["is_default"]:
            raise DefaultFolderError("Can't delete the user's default folder")
        container = layout.container_name(user_id)
        for picture_id in await folders.picture_ids(unit.conn, folder["id"]):
            unit.delete_after_commit(container, layout.picture_blob(folder["name"], picture_id))
        unit.delete_after_commit(container, layout.marker_blob(folder["name"]))
        await folders.delete_folder(unit.conn, folder["id"])

    @_guard
    async def delete_directory_permanently(self, user_id: Any, folder_id: Any) -> bool:
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            folder = await self._owned_folder(unit.conn, user["id"], folder_id)
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
            folder = await self._owned_folder(unit.conn, user["id"], folder_id)
            await self._delete_folder(unit, user["id"], folder)
        return True

    @_guard
    async def delete_directory_with_archive(self, user_id: Any, folder_id: Any, dev_email: str | None) -> UUID:
        """Move the folder's validated pictures to the dev user's archive, delete the rest."""
        if not dev_email:
            raise DatastoreError("archiving is not configured (DEV_USER_EMAIL is not set)")
        async with self._unit() as unit:
            user = await self._user(unit.conn, user_id)
            folder = await self._owned_folder(unit.conn, user["id"], folder_id)
            if folder["is_default"]:
                raise DefaultFolderError("Can't delete the user's default folder")
            dev_id = await users.get_user_id_by_email(unit.conn, dev_email)
            if dev_id is None:
                raise UserNotFoundError(f"the archive user {dev_email} is not registered")
            validated = await folders.validated_picture_ids(unit.conn, folder["id"])
            archive_name = f"{user['id']}/{folder['name']}"
            archive = await folders.insert_folder(unit.conn, dev_id, archive_name, len(validated))
            if archive is None:
                raise FolderExistsError(f"the archive already holds a folder {archive_name}")
            src, dst = layout.container_name(user["id"]), layout.container_name(dev_id)
            await unit.put(
                dst, layout.marker_blob(archive_name), layout.marker_content(archive_name, folder["id"]),
                {"picture_set_uuid": str(folder["id"])},
            )
            for picture_id in validated:
                name = layout.picture_blob(archive_name, picture_id)
                data = await self.blobs.download(src, layout.picture_blob(folder["name"], picture_id))
                await unit.put(dst, name, data, layout.picture_tags(picture_id, archive["id"]))
                row = await pictures.get_picture(unit.conn, picture_id)
                metadata = dict(row["picture"]) if isinstance(row["picture"], dict) else {}
                await pictures.move_picture(unit.conn, picture_id, archive["id"], {**metadata, "link": name})
                unit.delete_after_commit(src, layout.picture_blob(folder["name"], picture_id))
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
            folder = await self._owned_folder(unit.conn, user["id"], folder_id)
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
            picture = await self._owned_picture(conn, user["id"], picture_id)
            row = await inferences.latest_inference_of_picture(conn, picture["id"])
            inference = await rebuild_inference(conn, row) if row else None
        folder = layout.folder_name(picture["folder_name"], picture["is_default"])
        data = await self.blobs.download(layout.container_name(user["id"]), layout.picture_blob(folder, picture["id"]))
        return inference, data

    @staticmethod
    async def _owned_picture(conn: asyncpg.Connection, user_id: UUID, picture_id: Any) -> asyncpg.Record:
        return await _fetch_owned(pictures.get_picture, conn, user_id, picture_id,
                                  PictureNotFoundError(f"Picture not found: {picture_id}"),
                                  lambda row: f"User can't access this picture: {picture_id}")

    async def _target_folder(self, conn, user: asyncpg.Record, folder_ref: Any) -> asyncpg.Record:
        """The user's folder named (or identified) by `folder_ref`, else the default "General"."""
        folder_id = await _folder_named(conn, user["id"], folder_ref)
        folder = await folders.get_folder(conn, folder_id) if folder_id else None
        if folder is None or folder["owner_id"] != user["id"]:
            folder = await folders.get_folder(conn, user["default_set_id"]) if user["default_set_id"] else None
        if folder is None:  # a user whose General folder was lost (possible in the original)
            created = await folders.insert_folder(conn, user["id"], layout.DEFAULT_FOLDER, 0)
            if created is None:
                raise FolderNotFoundError("the user has no default folder")
            await users.set_default_set(conn, user["id"], created["id"])
            folder = await folders.get_folder(conn, created["id"])
        return folder

    @_guard
    async def save_inference(
        self, user_id: Any, folder_ref: Any, image: bytes, result: dict, pipeline_id: UUID | None
    ) -> dict:
        """Store the picture, the inference, its boxes and their candidate seeds in one unit, and
        return `result` completed with the ids (spec §6.1). Nothing is written if any part fails.
        Ids are made here so every table is written in one batched statement."""
        boxes = result.get("boxes") or []
        async with self._unit() as unit:
            conn = unit.conn
            user = await self._user(conn, user_id)
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
    @staticmethod
    async def _owned_inference(conn: asyncpg.Connection, user_id: UUID, inference_id: Any) -> asyncpg.Record:
        return await _fetch_owned(inferences.get_inference_row, conn, user_id, inference_id,
                                  InferenceNotFoundError(f"Inference not found: {inference_id}"),
                                  lambda row: f"User can't access this picture: {row['picture_id']}")

    @_guard
    async def get_inference(self, user_id: Any, inference_id: Any) -> dict:
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            row = await self._owned_inference(conn, user["id"], inference_id)
            return await rebuild_inference(conn, row)

    async def _boxes_of(self, conn, inference_id: UUID, box_ids: list[Any]) -> list[asyncpg.Record]:
        found = []
        for box_id in box_ids:
            error = FeedbackError(f"Box not found in this inference: {box_id}")
            obj = await inferences.get_object(conn, as_uuid(box_id, error))
            if obj is None or obj["inference_id"] != inference_id:
                raise error
            found.append(obj)
        return found

    @_guard
    async def save_perfect_feedback(self, user_id: Any, inference_id: Any, box_ids: list[Any]) -> dict:
        """Confirm the listed boxes as the model labelled them; return the updated inference."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            row = await self._owned_inference(conn, user["id"], inference_id)
            if row["verified"]:
                raise FeedbackError(f"Can't add feedback to a verified inference, id: {row['id']}")
            jobs = []
            for obj in await self._boxes_of(conn, row["id"], box_ids):
                await inferences.verify_object(conn, obj["id"], obj["top_id"])
                seed_id = await inferences.seed_of_guess(conn, obj["top_id"])
                if seed_id is not None:
                    metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
                    jobs.append((row["picture_id"], seed_id, obj["id"], _stored_coordinates(metadata), "feedback"))
            await inferences.verify_inference_if_resolved(conn, row["id"], user["id"])
            await examples.enqueue(conn, jobs)
            return await rebuild_inference(conn, await inferences.get_inference_row(conn, row["id"]))

    @_guard
    async def save_annotated_feedback(self, user_id: Any, inference_id: Any, boxes: list[dict]) -> dict:
        """Apply the user's corrections (relabel, move, delete, add boxes); return the inference."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            row = await self._owned_inference(conn, user["id"], inference_id)
            if row["verified"]:
                raise FeedbackError(f"Can't add feedback to a verified inference, id: {row['id']}")
            jobs = []
            for box in boxes:
                corrected = await self._correct_box(conn, row["id"], box)
                if corrected is not None:
                    object_id, seed_id, coordinates = corrected
                    jobs.append((row["picture_id"], seed_id, object_id, coordinates, "feedback"))
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
