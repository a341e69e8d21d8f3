"""Background work as typed values. Storage defers a task in the transaction of the rows it is
about (`storage.tasks_queue.defer`); tasks/ runs it by calling its use case with the value back.
A task is named here once; nobody else spells its name."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel

from .json_types import JsonObject


class Task(BaseModel):
    name: ClassVar[str]  # the task engine's name for it
    queue: ClassVar[str]

    def args(self) -> JsonObject:
        """Its arguments as the task engine stores them (JSON)."""
        return self.model_dump(mode="json")


class ExampleSource(BaseModel):
    """A labelled picture (a batch upload; no object, no box) or a verified box that teaches."""

    picture_id: UUID
    seed_id: UUID
    object_id: UUID | None = None
    box: dict[str, object] | None = None  # the box in the picture's imageDims, with them
    source: str  # "upload" or "feedback"


class LearnExamples(Task):
    """Turn these labelled pictures or boxes into the built-in classifier's examples."""

    name: ClassVar[str] = "learn_examples"
    queue: ClassVar[str] = "learning"
    folder: UUID | None
    sources: list[ExampleSource]


class ClassifyPicture(Task):
    """One picture of a classify-folder job: an inference saved as /inf saves it, once."""

    name: ClassVar[str] = "classify_picture"
    queue: ClassVar[str] = "classify"
    job_id: UUID
    picture_id: UUID
