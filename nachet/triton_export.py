"""`python -m nachet models export-triton DIR`: a Triton Inference Server model repository of the
built-in embedder and any ONNX model, ready for Triton or KServe (deploy/kserve-inferenceservice.yaml):

    DIR/<name>/config.pbtxt     written here (protobuf text format, Triton 2.x ModelConfig)
    DIR/<name>/1/model.onnx     a copy of the ONNX file (and its external-data files, if any)

The configuration is read from the ONNX graph (the `onnx` package): the inputs that are not
initializers and the outputs, with Triton's data types. A model batches (`max_batch_size` N,
`dynamic_batching`, dims without the batch dimension) when the first dimension of every input
and output is dynamic and names the same dimension; otherwise `max_batch_size: 0` and the full
dims. Class labels (metadata `labels`, else a `<model>.labels.json` sidecar, else an export
folder's `id2label`) become the `labels` parameter (a JSON list), read at
GET /v2/models/<name>/config.

Each model is written into a hidden folder inside DIR and renamed into place, and everything is
checked before anything is written: a refusal (ValueError) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDER_NAME = "nachet-embedder"
PLATFORM = "onnxruntime_onnx"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_MAX_NAME = 200  # leaves room under the 255-byte file-name limit for the temporary folder's

# ONNX TensorProto.DataType -> Triton data type (model_config.proto)
TRITON_TYPES = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
    16: "TYPE_BF16",
}


@dataclass
class Tensor:
    name: str
    data_type: str
    shape: list[int | str]  # int: a fixed size; str: a named dynamic dimension ("" when unnamed)


@dataclass
class _Plan:
    """One model, checked and described, not yet written."""

    name: str
    onnx_file: Path
    config: str
    extra_files: list[str] = field(default_factory=list)  # external data, relative to the ONNX file


def builtin_embedder() -> Path:
    """The built-in EfficientNet-Lite0 embedder shipped with the service."""
    from model_inference.local.lazy import EMBEDDER

    return EMBEDDER


def default_models(extra: dict[str, Path] | None = None, *, embedder: bool = True) -> dict[str, Path]:
    """What `export-triton` exports: the built-in embedder (unless told not to) and `extra`."""
    models = {EMBEDDER_NAME: builtin_embedder()} if embedder else {}
    models.update(extra or {})
    return models


def parse_onnx_option(value: str) -> tuple[str, Path]:
    """`NAME=PATH` (PATH: an .onnx file, `onnx:///path`, or a Hugging Face-style export folder)."""
    name, sep, location = value.partition("=")
    if not sep or not name or not location:
        raise ValueError(f"--onnx takes NAME=PATH, not {value!r}")
    from model_inference.local.onnx_models import model_path

    return name, model_path(location)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise ValueError(
            f"{name!r} is not a valid Triton model name: letters, digits, '_', '-' and '.', "
            f"not starting with '.', at most {_MAX_NAME} characters"
        )


def onnx_file_of(path: Path) -> Path:
    """The ONNX file behind a model path: the file itself, or an export folder's onnx/model.onnx."""
    path = Path(path)
    if path.is_dir():
        inner = path / "onnx" / "model.onnx"
        if not inner.is_file():
            raise ValueError(f"{path} is a folder without onnx/model.onnx: not an ONNX model export")
        return inner
    if not path.is_file():
        raise ValueError(f"ONNX model not found: {path}")
    return path


def _onnx():
    try:
        import onnx
    except ImportError as error:  # requirements-dev.txt has it; a slim image may not
        raise ValueError(
            "export-triton reads the models with the `onnx` package: pip install onnx"
        ) from error
    return onnx


def _load(onnx_file: Path):
    onnx = _onnx()
    try:
        model = onnx.load(str(onnx_file), load_external_data=False)
    except Exception as error:
        raise ValueError(f"{onnx_file} is not an ONNX model: {error}") from error
    if model.ir_version <= 0 or not model.graph.output:  # empty bytes parse as an empty ModelProto
        raise ValueError(f"{onnx_file} is not an ONNX model: no IR version or no graph outputs")
    return model


def _tensors(values, exclude: set[str], onnx_file: Path) -> list[Tensor]:
    tensors = []
    for value in values:
        if value.name in exclude:
            continue
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            raise ValueError(f"{onnx_file}: {value.name!r} is a {kind or 'untyped value'}, not a tensor")
        elem = value.type.tensor_type.elem_type
        if elem not in TRITON_TYPES:
            raise ValueError(f"{onnx_file}: tensor {value.name!r} has ONNX type {elem}, unknown to Triton")
        if not value.type.tensor_type.HasField("shape"):
            raise ValueError(f"{onnx_file}: tensor {value.name!r} has no shape (its rank is unknown)")
        shape: list[int | str] = [
            dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else dim.dim_param
            for dim in value.type.tensor_type.shape.dim
        ]
        tensors.append(Tensor(value.name, TRITON_TYPES[elem], shape))
    return tensors


def read_signature(model, onnx_file: Path) -> tuple[list[Tensor], list[Tensor]]:
    """The inputs (less initializers) and outputs of an ONNX model; missing output shapes are
    inferred by ONNX shape inference when it can."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    if any(not o.type.tensor_type.HasField("shape") for o in graph.output if o.type.HasField("tensor_type")):
        try:
            graph = _onnx().shape_inference.infer_shapes(model).graph
        except Exception:  # keep the declared outputs: _tensors then names what is missing
            pass
    inputs = _tensors(graph.input, initializers, onnx_file)
    if not inputs:
        raise ValueError(f"{onnx_file}: the model has no input")
    return inputs, _tensors(graph.output, set(), onnx_file)


def batch_dimension(inputs: list[Tensor], outputs: list[Tensor]) -> bool:
    """Whether Triton may batch the model: every tensor's first dimension is dynamic, and the
    named ones all name the same dimension (an output of another dynamic size, say a number of
    boxes, is not the batch)."""
    tensors = inputs + outputs
    if not all(t.shape and isinstance(t.shape[0], str) for t in tensors):
        return False
    return len({t.shape[0] for t in tensors} - {""}) <= 1


def _escape(text: str) -> str:
    """A protobuf text-format string literal (quotes included): UTF-8 bytes, C escapes, octal
    for the rest, so any name or label reads back as it was."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _dims(shape: list[int | str]) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in shape]


def _tensor_block(tensor: Tensor, batched: bool) -> list[str]:
    dims = _dims(tensor.shape[1:] if batched else tensor.shape)
    lines = ["  {", f"    name: {_escape(tensor.name)}", f"    data_type: {tensor.data_type}"]
    if dims:
        lines.append(f"    dims: [ {', '.join(map(str, dims))} ]")
    else:  # a scalar per batch item (or a scalar): Triton wants dims [1] reshaped to []
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    return lines + ["  }"]


def _list(key: str, blocks: list[list[str]]) -> list[str]:
    lines = [f"{key} ["]
    for i, block in enumerate(blocks):
        lines += block[:-1] + [block[-1] + ("," if i < len(blocks) - 1 else "")]
    return lines + ["]"]


def triton_config(
    name: str,
    inputs: list[Tensor],
    outputs: list[Tensor],
    *,
    max_batch: int = 64,
    gpu: bool = False,
    queue_delay_us: int = 2000,
    instances: int = 1,
    labels: list[str] | None = None,
    comment: str = "",
) -> str:
    """config.pbtxt for an ONNX Runtime model (Triton 2.x ModelConfig, protobuf text format)."""
    batched = batch_dimension(inputs, outputs)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [
        f"name: {_escape(name)}",
        f"platform: {_escape(PLATFORM)}",
        f"max_batch_size: {max_batch if batched else 0}",
    ]
    lines += _list("input", [_tensor_block(t, batched) for t in inputs])
    lines += _list("output", [_tensor_block(t, batched) for t in outputs])
    if batched:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {queue_delay_us}", "}"]
    kind = "KIND_GPU" if gpu else "KIND_CPU"
    lines += _list("instance_group", [["  {", f"    count: {instances}", f"    kind: {kind}", "  }"]])
    if labels is not None:
        value = json.dumps(labels)
        lines += [
            "parameters {",
            '  key: "labels"',
            f"  value: {{ string_value: {_escape(value)} }}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _labels(model, onnx_file: Path, source: Path) -> list[str] | None:
    """Class labels as onnx_models.OnnxModel finds them: metadata `labels` (a JSON list), else a
    `<model>.labels.json` sidecar, else an export folder's config.json `id2label`."""
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        if "labels" in meta:
            labels = json.loads(meta["labels"])
            if not isinstance(labels, list):
                raise ValueError("not a list")
            return [str(label) for label in labels]
        sidecar = onnx_file.with_suffix(".labels.json")
        config = source / "config.json" if source.is_dir() else None
        if sidecar.is_file():
            mapping = json.loads(sidecar.read_text())
        elif config is not None and config.is_file():
            mapping = json.loads(config.read_text()).get("id2label") or {}
        else:
            return None
        return [str(mapping[k]) for k in sorted(mapping, key=int)] if mapping else None
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{onnx_file}: its class labels are not a JSON list or mapping: {error}") from error


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _external_files(model, onnx_file: Path) -> list[str]:
    """The external-data files an ONNX model's tensors live in (relative to it), checked."""
    locations: set[str] = set()
    for graph in _graphs(model.graph):
        tensors = list(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                tensors += ([attribute.t] if attribute.HasField("t") else []) + list(attribute.tensors)
        for tensor in tensors:
            if tensor.data_location == 1:  # TensorProto.EXTERNAL
                locations.update(e.value for e in tensor.external_data if e.key == "location")
    for location in locations:
        relative = Path(location)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"{onnx_file}: external data {location!r} is outside the model's folder")
        if not (onnx_file.parent / relative).is_file():
            raise ValueError(f"{onnx_file}: its external data file {location} is missing")
    return sorted(locations)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plan(name: str, source: Path, options: dict[str, Any]) -> _Plan:
    check_name(name)
    onnx_file = onnx_file_of(source)
    model = _load(onnx_file)
    inputs, outputs = read_signature(model, onnx_file)
    comment = (
        f"written by `python -m nachet models export-triton`: {name} from {onnx_file.name!r}\n"
        f"sha256 of 1/model.onnx: {_sha256(onnx_file)}"
    )
    config = triton_config(
        name, inputs, outputs, labels=_labels(model, onnx_file, Path(source)), comment=comment, **options
    )
    return _Plan(name, onnx_file, config, _external_files(model, onnx_file))


def _write(plan: _Plan, destination: Path, overwrite: bool) -> list[Path]:
    """Write one model into a hidden folder of `destination`, then rename it into place."""
    target = destination / plan.name
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.name}.", dir=destination))
    try:
        version = staging / "1"
        version.mkdir()
        (staging / "config.pbtxt").write_text(plan.config, encoding="utf-8")
        shutil.copyfile(plan.onnx_file, version / "model.onnx")
        for location in plan.extra_files:
            (version / location).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plan.onnx_file.parent / location, version / location)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700: the server may run as another user
        written = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        if target.exists() and overwrite:
            retired = Path(tempfile.mkdtemp(prefix=f".{plan.name}.old.", dir=destination))
            os.replace(target, retired / plan.name)
            try:
                os.replace(staging, target)
            except OSError:
                os.replace(retired / plan.name, target)
                raise
            finally:
                shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, target)  # refuses a non-empty folder that appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / relative for relative in written]


def export_triton(
    destination: Path,
    models: dict[str, Path],
    *,
    max_batch: int = 64,
    gpu: bool = False,
    queue_delay_us: int = 2000,
    instances: int = 1,
    overwrite: bool = False,
) -> list[Path]:
    """Write a Triton model repository at `destination`, one `<name>/config.pbtxt` and
    `<name>/1/model.onnx` per model (name -> ONNX file or export folder). Returns the files
    written. Everything is checked first: a ValueError leaves nothing written."""
    destination = Path(destination)
    if not models:
        raise ValueError("no model to export")
    if max_batch < 1 or instances < 1 or queue_delay_us < 0:
        raise ValueError("max_batch and instances must be at least 1, queue_delay_us at least 0")
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"{destination} exists and is not a folder")
    options = {"max_batch": max_batch, "gpu": gpu, "queue_delay_us": queue_delay_us, "instances": instances}
    plans = [_plan(name, Path(source), options) for name, source in models.items()]
    for plan in plans:
        if (destination / plan.name).exists() and not overwrite:
            raise ValueError(f"{destination / plan.name} exists (overwrite to replace it)")
    created = not destination.exists()
    destination.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for plan in plans:
            written += _write(plan, destination, overwrite)
    except BaseException:
        if created and not written:
            shutil.rmtree(destination, ignore_errors=True)
        raise
    return written


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    scaled = float(size)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def describe(repository: Path) -> str:
    """A `tree`-like listing of a model repository, with file sizes."""
    repository = Path(repository)
    lines = [f"{repository}/"]
    counts = [0, 0]  # folders, files

    def walk(folder: Path, prefix: str) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            branch = "└── " if last else "├── "
            if entry.is_dir() and not entry.is_symlink():
                counts[0] += 1
                lines.append(f"{prefix}{branch}{entry.name}/")
                walk(entry, prefix + ("    " if last else "│   "))
            else:
                counts[1] += 1
                lines.append(f"{prefix}{branch}{entry.name}  ({_size(entry.stat().st_size)})")

    walk(repository, "")
    lines.append(f"\n{counts[0]} directories, {counts[1]} files")
    return "\n".join(lines)


# --- the command line (wired in nachet/cli.py) ---------------------------------------------------


def add_model_commands(sub) -> None:
    models = sub.add_parser("models", help="the models, for serving elsewhere").add_subparsers(
        dest="action", required=True
    )
    export = models.add_parser(
        "export-triton", help="write a Triton model repository (built-in embedder + --onnx models)"
    )
    export.add_argument("directory", type=Path, help="the repository to write (created if absent)")
    export.add_argument(
        "--onnx",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also export an ONNX model file or export folder under a Triton model name",
    )
    export.add_argument("--no-embedder", action="store_true", help=f"leave the built-in {EMBEDDER_NAME} out")
    export.add_argument(
        "--max-batch", type=int, default=64, help="max_batch_size of the models that batch (default 64)"
    )
    export.add_argument(
        "--queue-delay-us",
        type=int,
        default=2000,
        help="dynamic batching: how long a request may wait for others, in µs (default 2000)",
    )
    export.add_argument("--instances", type=int, default=1, help="model instances per server (default 1)")
    export.add_argument("--gpu", action="store_true", help="instances on the GPU (KIND_GPU; default CPU)")
    export.add_argument("--overwrite", action="store_true", help="replace models already in DIRECTORY")


async def models_command(settings, args) -> int:
    """`models export-triton`: writes the repository, prints its tree; a refusal in one line."""
    try:
        extra = dict(parse_onnx_option(value) for value in args.onnx)
        if len(extra) < len(args.onnx):
            raise ValueError("--onnx names a model twice")
        models = default_models(extra, embedder=not args.no_embedder)
        written = export_triton(
            args.directory,
            models,
            max_batch=args.max_batch,
            gpu=args.gpu,
            queue_delay_us=args.queue_delay_us,
            instances=args.instances,
            overwrite=args.overwrite,
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(describe(args.directory))
    print(
        f"\n{len(models)} model(s), {len(written)} file(s) written. Serve it with "
        f"`tritonserver --model-repository={Path(args.directory).resolve()}`, or upload it for "
        "KServe (deploy/kserve-inferenceservice.yaml); check with "
        f"GET /v2/models/{next(iter(models))}/config",
        file=sys.stderr,
    )
    return 0
