"""Background jobs users can see: classify-folder jobs and the learning progress of a labelled
batch import; and the shared cache of model results."""

from __future__ import annotations

import logging
from uuid import UUID, uuid4

from datastore.db import transaction
from datastore.queries import folder_jobs, folders, inferences, model_results, pictures, seeds, tasks
from kernel.errors import NotFoundError, NotOwnerError
from kernel.tasks import ClassifyPicture, LearnExamples

from . import messages as say
from .base import StorageBase, as_uuid, folder_named, guard
from .inference_rows import inference_rows, labels_of
from .tasks_queue import defer_many

log = logging.getLogger("storage")


CANCELLED = "cancelled"  # the error of an item cancelled before it started (folder_jobs.cancel)


def _no_job(job_id: object) -> NotFoundError:
    """No job (nor labelled batch import) has this id: 404, the resource is not there."""
    return NotFoundError(job_not_found(job_id), status=404)


def job_not_found(job_id: object) -> str:
    return f"Job not found based on the given id: {job_id}"


class Jobs(StorageBase):
    @guard
    async def create_folder_job(self, user_id: object, folder_ref: object, model_name: str) -> UUID:
        """A job classifying every picture of the user's folder (named or identified)."""
        async with transaction(self.pool) as conn:
            user = await self._user(conn, user_id)
            folder_id = await folder_named(conn, user["id"], folder_ref)
            if folder_id is None:
                raise NotFoundError(say.folder_not_found(folder_ref))
            if await folders.get_folder(conn, folder_id, "write") is None:
                raise NotFoundError(say.folder_not_found(folder_ref))
            job_id, pictures = await folder_jobs.create_job(conn, user["id"], folder_id, model_name)
            await defer_many(conn, [ClassifyPicture(job_id=job_id, picture_id=p) for p in pictures])
            return job_id

    @guard
    async def job_owner(self, job_id: object) -> UUID:
        """Whose job (or labelled batch import) this id names; NotFoundError if none."""
        error = _no_job(job_id)
        ident = as_uuid(job_id, error)
        async with self.pool.acquire() as conn:
            job = await folder_jobs.get_job(conn, ident)
            if job is not None:
                return job["user_id"]
            folder = await folders.get_folder(conn, ident)
        if folder is None:
            raise error
        return folder["owner_id"]

    @guard
    async def job_status(self, job_id: object) -> dict:
        """{status, done, total, failed, results} of a classify-folder job, or the learning
        progress of a labelled batch import (its session id)."""
        ident = as_uuid(job_id, _no_job(job_id))
        async with self.pool.acquire() as conn:
            job = await folder_jobs.get_job(conn, ident)
            if job is None:
                return await self._learning_status(conn, ident, job_id)
            rows = await folder_jobs.items(conn, ident)
        done = sum(1 for r in rows if r["finished_at"] is not None and r["error"] is None)
        cancelled = sum(1 for r in rows if r["error"] == CANCELLED)
        failed = sum(1 for r in rows if r["error"] is not None) - cancelled
        finished = done + failed + cancelled == len(rows)
        return {
            "job_id": str(ident),
            "kind": "classify-folder",
            "status": "cancelled" if job["cancelled"] and finished else "done" if finished else "running",
            "done": done,
            "failed": failed,
            "cancelled": cancelled,  # not started when the job was cancelled; apart from failures
            "total": len(rows),
            "results": [
                {"picture_id": str(r["picture_id"]), "inference_id": str(r["inference_id"])}
                if r["error"] is None
                else {"picture_id": str(r["picture_id"]), "error": r["error"]}
                for r in rows
                if r["finished_at"] is not None
            ],
        }

    async def _learning_status(self, conn, folder_id: UUID, job_id: object) -> dict:
        folder = await folders.get_folder(conn, folder_id)
        if folder is None:
            raise _no_job(job_id)
        # pictures throughout: those learned, and those whose label teaches nothing (no task)
        states = await tasks.learning_progress(conn, LearnExamples.name, str(folder_id))
        expected, uploaded = await folder_jobs.batch_size(conn, folder_id)
        in_tasks = sum(states.values())
        done = states.get("succeeded", 0) + max(0, uploaded - in_tasks)
        failed = states.get("failed", 0)
        total = max(expected or 0, uploaded, in_tasks)
        waiting = states.get("todo", 0) + states.get("doing", 0)
        return {
            "job_id": str(folder_id),
            "kind": "learning",
            "status": "running" if waiting or done + failed < total else "done",
            "done": done,
            "failed": failed,
            "cancelled": 0,
            "total": total,
            "results": [],
        }

    @guard
    async def cancel_folder_job(self, job_id: object) -> None:
        ident = as_uuid(job_id, _no_job(job_id))
        async with transaction(self.pool) as conn:
            if await folder_jobs.get_job(conn, ident) is None:
                raise _no_job(job_id)
            await folder_jobs.cancel(conn, ident, ClassifyPicture.name)

    @guard
    async def pending_job_item(self, job_id: str, picture_id: str) -> dict | None:
        """The job's model and state for this picture; None when it is already finished."""
        async with self.pool.acquire() as conn:
            row = await folder_jobs.unfinished_item(conn, UUID(job_id), UUID(picture_id))
        return dict(row) if row is not None else None

    @guard
    async def finish_job_item(self, job_id: str, picture_id: str, error: str) -> None:
        async with self.pool.acquire() as conn:
            await folder_jobs.finish_item(conn, UUID(job_id), UUID(picture_id), None, error)

    @guard
    async def save_job_inference(
        self, job_id: str, picture_id: str, result: dict, pipeline_id: UUID, image_dims: list[float]
    ) -> UUID | None:
        """The inference of one picture of a job, saved with its item in one transaction, as /inf
        saves it (boxes, guesses); None when the item was finished already (a retried task) or
        the picture is gone."""
        job, picture = UUID(job_id), UUID(picture_id)
        labels = [label for label in labels_of(result) if isinstance(label, str)]
        async with transaction(self.pool) as conn:
            item = await folder_jobs.pending_item(conn, job, picture)
            if item is None:
                return None
            row = await pictures.get_picture(conn, picture)
            if row is None or await folders.get_folder(conn, row["picture_set_id"], "write") is None:
                await folder_jobs.finish_item(conn, job, picture, None, "the picture was deleted")
                return None
            if row["owner_id"] != item["user_id"]:
                raise NotOwnerError(say.cannot_access_picture(item["user_id"], picture))
            found = await seeds.resolve_labels(conn, labels)
            rows = inference_rows(result, {label: seed["id"] for label, seed in found.items()}, image_dims)
            inference_id = uuid4()
            await inferences.insert_inference(
                conn,
                picture,
                inferences.NewInference(
                    inference_id, item["user_id"], pipeline_id, rows.summary, rows.objects, rows.guesses
                ),
            )
            await folder_jobs.finish_item(conn, job, picture, inference_id, None)
        return inference_id

    # -- model results ------------------------------------------------------------------------------------
    async def cached_result(self, digest: str, key: str) -> dict | None:
        try:
            async with self.pool.acquire() as conn:
                return await model_results.get(conn, digest, key)
        except Exception as error:  # a cache: never the reason a request fails
            log.warning("model result cache unavailable: %s", error)
            return None

    async def remember_result(self, digest: str, key: str, result: dict) -> None:
        try:
            async with self.pool.acquire() as conn:
                await model_results.put(conn, digest, key, result)
        except Exception as error:
            log.warning("model result not cached: %s", error)
