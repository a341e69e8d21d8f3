"""One pydantic model per route body (spec §4). `parse(Model)` reads the body and raises the
original's messages in the original's order: presence first, then each value in field order.

Ids stay whatever JSON the client sent (`Text`): the original accepted any value there and the
storage answers an unknown or malformed id with its own message, printing the id as sent.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from kernel.errors import ServiceError
from model_inference.postprocess import PALETTES, check_color_format

from .access import noted, require_acting_for
from .json_body import json_body, object_body

MAX_ID = 2**63 - 1  # a bigserial id: anything larger names nothing
MAX_IMAGE_DIM = 100_000  # each side of imageDims: any canvas a client draws on, far from 1e308
# a file name, maybe after a folder path (kept: the name after the last / or \\)
FILENAME = {"type": "string", "pattern": r"^(?:[^/\\]*[/\\])*[^/\\\x00-\x1f]{1,255}$"}
BAD_DIMS = f"imageDims must be two positive numbers of at most {MAX_IMAGE_DIM}: [width, height]"
Text = Annotated[object, WithJsonSchema({"type": "string"})]  # whatever JSON the client sent there
Given = Annotated[object, WithJsonSchema({"type": "string", "minLength": 1})]  # a required one: not ""
Number = Annotated[object, WithJsonSchema({"type": "number"})]
B = TypeVar("B", bound="Body")


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    required: ClassVar[tuple[str, ...]] = ()  # keys whose values must be truthy...
    missing: ClassVar[str] = ""  # ...else this message
    any_json: ClassVar[bool] = False  # read like get_json() (null reaches the checks), not data.get()
    acts_for: ClassVar[str | None] = "container_name"  # the field naming whose data this is
    required_unsecured: ClassVar[tuple[str, ...]] = ()  # published as required when unsecured

    @model_validator(mode="before")
    @classmethod
    def _present(cls, raw: Any) -> Any:
        if cls.required and not all(raw.get(key) for key in cls.required):
            raise ServiceError(cls.missing)
        return raw


async def parse(model: type[B], **context: object) -> B:
    """The validated body; in secured mode, refused (403) unless the caller may act for the
    user it names."""
    raw = await json_body() if model.any_json else await object_body()
    body = model.model_validate(raw, context=context)
    noted(body)
    if model.acts_for is not None:
        require_acting_for(getattr(body, model.acts_for))
    return body


def keys_present(raw: object, keys: tuple[str, ...], message: str) -> None:
    """`key in body` as the original tested it: a null or number body fails with Python's words."""
    if raw is None or isinstance(raw, (int, float, bool)):
        raise ServiceError(f"argument of type '{type(raw).__name__}' is not iterable")
    if not all(isinstance(raw, dict) and key in raw for key in keys):
        raise ServiceError(message)


def known_pipeline(cls, name: object, info: ValidationInfo) -> object:
    """A pipeline of the registry (`pipelines=` in the context); without a name, the default."""
    pipelines = (info.context or {})["pipelines"]
    if name is None and pipelines.default is not None:
        return pipelines.default.name
    if pipelines.get(name) is None:
        raise ServiceError(f"model {name} not found")
    return name


# -- users, seeds, images ------------------------------------------------------------------------------
class UserIdBody(Body):
    acts_for = None
    email: Text = None  # read only when NACHET_ENV=local


class ImageBody(Body):
    acts_for = None
    required = ("image",)
    missing = "Missing image"
    image: Given


# -- folders ----------------------------------------------------------------------------------------------
class CreateDirBody(Body):
    required = ("container_name", "folder_name")
    missing = "missing container or directory name"
    container_name: Given
    folder_name: Given


class DirectoriesBody(Body):
    required = ("container_name",)
    missing = "Missing container name"
    container_name: Given


class FolderBody(Body):
    """The deletion routes: a user and a folder id."""

    required = ("container_name", "folder_uuid")
    missing = "missing container or directory name"
    container_name: Given
    folder_uuid: Given


class DeletePermanentlyBody(FolderBody):
    missing = "missing container name or directory id"


class DelBody(Body):
    required = ("container_name", "folder_name")
    missing = "missing container or directory name"
    container_name: Given
    folder_name: Annotated[str, WithJsonSchema({"type": "string", "minLength": 1})]  # a name, or an id

    @field_validator("folder_name", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ServiceError(cls.missing)
        return value


class BatchImportBody(Body):
    any_json = True
    container_name: Given
    nb_pictures: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1})]
    folder_name: Text = None

    @model_validator(mode="before")
    @classmethod
    def _arguments(cls, raw: Any) -> Any:
        keys_present(
            raw,
            ("container_name", "nb_pictures"),
            "missing request arguments: either container_name or nb_pictures is missing",
        )
        count = raw["nb_pictures"]
        if (
            not raw["container_name"] or not isinstance(count, int) or count <= 0
        ):  # True passes, as in the original
            raise ServiceError("wrong request arguments: either container_name or nb_pictures is wrong")
        return {**raw, "nb_pictures": int(count), "folder_name": raw.get("folder_name") or None}


# -- pictures ---------------------------------------------------------------------------------------------
class PictureBody(Body):
    required = ("container_name", "picture_id")
    missing = "Missing container name"
    container_name: Given
    picture_id: Given


class UploadBody(Body):
    model_config = ConfigDict(  # a seed by name or by id: one of them given
        json_schema_extra={
            "anyOf": [
                {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
                for key in ("seed_name", "seed_id")
            ]
        }
    )
    missing = "missing request arguments: either seed_name, session_id, container_name or image is missing"
    container_name: Given
    session_id: Given
    image: Given
    seed_name: Text = None
    seed_id: Text = None
    zoom_level: Number = None
    nb_seeds: Number = None

    @model_validator(mode="before")
    @classmethod
    def _present(cls, raw: Any) -> Any:
        if not all(
            (
                raw.get("container_name"),
                raw.get("seed_name") or raw.get("seed_id"),
                raw.get("image"),
                raw.get("session_id"),
            )
        ):
            raise ServiceError(cls.missing)
        return raw

    @field_validator("zoom_level", "nb_seeds")
    @classmethod
    def _number(cls, value: object) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ServiceError("zoom_level and nb_seeds must be numbers")  # NaN, Infinity: not JSON's
        return value


# -- feedback ---------------------------------------------------------------------------------------------
class FeedbackBody(Body):
    any_json = True
    acts_for = "userId"
    box_keys: ClassVar[tuple[str, ...]] = ("boxId",)
    box_message: ClassVar[str] = "missing request arguments: boxId is missing in boxes"
    userId: Given
    inferenceId: Given
    boxes: Annotated[
        list[dict],
        WithJsonSchema({"type": "array", "minItems": 1, "items": {"type": "object", "required": ["boxId"]}}),
    ]

    @model_validator(mode="before")
    @classmethod
    def _arguments(cls, raw: Any) -> Any:
        keys_present(
            raw,
            ("userId", "inferenceId", "boxes"),
            "missing request arguments: either userId, inferenceId or boxes is missing",
        )
        boxes = raw["boxes"]
        if boxes is None:
            raise ServiceError("'NoneType' object is not iterable")
        if not isinstance(boxes, list):
            raise ServiceError("boxes must be a list")
        if not all(isinstance(box, dict) and set(cls.box_keys) <= box.keys() for box in boxes):
            raise ServiceError(cls.box_message)
        if not cls._given(raw):
            raise ServiceError("missing argument(s)")
        return raw

    @classmethod
    def _given(cls, raw: dict) -> bool:
        return bool(raw["userId"] and raw["inferenceId"] and [box["boxId"] for box in raw["boxes"]])

    @property
    def box_ids(self) -> list[object]:
        return [box["boxId"] for box in self.boxes]


class CorrectionBody(FeedbackBody):
    boxes: Annotated[  # may be empty: nothing corrected
        list[dict],
        WithJsonSchema(
            {
                "type": "array",
                "items": {"type": "object", "required": ["boxId", "label", "classId", "box"]},
            }
        ),
    ]
    box_keys = ("boxId", "label", "classId", "box")
    box_message = "missing request arguments: either boxId, label, box or classId is missing in boxes"

    @classmethod
    def _given(cls, raw: dict) -> bool:
        return bool(raw["userId"] and raw["inferenceId"])


# -- inference --------------------------------------------------------------------------------------------
class InferenceBody(Body):
    """`/inf`; parsed with `pipelines=` the registry, as the original checked the model second."""

    required = ("folder_name", "container_name", "imageDims", "image")
    missing = "missing request arguments: either folder_name, container_name, imageDims or image is missing"
    model_name: Text = Field(None, validate_default=True)
    image_dims: Annotated[
        object,
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 2,
                "maxItems": 2,
                "items": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_IMAGE_DIM},
            }
        ),
    ] = Field(alias="imageDims")
    area_ratio: Annotated[object, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})] = 0.5
    color_format: Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(PALETTES)})] = Field(
        "hex", validate_default=True
    )
    image: Given
    folder_name: Given
    container_name: Given
    validator: Text = None
    pixels_per_mm: Annotated[object, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})] = None
    # a microscope named in NACHET_DEVICE_PIXELS_PER_MM: its calibration
    device: Annotated[object, WithJsonSchema({"type": "string", "minLength": 1})] = None
    filename: Annotated[object, WithJsonSchema(FILENAME)] = None  # the picture's own name, kept
    # with it (else a name from its sha256)

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(FILENAME["pattern"], value):
            raise ServiceError("filename must be a file name of at most 255 characters")
        return re.split(r"[/\\]", value)[-1]

    @field_validator("device")
    @classmethod
    def _device(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ServiceError("device must be the name of a calibrated microscope")
        return value

    @field_validator("pixels_per_mm")
    @classmethod
    def _scale(cls, value: object) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ServiceError("pixels_per_mm must be a positive number")
        return float(value)

    _known_pipeline = field_validator("model_name")(known_pipeline)

    @field_validator("image_dims")
    @classmethod
    def _dims(cls, dims: object) -> list[float]:
        if not (
            isinstance(dims, list)
            and len(dims) == 2
            and all(
                isinstance(d, (int, float)) and not isinstance(d, bool) and 0 < d <= MAX_IMAGE_DIM
                for d in dims
            )
        ):
            raise ServiceError(BAD_DIMS)
        return dims

    @field_validator("area_ratio")
    @classmethod
    def _ratio(cls, ratio: object) -> float:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ServiceError("area_ratio must be a number between 0 and 1")
        return ratio

    @field_validator("color_format", mode="before")
    @classmethod
    def _palette(cls, color_format: Any) -> str:
        check_color_format(color_format)
        return color_format


# -- jobs -------------------------------------------------------------------------------------------------
class ClassifyFolderBody(Body):
    """`/jobs/classify-folder`; parsed with `pipelines=` the registry. Without `model_name`, the
    default pipeline."""

    required = ("container_name", "folder")
    missing = "missing request arguments: either container_name or folder is missing"
    container_name: Given
    folder: Given
    model_name: Text = Field(None, validate_default=True)

    _known_pipeline = field_validator("model_name")(known_pipeline)


# -- examples (reviewed learning) -------------------------------------------------------------------------
class ReviewBody(Body):
    """`/examples/accept` and `/examples/reject`: the examples, by ids, by their user's email or by
    batch (its session id); exactly one. `force` (accept): active even if the gate holds it."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [  # exactly one of them given, not null
                {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
                {"required": ["user"], "properties": {"user": {"type": "string"}}},
                {"required": ["batch"], "properties": {"batch": {"type": "string"}}},
            ]
        }
    )
    acts_for: ClassVar[str | None] = None  # a verifier acts for everyone
    ids: Annotated[
        list[int] | None,
        WithJsonSchema(
            {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        ),
    ] = None
    user: Annotated[str | None, WithJsonSchema({"type": "string", "pattern": r"\S"})] = None
    batch: Annotated[UUID | None, WithJsonSchema({"type": "string", "format": "uuid"})] = None
    force: bool = False

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, raw: Any) -> Any:
        ids, user, batch = raw.get("ids"), raw.get("user"), raw.get("batch")
        if sum(x is not None for x in (ids, user, batch)) != 1:
            raise ServiceError("name the examples by ids, by user or by batch (one of them)")
        if ids is not None:
            if not isinstance(ids, list) or not ids or not all(_an_id(i) for i in ids):
                raise ServiceError("ids must be a non-empty list of example ids (positive integers)")
            raw = {**raw, "ids": [int(i) for i in ids]}  # 7.0 is JSON's integer 7 too
        if user is not None and (not isinstance(user, str) or not user.strip()):
            raise ServiceError("user must be a user's email")
        if batch is not None:
            try:
                UUID(str(batch))
            except ValueError:
                raise ServiceError(f"batch must be a batch's session id, not {batch!r}") from None
        if not isinstance(raw.get("force", False), bool):
            raise ServiceError("force must be true or false")
        return raw


def _an_id(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
        and 0 < value <= MAX_ID
    )


def user_id(named: object, what: str = "container_name must be a user id") -> UUID:
    """A user's id as a query or body names it; anything else a 400 saying `what`."""
    try:
        return UUID(str(named))
    except ValueError:
        raise ServiceError(what) from None


# -- samples ----------------------------------------------------------------------------------------------
NOTE = {"type": "string", "maxLength": 2000}


class SampleBody(Body):
    """`PUT /folders/<folder_id>/sample`: what was examined (all but `weight_g` optional)."""

    required_unsecured = ("container_name",)  # secured: the caller's own folder
    container_name: Annotated[object, WithJsonSchema({"type": "string", "format": "uuid"})] = None
    weight_g: Annotated[float, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})]
    lot: Annotated[str | None, WithJsonSchema(NOTE)] = None
    crop: Annotated[str | None, WithJsonSchema(NOTE)] = None
    notes: Annotated[str | None, WithJsonSchema(NOTE)] = None

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise ServiceError("the body must be a JSON object")
        weight = raw.get("weight_g")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight < math.inf:
            raise ServiceError("weight_g must be a positive number")
        for key in ("lot", "crop", "notes"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                raise ServiceError(f"{key} must be a text of at most 2000 characters")
        return raw
