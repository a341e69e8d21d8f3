"""Pictures: labelled uploads, reading one back, and saving a picture with its inference."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypedDict
from uuid import UUID, uuid4

import asyncpg

from datastore.blob import BlobNotFound
from datastore.db import transaction
from datastore.queries import examples, folders, inferences, pictures, seeds, users
from kernel.errors import DatastoreError, NotFoundError, NotOwnerError, UserNotFoundError
from kernel.tasks import ExampleSource

from . import layout
from . import messages as say
from .base import StorageBase, as_uuid, fetch_owned, folder_reference, guard, sha256
from .inference_json import rebuild_inference
from .inference_rows import inference_rows, labels_of
from .seed_examples import enqueue_learning
from .seed_names import check_seed_name
from .unit import to_the_end

SaveRows = Callable[[dict, UUID | None, list[float] | None, str], Awaitable[dict]]
"""Writes an inference's rows, its picture uploaded: (result, pipeline id, imageDims, the
picture's sha256) -> answer."""


class Pictures(StorageBase):
    # -- pictures ------------------------------------------------------------------------------------
    @guard
    async def upload_pictures(
        self,
        user_id: object,
        folder_id: object,
        images: list[bytes],
        seed_name: str | None = None,
        seed_id: object = None,
        zoom_level: float | None = None,
        nb_seeds: int | None = None,
    ) -> list[UUID]:
        """Store labelled pictures (batch import): each is validated at once by its picture_seed row."""
        not_owner = say.not_folder_owner(user_id, folder_id)
        async with self.pool.acquire() as conn:
            user = await self._user(conn, user_id)
            folder = await self._owned_folder(
                conn, user, folder_id, not_found=say.UPLOAD_FAILED, not_owner=not_owner
            )
            seed = None
            if seed_id:
                error = DatastoreError(f"Seed not found: {seed_id}")
                seed = await seeds.get_seed(conn, as_uuid(seed_id, error))
                if seed is None:
                    raise error
            elif not seed_name:
                raise DatastoreError("a seed_name or a seed_id is required")
            else:
                check_seed_name(seed_name, "seed_name")
        container = layout.container_name(user["id"])
        folder_path = layout.folder_name(folder["name"], folder["is_default"])
        ids = [uuid4() for _ in images]
        metadata = {"nb_seeds": nb_seeds, "zoom": zoom_level, "description": "Uploaded through the API"}
        async with self._unit() as unit:
            for picture_id, image in zip(ids, images):
                tags = layout.picture_tags(picture_id, folder["id"])
                await unit.put(container, layout.picture_blob(folder_path, picture_id), image, tags)
            async with unit.rows() as conn:
                if await folders.get_folder(conn, folder["id"], "write") is None:  # deleted meanwhile
                    raise NotFoundError(say.UPLOAD_FAILED)
                seed = seed or await seeds.get_or_create_seed(conn, seed_name or "")
                for picture_id, image in zip(ids, images):
                    link = layout.picture_blob(folder_path, picture_id)
                    await pictures.insert_picture(
                        conn, folder["id"], sha256(image), {**metadata, "link": link}, picture_id
                    )
                    await pictures.insert_picture_seed(conn, picture_id, seed["id"])
                # labelled pictures teach the built-in classifier (processed after the commit)
                await enqueue_learning(
                    conn,
                    folder["id"],
                    [ExampleSource(picture_id=p, seed_id=seed["id"], source="upload") for p in ids],
                )
        return ids

    async def get_picture(self, user_id: object, picture_id: object) -> tuple[dict | None, bytes]:
        """The picture's latest inference (or None) and its bytes."""
        inference, data, _ = await self.picture_and_inference(user_id, picture_id)
        return inference, data

    async def annotation_source(
        self, user_id: object, picture_id: object
    ) -> tuple[dict, bytes, list[float] | None]:
        """The picture's latest inference, its bytes and the imageDims its boxes are in; a picture
        without an inference is not found."""
        inference, data, dims = await self.picture_and_inference(user_id, picture_id)
        if inference is None:
            raise NotFoundError(say.no_inference_for_picture(picture_id))
        return inference, data, dims

    @guard
    async def picture_and_inference(
        self, user_id: object, picture_id: object
    ) -> tuple[dict | None, bytes, list[float] | None]:
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            picture = await fetch_owned(
                pictures.get_picture,
                conn,
                user["id"],
                picture_id,
                say.picture_not_found(picture_id),
                say.cannot_access_picture(user_id, picture_id),
            )
            row = await inferences.latest_inference_of_picture(conn, picture["id"])
            inference = await rebuild_inference(conn, row) if row else None
            summary = row["inference"] if row and isinstance(row["inference"], dict) else {}
            dims = summary.get("imageDims") if isinstance(summary.get("imageDims"), list) else None
        folder = layout.folder_name(picture["folder_name"], picture["is_default"])
        try:
            data = await self.blobs.download(
                layout.container_name(user["id"]), layout.picture_blob(folder, picture["id"])
            )
        except BlobNotFound:  # deleted with its folder since the rows were read
            raise NotFoundError(say.picture_not_found(picture_id)) from None
        return inference, data, dims

    @guard
    async def example_source(self, example_id: int) -> tuple[UUID, bytes, dict | None]:
        """(owner's user id, picture bytes, crop as fractions or None) of a classifier example."""
        async with self.pool.acquire() as conn:
            row = await examples.example_source(conn, example_id)
        data = await self.picture_bytes(row["picture_id"]) if row is not None else None
        if row is None or data is None:
            raise NotFoundError(say.example_not_found(example_id), 404)
        return row["owner_id"], data, row["crop"]

    @guard
    async def picture_bytes(self, picture_id: UUID) -> bytes | None:
        """A stored picture's bytes, for background work; None when it is gone."""
        async with self.pool.acquire() as conn:
            picture = await pictures.get_picture(conn, picture_id)
        if picture is None:
            return None
        folder = layout.folder_name(picture["folder_name"], picture["is_default"])
        try:
            return await self.blobs.download(
                layout.container_name(picture["owner_id"]), layout.picture_blob(folder, picture["id"])
            )
        except BlobNotFound:  # deleted with its folder meanwhile
            return None

    @guard
    async def inference_target(
        self, user_id: object, folder_ref: object, validator: object = None
    ) -> InferenceTarget:
        """Where an /inf result will be saved, checked before any model is called: the user (else
        the original's "user not found" text), the folder `folder_ref` names (another user's id
        is refused), and whether the picture went through /image-validation."""
        async with self.pool.acquire() as conn:
            return await self._find_target(conn, user_id, folder_ref, validator)

    async def _find_target(
        self, conn, user_id: object, folder_ref: object, validator: object = None
    ) -> InferenceTarget:
        """`inference_target`, in one round trip: the user's folder named (or identified) by
        `folder_ref`, else the default "General"; None when the default must be made again (a
        user who lost it, as the original allowed)."""
        error = UserNotFoundError(say.INFERENCE_USER_UNKNOWN)
        folder_id, name = folder_reference(folder_ref)
        digest = validator if isinstance(validator, str) else None
        folder: TargetFolder | None
        row = await folders.inference_target(conn, as_uuid(user_id, error), folder_id, name, digest)
        if row is None:
            raise error
        if row["named_id"] is not None:
            is_default = row["named_id"] == row["default_id"]
            folder = {"id": row["named_id"], "name": row["named_name"], "is_default": is_default}
        elif row["foreign"]:
            raise NotOwnerError(say.not_folder_owner(row["id"], folder_ref))
        elif row["default_id"] is not None:
            folder = {"id": row["default_id"], "name": row["default_name"], "is_default": True}
        else:
            folder = None
        return InferenceTarget(row, folder, row["validated"])

    @staticmethod
    async def _default_folder_again(conn, user: asyncpg.Record) -> asyncpg.Record:
        """The user's default folder, made again (it was deleted by hand)."""
        async with conn.transaction():
            created = await folders.insert_folder(conn, user["id"], layout.DEFAULT_FOLDER, 0)
            if created is None:
                raise NotFoundError("the user has no default folder")
            await users.set_default_set(conn, user["id"], created["id"])
        return await folders.get_folder(conn, created["id"])

    @guard
    async def save_inference(
        self,
        user_id: object,
        folder_ref: object,
        image: bytes,
        result: dict,
        pipeline_id: UUID | None,
        image_dims: list[float] | None = None,
        target: InferenceTarget | None = None,
        digest: str | None = None,
    ) -> dict:
        """Store the picture, the inference, its boxes and their candidate seeds in one unit, and
        return a copy of `result` completed with the ids (spec §6.1). Nothing is written if any
        part fails; `image_dims` (the units of the boxes) is kept to map feedback boxes back.
        `target` (from `inference_target`) saves looking the user and folder up again, `digest`
        (the picture's sha256) hashing it again."""
        if target is None or target.folder is None:  # looked up (again: the folder may be back)
            async with self.pool.acquire() as conn:
                target = await self._find_target(conn, target.user["id"] if target else user_id, folder_ref)
                folder = target.folder or await self._default_folder_again(conn, target.user)
        else:
            folder = target.folder
        async with self._uploading(target.user, folder, folder_ref, image) as save:
            return await save(result, pipeline_id, image_dims, digest or sha256(image))

    @asynccontextmanager
    async def saving_inference(
        self, target: InferenceTarget, folder_ref: object, image: bytes
    ) -> AsyncIterator[SaveRows]:
        """/inf's save, begun before its models answer: the picture is uploaded while they work
        (the blob store's round trip then costs the caller nothing), and `save(result,
        pipeline_id, image_dims, digest)` writes the rows once they answered. If the models fail,
        the blob goes with the failed unit, as a failed save's always did."""
        if target.folder is None:  # the default folder is made again when saving: no name yet

            async def save_later(
                result: dict, pipeline_id: UUID | None, image_dims: list[float] | None, digest: str
            ) -> dict:
                return await self.save_inference(
                    target.user["id"], folder_ref, image, result, pipeline_id, image_dims, target, digest
                )

            yield save_later
            return
        async with self._uploading(target.user, target.folder, folder_ref, image) as save:
            yield guard(save)  # a lost lock conflict retries the statement: the blob stays

    @asynccontextmanager
    async def _uploading(
        self, user: asyncpg.Record, folder: TargetFolder | asyncpg.Record, folder_ref: object, image: bytes
    ) -> AsyncIterator[SaveRows]:
        """A unit whose picture upload starts now, and the function that writes its rows."""
        picture_id = uuid4()
        name = layout.picture_blob(layout.folder_name(folder["name"], folder["is_default"]), picture_id)
        tags = layout.picture_tags(picture_id, folder["id"])
        async with self._unit() as unit:
            upload = asyncio.ensure_future(unit.put(layout.container_name(user["id"]), name, image, tags))

            async def save(
                result: dict, pipeline_id: UUID | None, image_dims: list[float] | None, digest: str
            ) -> dict:
                labels = [label for label in labels_of(result) if isinstance(label, str)]
                metadata = {"link": name, "description": "Uploaded through the API"}
                for remembered in (True, False):
                    found = await self.seed_names.resolve(self.pool, labels)
                    seed_ids = {label: seed["id"] for label, seed in found.items()}
                    rows = inference_rows(result, seed_ids, image_dims)
                    inference = inferences.NewInference(
                        uuid4(), user["id"], pipeline_id, rows.summary, rows.objects, rows.guesses
                    )
                    await upload  # its failure is the save's; the picture is stored before a row names it

                    async def insert(inference=inference) -> bool:
                        async with self.pool.acquire() as conn:  # one statement: its own transaction
                            saved = await inferences.insert_picture_with_inference(
                                conn, folder["id"], picture_id, digest, metadata, inference
                            )
                        if saved:
                            unit.keep()  # the rows name the blob now: it stays whatever follows
                        return saved

                    try:
                        # a client that hangs up now no longer undoes it: the save ends, whole
                        saved = await to_the_end(insert(), f"inference {inference.id}")
                        break
                    except asyncpg.ForeignKeyViolationError:
                        if not remembered:
                            raise
                        self.seed_names.forget()  # a seed removed by hand since: looked up again
                if not saved:  # the folder was deleted meanwhile: its blob goes with the failed unit
                    raise NotFoundError(say.folder_not_found(folder_ref))
                return {
                    **rows.response,
                    "inference_id": str(inference.id),
                    "pipeline_id": str(pipeline_id) if pipeline_id else None,
                }

            try:
                yield save
            finally:  # a failed unit removes the blob: the upload must be over (stored or not) first
                with contextlib.suppress(BaseException):
                    await upload


class TargetFolder(TypedDict):
    """The folder an /inf result goes to (a row of `folders.get_folder` has these columns too)."""

    id: UUID
    name: str
    is_default: bool


@dataclass(frozen=True)
class InferenceTarget:
    """Who and where an /inf result is saved for, looked up once before the models run."""

    user: asyncpg.Record  # id, email, default_set_id
    folder: TargetFolder | None  # None: the default is made again when saving
    validated: bool = False  # the picture went through /image-validation
