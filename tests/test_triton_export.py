"""`models export-triton`: a Triton model repository of real ONNX files (the built-in embedder and
tiny graphs built with onnx.helper), its config.pbtxt read back by a small text-format parser."""

from __future__ import annotations

import argparse
import hashlib
import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from onnx import helper

from nachet.triton_export import (
    EMBEDDER_NAME,
    Tensor,
    _escape,
    add_model_commands,
    batch_dimension,
    builtin_embedder,
    default_models,
    describe,
    export_triton,
    models_command,
    triton_config,
)
from tests.test_onnx_models import LABELS, colour_classifier, constant_detector

# --- a minimal protobuf text-format reader: messages as {field: [values]} -------------------------

_TOKEN = re.compile(
    r'\s+|#[^\n]*|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<word>[A-Za-z0-9_.+-]+)|(?P<punct>[{}\[\]:,;<>])'
)
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", '"': b'"', "'": b"'", "\\": b"\\", "a": b"\a", "b": b"\b"}


def _unquote(literal: str) -> str:
    """A text-format string literal's value: C escapes, octal \\ooo and hex \\xHH bytes, UTF-8."""
    out, rest = bytearray(), literal[1:-1]
    for match in re.finditer(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)|[^\\]", rest):
        code = match.group(1)
        if code is None:
            out += match.group().encode()
        elif code[0] in "01234567":
            out.append(int(code, 8))
        elif code[0] == "x" and len(code) > 1:
            out.append(int(code[1:], 16))
        else:
            out += _ESCAPES[code]
    return out.decode("utf-8")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read config.pbtxt at {text[position : position + 30]!r}"
        if match.lastgroup:
            tokens.append((match.lastgroup, match.group()))
        position = match.end()
    return tokens


class _Reader:
    """message := (field [":"] (value | "[" [value ("," value)*] "]"))*;  value := "{" message "}" | scalar"""

    def __init__(self, text: str):
        self.tokens, self.position = _tokens(text), 0

    def take(self, expected: str | None = None) -> tuple[str, str]:
        kind, value = self.tokens[self.position]
        assert expected is None or value == expected, f"expected {expected!r}, got {value!r}"
        self.position += 1
        return kind, value

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def value(self):
        if self.peek() == "{":
            self.take("{")
            found = self.message("}")
            self.take("}")
            return found
        kind, value = self.take()
        if kind == "string":
            return _unquote(value)
        return int(value) if re.fullmatch(r"-?\d+", value) else value

    def values(self) -> list:
        if self.peek() != "[":
            return [self.value()]
        self.take("[")
        found = []
        while self.peek() != "]":
            found.append(self.value())
            if self.peek() == ",":
                self.take(",")
        self.take("]")
        return found

    def message(self, end: str | None) -> dict[str, list]:
        fields: dict[str, list] = {}
        while self.peek() != end:
            _, name = self.take()
            if self.peek() == ":":
                self.take(":")
            fields.setdefault(name, []).extend(self.values())
        return fields


def parse_pbtxt(text: str) -> dict[str, list]:
    return _Reader(text).message(None)


def one(message: dict, key: str):
    (value,) = message[key]
    return value


def read_config(repository, name) -> dict:
    config = parse_pbtxt((repository / name / "config.pbtxt").read_text(encoding="utf-8"))
    assert one(config, "name") == name and one(config, "platform") == "onnxruntime_onnx"
    return config


def tensors(config: dict, key: str) -> dict[str, tuple[str, list[int]]]:
    return {one(t, "name"): (one(t, "data_type"), t.get("dims", [])) for t in config[key]}


def same_outputs(original, exported, feeds):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a 2-core machine, maybe busy
    before = ort.InferenceSession(str(original), options, providers=["CPUExecutionProvider"]).run(None, feeds)
    after = ort.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"]).run(None, feeds)
    assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))


def leftovers(repository) -> list[str]:
    return (
        sorted(str(p.relative_to(repository)) for p in repository.rglob("*")) if repository.exists() else []
    )


# --- the exports ----------------------------------------------------------------------------------


def test_builtin_embedder_classifier_and_fixed_batch_detector(tmp_path):
    classifier = colour_classifier(tmp_path / "colours.onnx")
    detector = constant_detector(
        tmp_path / "det.onnx", [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.9]], [0.9, 0.1]
    )
    repository = tmp_path / "repo"
    models = default_models({"colours": classifier, "seed.detector-1": detector})
    assert list(models) == [EMBEDDER_NAME, "colours", "seed.detector-1"]

    written = export_triton(repository, models)

    assert written == [
        repository / name / file for name in models for file in ("1/model.onnx", "config.pbtxt")
    ]
    assert leftovers(repository) == sorted(
        [name for name in models]
        + [f"{name}/{file}" for name in models for file in ("1", "1/model.onnx", "config.pbtxt")]
    )

    embedder = read_config(repository, EMBEDDER_NAME)
    assert one(embedder, "max_batch_size") == 64
    assert tensors(embedder, "input") == {"input": ("TYPE_FP32", [3, 224, 224])}
    assert tensors(embedder, "output") == {"embedding": ("TYPE_FP32", [1280])}
    assert one(one(embedder, "dynamic_batching"), "max_queue_delay_microseconds") == 2000
    (group,) = embedder["instance_group"]
    assert one(group, "count") == 1 and one(group, "kind") == "KIND_CPU"
    assert "parameters" not in embedder

    colours = read_config(repository, "colours")
    assert one(colours, "max_batch_size") == 64 and "dynamic_batching" in colours
    assert tensors(colours, "input") == {"input": ("TYPE_FP32", [3, 32, 32])}
    assert tensors(colours, "output") == {"probabilities": ("TYPE_FP32", [3])}
    parameter = one(colours, "parameters")
    assert one(parameter, "key") == "labels"
    assert json.loads(one(one(parameter, "value"), "string_value")) == LABELS

    fixed = read_config(repository, "seed.detector-1")
    assert one(fixed, "max_batch_size") == 0 and "dynamic_batching" not in fixed
    assert tensors(fixed, "input") == {"image": ("TYPE_FP32", [1, 3, 64, 64])}
    assert tensors(fixed, "output") == {"boxes": ("TYPE_FP32", [2, 4]), "scores": ("TYPE_FP32", [2])}
    assert one(one(fixed, "instance_group"), "kind") == "KIND_CPU" and "parameters" not in fixed

    rng = np.random.default_rng(0)
    for name, feeds in [
        (EMBEDDER_NAME, {"input": rng.normal(size=(2, 3, 224, 224)).astype(np.float32)}),
        ("colours", {"input": rng.random((3, 3, 32, 32), dtype=np.float32)}),
        ("seed.detector-1", {"image": rng.random((1, 3, 64, 64), dtype=np.float32)}),
    ]:
        exported = repository / name / "1" / "model.onnx"
        assert not exported.is_symlink()
        assert (
            hashlib.sha256(exported.read_bytes()).digest()
            == hashlib.sha256(models[name].read_bytes()).digest()
        )
        same_outputs(models[name], exported, feeds)
    assert builtin_embedder().name == "effnet_lite0_embed.onnx"


def test_gpu_instances_batch_and_queue_options(tmp_path):
    export_triton(
        tmp_path,
        {"colours": colour_classifier(tmp_path / "c.onnx", with_metadata=False)},
        max_batch=8,
        gpu=True,
        queue_delay_us=500,
        instances=3,
    )
    config = read_config(tmp_path, "colours")
    assert one(config, "max_batch_size") == 8
    assert one(one(config, "dynamic_batching"), "max_queue_delay_microseconds") == 500
    group = one(config, "instance_group")
    assert one(group, "count") == 3 and one(group, "kind") == "KIND_GPU"
    assert "parameters" not in config  # no labels anywhere


def test_export_folder_sidecar_and_external_data(tmp_path):
    folder = tmp_path / "swin-export"
    (folder / "onnx").mkdir(parents=True)
    colour_classifier(folder / "onnx" / "model.onnx", with_metadata=False, output="logits")
    names = {str(i): label for i, label in enumerate(reversed(LABELS))}
    (folder / "config.json").write_text(json.dumps({"id2label": names}))
    sidecar = colour_classifier(tmp_path / "side.onnx", with_metadata=False)
    (tmp_path / "side.labels.json").write_text(json.dumps({"1": "b", "0": "a", "2": "c"}))
    external = tmp_path / "ext" / "big.onnx"
    (external.parent / "weights").mkdir(parents=True)
    onnx.save(
        onnx.load(str(colour_classifier(tmp_path / "plain.onnx"))),
        str(external),
        save_as_external_data=True,
        location="weights/big.data",
        size_threshold=60,  # W only (by sys.getsizeof): ONNX Runtime wants the ReduceMean axes inline
    )
    repository = tmp_path / "repo"
    written = export_triton(repository, {"swin": folder, "side": sidecar, "ext": external})

    swin = read_config(repository, "swin")
    assert json.loads(one(one(one(swin, "parameters"), "value"), "string_value")) == list(reversed(LABELS))
    assert tensors(swin, "output") == {"logits": ("TYPE_FP32", [3])}
    side = read_config(repository, "side")
    assert json.loads(one(one(one(side, "parameters"), "value"), "string_value")) == ["a", "b", "c"]
    assert repository / "ext" / "1" / "weights" / "big.data" in written
    feeds = {"input": np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)}
    same_outputs(external, repository / "ext" / "1" / "model.onnx", feeds)
    same_outputs(folder / "onnx" / "model.onnx", repository / "swin" / "1" / "model.onnx", feeds)


def test_strings_are_escaped_for_text_format(tmp_path):
    awkward = 'probs "top"\\ é\n\t\x01'
    path = colour_classifier(tmp_path / "odd.onnx", output=awkward)
    model = onnx.load(str(path))
    labels = ['say "hi"', "back\\slash", "Brassica × napus", "new\nline"]
    helper.set_model_props(model, {"labels": json.dumps(labels, ensure_ascii=False)})
    onnx.save(model, str(path))
    export_triton(tmp_path / "repo", {"odd": path})
    config = read_config(tmp_path / "repo", "odd")
    assert list(tensors(config, "output")) == [awkward]
    assert json.loads(one(one(one(config, "parameters"), "value"), "string_value")) == labels
    # the same literal through protobuf's own text-format reader (a string field of an ONNX message)
    for text in (awkward, json.dumps(labels), "日本語 ✓"):
        entry = text_format.Parse(f"key: {_escape(text)}", onnx.StringStringEntryProto())
        assert entry.key == text and _unquote(_escape(text)) == text


def test_batching_needs_one_dynamic_first_dimension():
    def t(*shape):
        return Tensor("x", "TYPE_FP32", list(shape))

    assert batch_dimension([t("n", 3)], [t("n", 5)])
    assert batch_dimension([t("", 3)], [t("batch", 5), t("", 2)])  # unnamed -1/0 dims agree with any
    assert not batch_dimension([t(1, 3)], [t(1, 5)])  # a fixed first dimension
    assert not batch_dimension([t("n", 3)], [t("boxes", 4)])  # an output of its own dynamic size
    assert not batch_dimension([t("n", 3)], [t()])  # a scalar output has no batch dimension
    config = parse_pbtxt(triton_config("m", [t("n", "h", 3)], [Tensor("s", "TYPE_INT64", ["n"])]))
    assert one(config, "max_batch_size") == 64
    (source,) = config["input"]
    assert source["dims"] == [-1, 3]  # an unknown non-batch dimension is -1
    (scores,) = config["output"]
    assert scores["dims"] == [1] and one(scores, "reshape") == {"shape": []}  # one value per item
    assert one(scores, "data_type") == "TYPE_INT64"
    fixed = parse_pbtxt(triton_config("m", [t(1, "h")], [t("k", 4)]))
    assert one(fixed, "max_batch_size") == 0 and fixed["input"][0]["dims"] == [1, -1]


# --- refusals leave nothing behind ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "sp ace", "ünï", "x" * 201, "tab\t"])
def test_bad_names_are_refused(tmp_path, name):
    classifier = colour_classifier(tmp_path / "c.onnx")
    with pytest.raises(ValueError, match="not a valid Triton model name"):
        export_triton(tmp_path / "repo", {"colours": classifier, name: classifier})
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        (b"not an onnx model", "is not an ONNX model"),
        (b"", "is not an ONNX model"),
        ("folder", "without onnx/model.onnx"),
    ],
)
def test_missing_or_non_onnx_files_are_refused(tmp_path, content, message):
    bad = tmp_path / "bad.onnx"
    if content == "folder":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content)
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=message):
        export_triton(repository, {"colours": colour_classifier(tmp_path / "c.onnx"), "bad": bad})
    assert leftovers(repository) == ["keep.txt"]


def test_an_existing_model_folder_is_refused_unless_overwrite(tmp_path):
    classifier = colour_classifier(tmp_path / "c.onnx")
    detector = constant_detector(tmp_path / "d.onnx", [[0, 0, 1, 1]], [1.0])
    repository = tmp_path / "repo"
    (repository / "colours").mkdir(parents=True)
    (repository / "colours" / "old.txt").write_text("an earlier export")
    with pytest.raises(ValueError, match="exists"):
        export_triton(repository, {"detector": detector, "colours": classifier})
    assert leftovers(repository) == ["colours", "colours/old.txt"]

    written = export_triton(repository, {"detector": detector, "colours": classifier}, overwrite=True)
    assert len(written) == 4
    assert leftovers(repository) == [
        "colours",
        "colours/1",
        "colours/1/model.onnx",
        "colours/config.pbtxt",
        "detector",
        "detector/1",
        "detector/1/model.onnx",
        "detector/config.pbtxt",
    ]


def test_bad_options_are_refused(tmp_path):
    classifier = colour_classifier(tmp_path / "c.onnx")
    for options in ({"max_batch": 0}, {"instances": 0}, {"queue_delay_us": -1}):
        with pytest.raises(ValueError):
            export_triton(tmp_path / "repo", {"c": classifier}, **options)
    with pytest.raises(ValueError, match="no model"):
        export_triton(tmp_path / "repo", {})
    assert not (tmp_path / "repo").exists()


# --- describe() and the command ------------------------------------------------------------------


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_model_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["models", "export-triton", *argv])


async def test_the_command_exports_and_describes(tmp_path, capsys):
    classifier = colour_classifier(tmp_path / "c.onnx")
    repository = tmp_path / "repo"
    assert await models_command(None, _args(str(repository), "--onnx", f"colours=onnx://{classifier}")) == 0
    out = capsys.readouterr().out
    assert out.strip() == describe(repository)
    assert out.splitlines()[1:] == [
        "├── colours/",
        "│   ├── 1/",
        f"│   │   └── model.onnx  ({classifier.stat().st_size} B)",
        f"│   └── config.pbtxt  ({(repository / 'colours' / 'config.pbtxt').stat().st_size} B)",
        f"└── {EMBEDDER_NAME}/",
        "    ├── 1/",
        "    │   └── model.onnx  (13.5 MB)",
        f"    └── config.pbtxt  ({(repository / EMBEDDER_NAME / 'config.pbtxt').stat().st_size} B)",
        "",
        "4 directories, 4 files",
    ]

    assert await models_command(None, _args(str(repository), "--no-embedder", "--onnx", "c")) == 1
    assert "NAME=PATH" in capsys.readouterr().err
    assert await models_command(None, _args(str(repository), "--onnx", f"x={classifier}")) == 1
    assert f"{repository / EMBEDDER_NAME} exists" in capsys.readouterr().err
    assert (
        await models_command(
            None,
            _args(
                str(repository), "--overwrite", "--no-embedder", "--gpu", "--onnx", f"colours={classifier}"
            ),
        )
        == 0
    )
    assert one(read_config(repository, "colours")["instance_group"][0], "kind") == "KIND_GPU"
