"""Inferences and the user's feedback on them: confirm, relabel, move, delete and add boxes."""

from __future__ import annotations

import math
from uuid import UUID

import asyncpg

from datastore.db import transaction
from datastore.queries import folders, inferences, seeds
from kernel.errors import DatastoreError, NotFoundError, NotOwnerError
from kernel.tasks import ExampleSource

from . import messages as say
from .base import StorageBase, as_uuid, guard
from .inference_json import rebuild_inference
from .seed_examples import enqueue_learning
from .seed_names import check_seed_name


class Feedback(StorageBase):
    # -- inferences and feedback ---------------------------------------------------------------------
    async def _inference_for_feedback(
        self, conn, user_id: object, inference_id: object, verified_message: str
    ) -> tuple[asyncpg.Record, asyncpg.Record]:
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
            raise DatastoreError(verified_message)
        return user, row

    @guard
    async def get_inference(self, user_id: object, inference_id: object) -> dict:
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            return await rebuild_inference(
                conn, await self._owned_inference(conn, user, user_id, inference_id)
            )

    @staticmethod
    async def _owned_inference(
        conn, user: asyncpg.Record, user_ref: object, inference_id: object
    ) -> asyncpg.Record:
        error = NotFoundError(say.inference_not_found(inference_id))
        row = await inferences.get_inference_row(conn, as_uuid(inference_id, error))
        if row is None:
            raise error
        if row["owner_id"] != user["id"]:  # the original checks the picture's owner
            raise NotOwnerError(say.cannot_access_picture(user_ref, row["picture_id"]))
        return row

    async def _boxes_of(self, conn, inference_id: UUID, box_ids: list[object]) -> list[asyncpg.Record]:
        found = []
        for box_id in box_ids:
            error = DatastoreError(say.box_not_found(box_id))
            obj = await inferences.get_object(conn, as_uuid(box_id, error))
            if obj is None or obj["inference_id"] != inference_id:
                raise error
            found.append(obj)
        return found

    @guard
    async def save_perfect_feedback(
        self, user_id: object, inference_id: object, box_ids: list[object]
    ) -> dict:
        """Confirm the listed boxes as the model labelled them; return the updated inference."""

        async def confirm(conn, row) -> list:
            return [await self._confirm(conn, obj) for obj in await self._boxes_of(conn, row["id"], box_ids)]

        return await self._feedback(user_id, inference_id, say.verified_inference(inference_id), confirm)

    @guard
    async def save_annotated_feedback(self, user_id: object, inference_id: object, boxes: list[dict]) -> dict:
        """Apply the user's corrections (relabel, move, delete, add boxes); return the inference."""

        async def correct(conn, row) -> list:
            return [await self._correct_box(conn, row["id"], box) for box in boxes]

        return await self._feedback(user_id, inference_id, say.already_verified(inference_id), correct)

    async def _feedback(self, user_id: object, inference_id: object, verified_message: str, apply) -> dict:
        """One feedback in one transaction: `apply(conn, inference)` changes the boxes and answers
        (object id, seed id, coordinates) for each box that now names a seed (those teach the
        classifier); then the inference is verified if every box is resolved."""
        async with transaction(self.pool) as conn:
            user, row = await self._inference_for_feedback(conn, user_id, inference_id, verified_message)
            dims = _image_dims(row)
            labelled = [box for box in await apply(conn, row) if box is not None]
            sources = [
                ExampleSource(
                    picture_id=row["picture_id"],
                    seed_id=seed,
                    object_id=obj,
                    box=_job_box(coordinates, dims),
                    source="feedback",
                )
                for obj, seed, coordinates in labelled
            ]
            await inferences.verify_inference_if_resolved(conn, row["id"], user["id"])
            await enqueue_learning(conn, row["folder_id"], sources)
            return await rebuild_inference(conn, await inferences.get_inference_row(conn, row["id"]))

    async def _confirm(self, conn, obj: asyncpg.Record) -> tuple | None:
        """Confirm one box as labelled; (object id, seed id, coordinates) when it names a seed."""
        await inferences.verify_object(conn, obj["id"], obj["top_id"])
        seed_id = await inferences.seed_of_guess(conn, obj["top_id"])
        if seed_id is None:
            return None
        metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
        return obj["id"], seed_id, _stored_coordinates(metadata)

    async def _seed_of(self, conn, box: dict) -> asyncpg.Record | None:
        """The seed a corrected box names by classId or label (a new label joins the catalogue)."""
        class_id, label = box.get("classId") or "", box.get("label") or ""
        if class_id:
            error = DatastoreError(f"Seed not found: {class_id}")
            seed = await seeds.get_seed(conn, as_uuid(class_id, error))
            if seed is None:
                raise error
            return seed
        if label:
            return await seeds.get_or_create_seed(conn, check_seed_name(label, "a box label"))
        return None

    async def _correct_box(self, conn, inference_id: UUID, box: dict) -> tuple | None:
        """Apply one corrected box; (object id, seed id, coordinates) when it now names a seed."""
        coordinates = _box_coordinates(box.get("box"))
        seed = await self._seed_of(conn, box)
        if box.get("boxId") in ("", None):
            if seed is None:
                raise DatastoreError("a new box needs a label or a classId")
            color = box.get("color") or "#000000"
            if not isinstance(color, str):  # stored as sent: NaN failed the JSON column
                raise DatastoreError("a box color must be a string")
            metadata: dict[str, object] = {
                "box": coordinates,
                "color": color,
                "overlapping": False,
                "overlappingIndices": [],
            }
            object_id = await inferences.insert_object(conn, inference_id, metadata, manual=True)
            guess = await inferences.insert_seed_obj(conn, seed["id"], object_id, 0.0)
            await inferences.set_top(conn, object_id, guess)
            await inferences.verify_object(conn, object_id, guess)
            return object_id, seed["id"], coordinates
        (obj,) = await self._boxes_of(conn, inference_id, [box["boxId"]])
        if obj["verified_id"] is not None:
            raise DatastoreError(f"Object {obj['id']} is already verified")
        metadata = obj["box_metadata"] if isinstance(obj["box_metadata"], dict) else {}
        if coordinates != _stored_coordinates(metadata):
            await inferences.set_box_metadata(conn, obj["id"], {**metadata, "box": coordinates})
        if seed is None:  # neither label nor classId: the user deleted this box
            await inferences.verify_object(conn, obj["id"], None, valid=False)
            return None
        guess = await inferences.find_seed_obj(
            conn, obj["id"], seed["id"]
        ) or await inferences.insert_seed_obj(conn, seed["id"], obj["id"], 0.0)
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


def _stored_coordinates(metadata: dict) -> dict | None:
    """The stored box (or a legacy bare box the original wrote on coordinate edits)."""
    try:
        return _box_coordinates(metadata.get("box", metadata))
    except DatastoreError:
        return None


def _box_coordinates(box: object) -> dict:
    if not isinstance(box, dict):
        raise DatastoreError("a box needs its coordinates: topX, topY, bottomX, bottomY")
    try:
        coordinates = {k: float(box[k]) for k in ("topX", "topY", "bottomX", "bottomY")}
    except (KeyError, TypeError, ValueError):
        coordinates = {}
    if not coordinates or not all(math.isfinite(c) for c in coordinates.values()):  # NaN: not JSON's
        raise DatastoreError("a box needs numeric coordinates: topX, topY, bottomX, bottomY")
    return coordinates
