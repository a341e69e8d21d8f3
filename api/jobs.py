"""Background jobs a client can submit and watch: classify a whole folder, and the learning
progress of a labelled batch import (GET /jobs/<session_id>)."""

from __future__ import annotations

from uuid import UUID

from quart import Blueprint, jsonify

from .access import audited, require_acting_for, touched
from .envelope import context
from .extension import services
from .openapi import UUID_STRING, documented
from .request_models import ClassifyFolderBody, parse
from .response_models import JobStarted, JobStatus

jobs = Blueprint("jobs", __name__)


@jobs.post("/jobs/classify-folder")
@documented(
    "Classify every picture of a folder in the background",
    body=ClassifyFolderBody,
    answer=JobStarted,
    status=202,
)
@context("creating a classification job", "Error creating a classification job")
@audited
async def classify_folder():
    body = await parse(ClassifyFolderBody, pipelines=services().pipelines)
    job_id = await services().storage.create_folder_job(body.container_name, body.folder, body.model_name)
    touched(job=job_id)
    return jsonify({"job_id": str(job_id)}), 202


@jobs.get("/jobs/<uuid:job_id>")  # any other text: not a job (404), nor /jobs/classify-folder
@documented(
    "A job's progress (a classify-folder job, or a batch import's learning)",
    answer=JobStatus,
    errors=(404,),
    path={"job_id": UUID_STRING},
)
@context("retrieving the job", "Error retrieving the job")
async def job_status(job_id: UUID):
    require_acting_for(await services().storage.job_owner(job_id), f"job {job_id}")
    return jsonify(await services().storage.job_status(job_id))


@jobs.post("/jobs/<uuid:job_id>/cancel")
@documented(
    "Cancel a classify-folder job (pictures done stay done)",
    answer=JobStatus,
    errors=(404,),
    path={"job_id": UUID_STRING},
)
@context("cancelling the job", "Error cancelling the job")
@audited
async def cancel_job(job_id: UUID):
    require_acting_for(await services().storage.job_owner(job_id), f"job {job_id}")
    touched(job=job_id)
    await services().storage.cancel_folder_job(job_id)
    return jsonify(await services().storage.job_status(job_id))
