"""The tasks, one per kind of background work (kernel/tasks.py): each parses its typed arguments
and calls its use case, which the worker hands in (`TaskHandlers`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from procrastinate import Blueprint, JobContext, RetryStrategy

from kernel.json_types import Json
from kernel.tasks import ClassifyPicture, LearnExamples
from usecases.inference import InferenceService
from usecases.learning import Learning

log = logging.getLogger("nachet.tasks")
tasks = Blueprint()
RETRY = RetryStrategy(max_attempts=3, wait=2, exponential_wait=2)


@dataclass(frozen=True)
class TaskHandlers:
    """The use cases the tasks call, handed to every task through the worker's context."""

    learning: Learning
    inference: InferenceService


def _handlers(context: JobContext) -> TaskHandlers:
    return context.additional_context["handlers"]


@tasks.task(name=LearnExamples.name, queue=LearnExamples.queue, pass_context=True, retry=RETRY)
async def learn_examples(context: JobContext, **args: Json) -> int:
    """Labelled pictures or verified boxes become classifier examples (one upload or feedback)."""
    return await _handlers(context).learning.learn(LearnExamples.model_validate(args))


@tasks.task(name=ClassifyPicture.name, queue=ClassifyPicture.queue, pass_context=True, retry=RETRY)
async def classify_picture(context: JobContext, **args: Json) -> None:
    """One picture of a classify-folder job: an inference saved exactly as /inf saves it, once."""
    await _handlers(context).inference.classify_job_picture(ClassifyPicture.model_validate(args))
