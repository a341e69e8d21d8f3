"""What the routes answer, as published in /openapi.json (the handlers build plain dicts: these
models describe them; extra keys are allowed, as clients of the original ignore them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


ENVELOPE_SCHEMA: dict[str, object] = {
    "type": "array",
    "items": {"type": "string"},
    "minItems": 1,
    "maxItems": 1,
    "description": 'The original\'s error envelope: ["<prefix> <context> : <message>"]',
}


class UserId(Open):
    user_id: str


class SessionId(Open):
    session_id: str


class FolderPicture(Open):
    picture_id: str
    is_validated: bool
    inference_exist: bool


class Folder(Open):
    picture_set_id: str
    folder_name: str | None
    nb_pictures: int
    pictures: list[FolderPicture]


class Directories(Open):
    folders: list[Folder]


class Measurements(Open):
    unit: Literal["px", "mm"]
    area: float
    length: float
    width: float
    perimeter: float
    roundness: float
    mean_color: str


class Evidence(Open):
    example_id: int
    picture_id: str
    label: str
    similarity: float = Field(description="cosine similarity of the seed to the example, -1 to 1")


class Box(Open):
    box: dict[str, float]
    label: str
    score: float
    topN: list[dict[str, object]] = []
    genus: list[dict[str, object]] = Field([], description="topN summed per genus of the seed catalogue")
    family: list[dict[str, object]] = Field([], description="topN summed per family")
    measurements: Measurements | None = None
    prediction_set: list[str] = Field(
        [],
        description="built-in classifier: the labels, best first, that hold the true one with probability "
        "NACHET_PREDICTION_SET_LEVEL ('Unknown seed' among them when the seed may be of an untaught species)",
    )
    evidence: list[Evidence] = Field([], description="built-in classifier: the caller's nearest examples")


class Inference(Open):
    boxes: list[Box]
    inference_id: str | None = None
    totalBoxes: int | None = None
    models: list[dict[str, object]] = []
    classifier_version: str | None = Field(
        None,
        description="built-in classifier: the examples that answered ('+private': the caller's pending too)",
    )


class Picture(Open):
    picture_id: object  # as the request sent it
    inference: dict[str, object] | None
    image: str = Field(description="the picture as a data URL")


class Seeds(Open):
    seeds: list[dict[str, object]]


class JobStarted(Open):
    job_id: str


class JobStatus(Open):
    job_id: str
    kind: Literal["classify-folder", "learning"]
    status: Literal["running", "done", "cancelled"]
    done: int
    failed: int
    cancelled: int = Field(0, description="pictures cancelled before they were classified (not failures)")
    total: int
    results: list[dict[str, object]]


class Ready(Open):
    ready: bool
    failing: dict[str, str] = Field(description="each failing part and why")
    default_pipeline: str | None = None


class Version(Open):
    version: str
    commit: str | None
    schema_: str | None = Field(alias="schema")
    pipelines: list[dict[str, object]]
    classifier_version: str = Field(
        "", description="the shared built-in classifier's version ('' without examples)"
    )
    learning: Literal["open", "reviewed"] = "open"


STRINGS: dict[str, object] = {"type": "array", "items": {"type": "string"}}
STRINGS_OR_TRUE: dict[str, object] = {"type": "array", "items": {"type": ["string", "boolean"]}}
