"""The tasks. Each receives the process's services through the worker's context."""

from __future__ import annotations

import logging

from procrastinate import Blueprint, JobContext, RetryStrategy

log = logging.getLogger("nachet.tasks")
tasks = Blueprint()
RETRY = RetryStrategy(max_attempts=3, wait=2, exponential_wait=2)


def _services(context: JobContext):
    return context.additional_context["services"]


@tasks.task(name="learn_examples", queue="learning", pass_context=True, retry=RETRY)
async def learn_examples(context: JobContext, folder: str | None, sources: list[dict]) -> int:
    """Labelled pictures or verified boxes become classifier examples (one upload or feedback)."""
    return await _services(context).learner.learn(sources, folder)


@tasks.task(name="classify_picture", queue="classify", pass_context=True, retry=RETRY)
async def classify_picture(context: JobContext, job_id: str, picture_id: str) -> None:
    """One picture of a classify-folder job: an inference saved exactly as /inf saves it, once."""
    await _services(context).inference.classify_job_picture(job_id, picture_id)
