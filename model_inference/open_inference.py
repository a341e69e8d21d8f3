"""Models on Triton, KServe or MLServer: the Open Inference Protocol (KServe v2) over REST.

A model record with `protocol: open-inference` names its server's base URL as `endpoint` and, in
`open_inference`, what to send and read (see `OpenInference`). A detector gets the picture, a
classifier all the crops of a picture in one request (the batch dimension), so the server's
dynamic batching can merge concurrent pictures. A classifier whose record names `boxes_input`
cuts the crops itself: it gets the encoded picture once and the boxes, and the web worker decodes
nothing. Tensors travel in Triton's binary extension (`Inference-Header-Content-Length`) unless
`binary: false` (plain JSON, FP32 only).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kernel.errors import ModelError, UpstreamError
from kernel.text import loggable

from .http import ModelClient, exchange
from .models import ModelSpec

if TYPE_CHECKING:
    import numpy as np

PROTOCOL = "open-inference"
HEADER_LENGTH = "Inference-Header-Content-Length"
DTYPES = {
    "FP32": "<f4",
    "FP64": "<f8",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT8": "i1",
    "UINT8": "u1",
}
ROLES = {"detector": ({"boxes", "scores"}, {"labels"}), "classifier": ({"scores"}, set())}


class TensorIn(BaseModel):
    """The input: encoded pictures (`BYTES`, the server preprocesses) or a preprocessed `FP32`
    tensor: resized to `size` [height, width], RGB, divided by `scale`, less `mean`, over `std`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    datatype: Literal["BYTES", "FP32"]
    format: Literal["png", "jpeg"] = "png"  # BYTES: how each picture or crop is encoded
    size: tuple[int, int] | None = None  # FP32: [height, width]
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    scale: float = Field(255.0, gt=0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"

    @model_validator(mode="after")
    def _sized(self) -> TensorIn:
        if self.datatype == "FP32" and (self.size is None or min(self.size) < 1):
            raise ValueError("an FP32 input needs its size: [height, width]")
        if any(s == 0 for s in self.std):
            raise ValueError("std must not be 0")
        return self


class OpenInference(BaseModel):
    """A model record's `open_inference` mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str | None = None  # the model's name on the server; default: the record's model_name
    version: str | None = None
    input: TensorIn
    outputs: dict[str, str]  # role -> tensor: detector boxes, scores[, labels]; classifier scores
    labels: tuple[str, ...] | None = None  # classes by index; else the metadata's `labels` parameter
    box_format: Literal["normalized", "pixels"] = "normalized"  # pixels: of the input tensor
    score_threshold: float = Field(0.3, ge=0, le=1)
    max_batch: int = Field(64, ge=1, le=1024)  # crops (or boxes) per request at most
    # a classifier that crops on the server: `input` is the picture (BYTES, shape [1]) and this FP32
    # [N, 4] tensor its boxes (topX, topY, bottomX, bottomY, fractions of the frame); scores [N, K]
    boxes_input: str | None = Field(None, min_length=1)
    binary: bool = True  # Triton's binary tensor extension; false: JSON (FP32 inputs only)
    top_n: int = Field(5, ge=1, le=50)

    @model_validator(mode="after")
    def _consistent(self) -> OpenInference:
        if not self.binary and self.input.datatype == "BYTES":
            raise ValueError("a BYTES input needs binary: true (JSON carries no binary pictures)")
        if self.boxes_input is not None and self.input.datatype != "BYTES":
            raise ValueError("boxes_input needs the picture as a BYTES input (the server crops it)")
        if self.boxes_input is not None and self.boxes_input == self.input.name:
            raise ValueError("boxes_input must name another tensor than input")
        return self


def settings_of(record: object, task: str) -> OpenInference:
    """The record's `open_inference` mapping, checked for a task; ValueError naming the problem."""
    if not isinstance(record, dict):
        raise ValueError("open_inference must be a mapping (input, outputs, ...)")
    try:
        parsed = OpenInference.model_validate(record)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f".{part}" for part in first["loc"])  # none: the mapping as a whole
        raise ValueError(f"open_inference{where}: {first['msg']}") from None
    required, optional = ROLES[kind_of(task)]
    missing, unknown = required - parsed.outputs.keys(), parsed.outputs.keys() - required - optional
    if missing or unknown:
        roles = sorted(required) + sorted(f"{r} (optional)" for r in optional)
        raise ValueError(f"open_inference.outputs must name tensors for {', '.join(roles)}")
    if parsed.boxes_input is not None and kind_of(task) == "detector":
        raise ValueError("open_inference.boxes_input: only a classifier takes boxes")
    return parsed


def kind_of(task: str) -> Literal["detector", "classifier"]:
    return "detector" if "detect" in task.lower() else "classifier"


def model_url(spec: ModelSpec) -> str:
    settings = options(spec)
    url = f"{spec.endpoint.rstrip('/')}/v2/models/{settings.model or spec.name}"
    return f"{url}/versions/{settings.version}" if settings.version else url


def options(spec: ModelSpec) -> OpenInference:
    if not isinstance(spec.options, OpenInference):  # the registry parses it when it loads
        raise ModelError(f"model {spec.name} has no open_inference settings", 400)
    return spec.options


# -- the wire --------------------------------------------------------------------------------------------
def request_body(
    settings: OpenInference, batch: np.ndarray | list[bytes], boxes: np.ndarray | None = None
) -> tuple[bytes, dict[str, str]]:
    """The infer request: the input tensor (and, for a classifier that crops, the boxes) and the
    outputs the record reads."""
    import numpy as np

    outputs: list[dict[str, object]] = [{"name": name} for name in settings.outputs.values()]
    # (name, datatype, shape, its binary data in parts, values as numbers for JSON: None for BYTES);
    # the parts are joined once, after the head (a picture is ~0.5 MB: one copy, not three)
    inputs: list[tuple[str, str, list[int], list[bytes], np.ndarray | None]]
    if isinstance(batch, list):  # BYTES: each element a 4-byte little-endian length, then its bytes
        # one picture to crop travels alone (shape [1]); pictures or crops along the batch dimension
        shape = [1] if boxes is not None else [len(batch), 1]
        parts = [part for item in batch for part in (len(item).to_bytes(4, "little"), item)]
        inputs = [(settings.input.name, "BYTES", shape, parts, None)]
    else:
        parts = [np.ascontiguousarray(batch, "<f4").tobytes()]
        inputs = [(settings.input.name, "FP32", list(batch.shape), parts, batch)]
    if boxes is not None:
        assert settings.boxes_input is not None  # the adapter sends boxes only then
        corners = np.ascontiguousarray(boxes, "<f4").reshape(-1, 4)
        inputs.append((settings.boxes_input, "FP32", list(corners.shape), [corners.tobytes()], corners))
    tensors: list[dict[str, object]] = []
    for name, datatype, shape, data, values in inputs:
        tensor: dict[str, object] = {"name": name, "datatype": datatype, "shape": shape}
        if settings.binary:
            tensor["parameters"] = {"binary_data_size": sum(map(len, data))}
        else:  # JSON: FP32 only (the record is checked for it)
            tensor["data"] = np.asarray(values, np.float32).ravel().tolist()
        tensors.append(tensor)
    if not settings.binary:
        return orjson.dumps({"inputs": tensors, "outputs": outputs}), {"Content-Type": "application/json"}
    for output in outputs:
        output["parameters"] = {"binary_data": True}
    head = orjson.dumps({"inputs": tensors, "outputs": outputs})
    body = b"".join([head, *(part for _, _, _, data, _ in inputs for part in data)])
    return body, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def read_outputs(spec: ModelSpec, headers: dict[str, str], content: bytes) -> dict[str, np.ndarray]:
    """The answer's tensors by name, each checked: a known datatype, as many values as its shape
    says, none NaN or infinite. Anything else is the model's fault: 502 naming it."""
    import numpy as np

    length = next((v for k, v in headers.items() if k.lower() == HEADER_LENGTH.lower()), None)
    try:
        head_size = int(length) if length is not None else len(content)
        if not 0 < head_size <= len(content):
            raise _Bad(f"{HEADER_LENGTH} {head_size} for a body of {len(content)} bytes")
        answer = orjson.loads(content[:head_size])
        rest = memoryview(content)[head_size:]
        tensors: dict[str, np.ndarray] = {}
        for output in answer["outputs"]:
            name, datatype, shape = str(output["name"])[:100], output["datatype"], output["shape"]
            if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
                raise _Bad(f"output {name} has shape {loggable(shape)}")
            parameters = output.get("parameters")
            size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
            if datatype == "BYTES":
                raise _Bad(f"output {name} is BYTES, not numbers")
            if datatype not in DTYPES:
                raise _Bad(f"output {name} has datatype {loggable(datatype)}")
            if size is not None:
                if type(size) is not int or not 0 <= size <= len(rest):
                    raise _Bad(f"output {name} has binary_data_size {loggable(size)}")
                values = np.frombuffer(rest[:size], DTYPES[datatype])
                rest = rest[size:]
            else:
                values = np.asarray(output["data"], DTYPES[datatype]).ravel()
            if values.size != math.prod(shape):
                raise _Bad(f"output {name} has {values.size} values for shape {shape}")
            values = values.reshape(shape).astype(np.float32 if datatype.startswith("FP") else np.int64)
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                raise _Bad(f"output {name} has a value that is not finite (NaN or Infinity)")
            tensors[name] = values
    except _Bad as error:
        raise UpstreamError(f"model {spec.name} answered a bad tensor: {error}", 502) from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as error:
        raise UpstreamError(
            f"model {spec.name} answered something that is not an inference response "
            f"({type(error).__name__})",
            502,
        ) from None
    return tensors


class _Bad(Exception):
    pass


async def infer(
    client: ModelClient, spec: ModelSpec, batch: np.ndarray | list[bytes], boxes: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """One infer call; the outputs the record names, each present."""
    settings = options(spec)
    body, headers = request_body(settings, batch, boxes)
    headers = {**headers, **_credentials(spec)}
    code, answer_headers, content = await exchange(
        client, spec, "POST", f"{model_url(spec)}/infer", body, headers
    )
    if code != 200:
        raise _refusal(spec, code, content)
    tensors = read_outputs(spec, answer_headers, content)
    for role, name in settings.outputs.items():
        if name not in tensors:
            raise UpstreamError(f"model {spec.name} answered without its {role} output ({name})", 502)
    return tensors


def _credentials(spec: ModelSpec) -> dict[str, str]:
    return {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}


async def _get(client: ModelClient, spec: ModelSpec, suffix: str) -> tuple[int, dict[str, str], bytes]:
    """GET the model's URL (metadata) or a page below it (`/ready`, `/config`)."""
    return await exchange(client, spec, "GET", f"{model_url(spec)}{suffix}", None, _credentials(spec))


def _refusal(spec: ModelSpec, code: int, content: bytes) -> UpstreamError:
    """A v2 server's error ({"error": "..."}), named: not ready or unknown is 503, else 502."""
    try:
        said = str(orjson.loads(content).get("error", ""))
    except (orjson.JSONDecodeError, AttributeError):
        said = ""
    said = loggable(said)[:300]
    if code == 503 or "not ready" in said or "unavailable" in said.lower():
        return UpstreamError(f"model {spec.name} is not ready on its server (HTTP {code}: {said})", 503)
    if code in (401, 403):
        return UpstreamError(f"model {spec.name} rejected the credentials (HTTP {code})", 502)
    if code == 404 or "unknown model" in said.lower():
        return UpstreamError(f"model {spec.name} is not on its server (HTTP {code}: {said})", 502)
    return UpstreamError(f"model {spec.name} refused the request (HTTP {code}: {said})", 502)


async def metadata(client: ModelClient, spec: ModelSpec) -> dict:
    """GET /v2/models/<name>: the server's inputs and outputs (names, datatypes, shapes)."""
    code, _, content = await _get(client, spec, "")
    if code != 200:
        raise _refusal(spec, code, content)
    try:
        found = orjson.loads(content)
    except orjson.JSONDecodeError:
        found = None
    if not (
        isinstance(found, dict)
        and all(
            isinstance(found.get(key), list) and all(isinstance(t, dict) for t in found[key])
            for key in ("inputs", "outputs")
        )
    ):
        raise UpstreamError(f"model {spec.name} answered metadata that is not the protocol's", 502)
    return found


async def readiness(client: ModelClient, spec: ModelSpec) -> str | None:
    """None when GET /v2/models/<name>/ready answers 200; else why not."""
    try:
        code, _, _ = await _get(client, spec, "/ready")
    except UpstreamError as error:
        return error.args[0]
    return None if code == 200 else f"model {spec.name} is not ready on its server (HTTP {code})"


def mismatches(settings: OpenInference, task: str, found: dict) -> list[str]:
    """What the record names that the server's metadata does not have (empty: they agree)."""
    problems = []
    inputs = {str(t.get("name")): t for t in found["inputs"]}  # checked by metadata()
    outputs = {str(t.get("name")): t for t in found["outputs"]}
    wanted = settings.input
    if wanted.name not in inputs:
        problems.append(
            f"input tensor {wanted.name} is not among the model's inputs ({', '.join(map(str, inputs))})"
        )
    elif inputs[wanted.name].get("datatype") != wanted.datatype:
        problems.append(
            f"input tensor {wanted.name} is {inputs[wanted.name].get('datatype')}, not {wanted.datatype}"
        )
    boxes = settings.boxes_input
    if boxes is not None and boxes not in inputs:
        problems.append(
            f"boxes input tensor {boxes} is not among the model's inputs ({', '.join(map(str, inputs))})"
        )
    elif boxes is not None and inputs[boxes].get("datatype") != "FP32":
        problems.append(f"boxes input tensor {boxes} is {inputs[boxes].get('datatype')}, not FP32")
    for role, name in settings.outputs.items():
        if name not in outputs:
            known = ", ".join(map(str, outputs))
            problems.append(f"{role} output tensor {name} is not among the model's outputs ({known})")
    scores = outputs.get(settings.outputs.get("scores", ""))
    labels = settings.labels or labels_of(found)
    if kind_of(task) == "classifier" and scores and labels:
        shape = scores.get("shape")
        classes = shape[-1] if isinstance(shape, list) and shape else None
        if isinstance(classes, int) and classes > 0 and len(labels) < classes:
            problems.append(f"{len(labels)} labels for the {classes} classes of output {scores.get('name')}")
    return problems


_LABELS: dict[str, tuple[str, ...]] = {}  # a cache per process (model URL -> labels): safe to lose


async def labels_for(client: ModelClient, spec: ModelSpec) -> tuple[str, ...]:
    """The record's labels, else the model metadata's `labels` parameter (asked once), else none."""
    settings = options(spec)
    if settings.labels is not None:
        return settings.labels
    url = model_url(spec)
    if url not in _LABELS:  # kept once the server said (a failure is not remembered)
        found = labels_of(await metadata(client, spec))
        if found is None:  # Triton: a config.pbtxt's parameters are in the model's configuration
            found = labels_of(await _configuration(client, spec))
        _LABELS[url] = found or ()
    return _LABELS[url]


def forget_labels() -> None:
    """Ask the servers again (the registry calls it whenever it reloads the pipelines)."""
    _LABELS.clear()


async def _configuration(client: ModelClient, spec: ModelSpec) -> dict:
    """Triton's GET /v2/models/<name>/config ({} where a server has none: 404, 400)."""
    code, _, content = await _get(client, spec, "/config")
    if code >= 500:
        raise _refusal(spec, code, content)
    try:
        found = orjson.loads(content) if code == 200 else {}
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def labels_of(found: dict) -> tuple[str, ...] | None:
    """Class labels a model's metadata may carry as a `labels` parameter (a JSON list or text)."""
    parameters = found.get("parameters") if isinstance(found, dict) else None
    value = parameters.get("labels") if isinstance(parameters, dict) else None
    if isinstance(value, dict):  # {"string_param": "..."} as Triton writes parameters
        value = next(iter(value.values()), None)
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return tuple(map(str, value)) if isinstance(value, list) else None


# -- the steps -------------------------------------------------------------------------------------------
def _pictures(encoded_as: str, crops: list) -> list[bytes]:
    import cv2

    extension = ".jpg" if encoded_as == "jpeg" else ".png"
    return [cv2.imencode(extension, crop)[1].tobytes() for crop in crops]


def _fp32(settings: OpenInference, crops: list) -> np.ndarray:
    import numpy as np

    from .local.onnx_models import to_tensor

    t = settings.input
    assert t.size is not None  # checked with the record
    batch = to_tensor(crops, t.size, np.array(t.mean, np.float32), np.array(t.std, np.float32), t.scale)
    return batch.transpose(0, 2, 3, 1).copy() if t.layout == "NHWC" else batch


def prepared(settings: OpenInference, crops: list) -> np.ndarray | list[bytes]:
    """The input tensor of a batch of BGR pictures or crops."""
    if settings.input.datatype == "BYTES":
        return _pictures(settings.input.format, crops)
    return _fp32(settings, crops)


def detector_boxes(
    spec: ModelSpec, tensors: dict[str, np.ndarray], picture_shape: tuple[int, ...], labels=()
) -> list[dict]:
    """The boxes of one picture (batch of one) from the detector's outputs; a box's label is
    `labels[class]` when the model answers classes (else "seed")."""
    import numpy as np

    from .local.onnx_models import boxes_above

    settings = options(spec)
    named = settings.outputs
    xyxy, scores = tensors[named["boxes"]], tensors[named["scores"]]
    if xyxy.ndim < 1 or xyxy.shape[-1] != 4 or xyxy.size // 4 != scores.size:
        counted = xyxy.size // 4 if xyxy.ndim and xyxy.shape[-1] == 4 else "malformed"
        raise UpstreamError(f"model {spec.name} answered {counted} boxes for {scores.size} scores", 502)
    xyxy, scores = xyxy.reshape(-1, 4).astype(np.float32), scores.reshape(-1)
    classes = tensors[named["labels"]].reshape(-1) if "labels" in named else None
    if classes is not None and classes.size != scores.size:
        raise UpstreamError(f"model {spec.name} answered {classes.size} labels for {scores.size} boxes", 502)
    if settings.box_format == "pixels":
        if settings.input.size is not None:
            height, width = settings.input.size
        else:
            height, width = picture_shape[:2]
        xyxy = xyxy / np.array([width, height, width, height], np.float32)
    return boxes_above(xyxy, scores, classes, list(labels), settings.score_threshold)


def classifier_answers(
    spec: ModelSpec, tensors: dict[str, np.ndarray], count: int, labels
) -> list[list[dict]]:
    """Each crop's top-N from the class scores; a batch of another size, or fewer labels than
    classes, is the model's fault."""
    from .local.onnx_models import ranked

    settings = options(spec)
    scores = tensors[settings.outputs["scores"]]
    if scores.ndim < 1 or scores.shape[0] != count:
        rows = scores.shape[0] if scores.ndim else 0
        raise UpstreamError(f"model {spec.name} answered {rows} rows of scores for {count} crops", 502)
    scores = scores.reshape(count, -1)
    if scores.shape[1] == 0:
        raise UpstreamError(f"model {spec.name} answered no class scores", 502)
    if labels and len(labels) < scores.shape[1]:
        raise UpstreamError(f"model {spec.name} has {len(labels)} labels for {scores.shape[1]} classes", 502)
    return ranked(scores, list(labels or ()), settings.top_n)
