"""Models on a real Open Inference server: NVIDIA PyTriton (Triton Inference Server 2.51, in its own
environment .venv-triton, made here on first use from requirements-triton.txt; skipped only where
its wheel cannot install). The same pictures through local ONNX and through the server give the
same boxes, labels and scores; records naming what the server lacks are refused at insert; each
fault is named, and nothing is saved. Faults Triton cannot be made to commit (NaN scores, a batch
of another size, a missing output, silence) come from a small v2 server on loopback."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

from model_inference import open_inference
from model_inference.http import ModelClient
from model_inference.local.lazy import EMBEDDER
from model_inference.models import ModelSpec
from tests.conftest import ROOT, free_port, run_nachet
from tests.test_inference import pipeline, post, register
from tests.test_learning import png_url
from tests.test_onnx_models import LABELS, colour_classifier, constant_detector, tray

VENV = ROOT / ".venv-triton"
REQUIREMENTS = ROOT / "requirements-triton.txt"
BOXES = [[20 / 300, 20 / 200, 100 / 300, 80 / 200], [180 / 300, 120 / 200, 280 / 300, 180 / 200]]


def triton_python() -> Path:
    """The PyTriton environment's interpreter, installed once (its requirements' text marks it)."""
    python, marker = VENV / "bin" / "python", VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"no virtualenv for PyTriton: {made.stderr[-500:]}")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=1200)
    if installed.returncode != 0:
        pytest.skip(f"the PyTriton wheel did not install here: {installed.stderr[-800:]}")
    marker.write_text(wanted)
    return python


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oip-models")
    return {
        "detector": constant_detector(folder / "det.onnx", BOXES, [0.95, 0.9]),
        "classifier": colour_classifier(folder / "cls.onnx"),
    }


@pytest.fixture(scope="module")
def triton(onnx_files, tmp_path_factory):
    """PyTriton on loopback serving the tiny detector and classifier (FP32 and encoded crops) and
    the built-in EfficientNet-Lite0 embedder."""
    python = triton_python()
    port = free_port()
    models = [
        f"det=detector-fp32:{onnx_files['detector']}",
        f"cls=classifier-fp32:{onnx_files['classifier']}",
        f"clsb=classifier-bytes:{onnx_files['classifier']}",
        f"clsr=classifier-regions:{onnx_files['classifier']}",
        f"embedder=embedder-fp32:{EMBEDDER}",
    ]
    command = [str(python), str(ROOT / "testkit" / "open_inference_server.py"), "--http-port", str(port)]
    for entry in models:
        command += ["--model", entry]
    log = (tmp_path_factory.mktemp("triton") / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # `ready URL` once every model loaded; EOF if it stopped
        if not line.startswith("ready "):
            server.wait(30)
            log.flush()
            raise AssertionError(
                f"PyTriton did not start (exit {server.returncode}): {Path(log.name).read_text()[-3000:]}"
            )
        yield line.split()[1]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(30)
        log.close()


def record(name: str, task: str, endpoint: str, settings: dict) -> dict:
    return {
        "task": task,
        "endpoint": endpoint,
        "api_key": "",
        "content_type": "application/json",
        "deployment_platform": "",
        "endpoint_name": name,
        "model_name": name,
        "created_by": "tests",
        "creation_date": "2024-01-01",
        "version": 1,
        "description": "",
        "job_name": "",
        "dataset_description": "",
        "accuracy": 0.9,
        "protocol": "open-inference",
        "open_inference": settings,
    }


DETECTOR = {
    "model": "det",
    "input": {"name": "input", "datatype": "FP32", "size": [64, 64]},
    "outputs": {"boxes": "boxes", "scores": "scores"},
    "box_format": "normalized",
}
CLASSIFIER = {
    "model": "cls",
    "input": {"name": "input", "datatype": "FP32", "size": [32, 32], "mean": [0, 0, 0], "std": [1, 1, 1]},
    "outputs": {"scores": "probabilities"},
    "labels": LABELS,
}
CLASSIFIER_BYTES = {
    "model": "clsb",
    "input": {"name": "image", "datatype": "BYTES"},
    "outputs": {"scores": "probabilities"},
}


CLASSIFIER_REGIONS = {  # the server cuts the crops: the worker sends the picture and the boxes
    "model": "clsr",
    "input": {"name": "image", "datatype": "BYTES"},
    "boxes_input": "boxes",
    "outputs": {"scores": "probabilities"},
    "labels": LABELS,
}


def local(name: str, task: str, path: Path, protocol: str) -> dict:
    entry = record(name, task, f"onnx://{path}", {})
    entry.update(protocol=protocol)
    del entry["open_inference"]
    return entry


async def inferred(client, user, pipeline_name: str, image) -> tuple[int, dict]:
    body = {
        "model_name": pipeline_name,
        "image": png_url(image),
        "imageDims": [300, 200],
        "folder_name": "General",
        "container_name": str(user),
    }
    return await post(client, body)


async def test_the_same_picture_local_and_on_triton_gives_the_same_answer(
    services, tmp_path, client, user, triton, onnx_files
):
    tag = uuid.uuid4().hex[:6]
    names = {k: f"{k}-{tag}" for k in ("local", "fp32", "bytes", "regions")}
    models = [
        local(f"det-local-{tag}", "Object Detection", onnx_files["detector"], "onnx-detector"),
        local(f"cls-local-{tag}", "Classification", onnx_files["classifier"], "onnx-classifier"),
        record(f"det-oip-{tag}", "Object Detection", triton, DETECTOR),
        record(f"cls-oip-{tag}", "Classification", triton, CLASSIFIER),
        record(f"clsb-oip-{tag}", "Classification", triton, CLASSIFIER_BYTES),  # labels: the server's
        record(f"clsr-oip-{tag}", "Classification", triton, CLASSIFIER_REGIONS),
    ]
    await register(
        services,
        tmp_path,
        models,
        [
            pipeline(names["local"], [f"det-local-{tag}", f"cls-local-{tag}"]),
            pipeline(names["fp32"], [f"det-oip-{tag}", f"cls-oip-{tag}"]),
            pipeline(names["bytes"], [f"det-oip-{tag}", f"clsb-oip-{tag}"]),
            pipeline(names["regions"], [f"det-oip-{tag}", f"clsr-oip-{tag}"]),
        ],
    )
    image = tray()
    answers = {}
    for kind, name in names.items():
        status, body = await inferred(client, user, name, image)
        assert status == 200, (kind, body)
        answers[kind] = body["boxes"]
    reference = answers["local"]
    assert [b["label"] for b in reference] == ["000 Brassica napus", "008 Lolium temulentum"]
    # in-process models measure each seed on the pixels they decoded; remote ones only when a
    # scale asks for millimetres: the worker that crops for them does not measure for nothing
    assert all(b.get("measurements") for b in reference)
    assert not any(b.get("measurements") for kind in ("fp32", "bytes", "regions") for b in answers[kind])
    for kind in ("fp32", "bytes", "regions"):
        boxes = answers[kind]
        assert [b["box"] for b in boxes] == [b["box"] for b in reference], kind
        assert [b["label"] for b in boxes] == [b["label"] for b in reference], kind
        for ours, theirs in zip(boxes, reference):
            assert [t["label"] for t in ours["topN"]] == [t["label"] for t in theirs["topN"]]
            assert np.allclose(
                [t["score"] for t in ours["topN"]], [t["score"] for t in theirs["topN"]], atol=1e-4
            )


async def test_the_built_in_embedder_on_triton_matches_the_local_one(triton):
    """Real seed crops through the served EfficientNet-Lite0: the same vectors within 1e-4."""
    import cv2

    from model_inference.local.features import Embedder

    pictures = sorted((ROOT.parent / "shared" / "data" / "real-seeds").rglob("*.jpg"))[:3] or [None]
    crops = [cv2.imread(str(p)) if p is not None else tray() for p in pictures]
    settings = {
        "model": "embedder",
        "input": {
            "name": "input",
            "datatype": "FP32",
            "size": [224, 224],
            "mean": [127] * 3,
            "std": [128] * 3,
            "scale": 1,
        },
        "outputs": {"scores": "embedding"},
    }
    spec = ModelSpec(
        "embedder", 1, triton, "", protocol="open-inference", task="Classification",
        options=open_inference.settings_of(settings, "Classification"),
    )  # fmt: skip
    client = ModelClient(5, 60)
    try:
        tensors = await open_inference.infer(client, spec, open_inference.prepared(spec.options, crops))
    finally:
        await client.aclose()
    remote = tensors["embedding"]
    remote = remote / np.linalg.norm(remote, axis=1, keepdims=True)
    assert remote.shape == (len(crops), 1280)
    assert np.abs(remote - Embedder().embed(crops)).max() < 1e-4


def pipeline_file(tmp_path: Path, models: list[dict]) -> str:
    path = tmp_path / f"oip-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": "0.1.0",
                "date": "2026-12-07",
                "models": models,
                "pipelines": [pipeline(f"p-{uuid.uuid4().hex[:6]}", [m["model_name"] for m in models])],
            }
        )
    )
    return str(path)


def test_a_record_the_server_contradicts_is_refused_at_insert(tmp_path, triton):
    env = {"NACHET_DATA_DIR": str(tmp_path / "data")}
    wrong_input = {**CLASSIFIER, "input": {**CLASSIFIER["input"], "name": "pixels"}}
    wrong_output = {**DETECTOR, "outputs": {"boxes": "boxes", "scores": "confidence"}}
    bytes_as_fp32 = {**CLASSIFIER, "model": "clsb"}
    cases = [
        (
            record("c1", "Classification", triton, wrong_input),
            "input tensor pixels is not among the model's inputs (input)",
        ),
        (
            record("d1", "Object Detection", triton, wrong_output),
            "scores output tensor confidence is not among",
        ),
        (
            record("c3", "Classification", triton, bytes_as_fp32),
            "input tensor input is not among the model's inputs (image)",
        ),
        (
            record("c4", "Classification", triton, {**CLASSIFIER, "model": "absent"}),
            "model c4 is not on its server",
        ),
        (record("c5", "Classification", "http://127.0.0.1:9", CLASSIFIER), "model c5 is unreachable"),
        (
            record("c7", "Classification", triton, {**CLASSIFIER_REGIONS, "boxes_input": "corners"}),
            "boxes input tensor corners is not among the model's inputs (image, boxes)",
        ),
        (
            record("c8", "Classification", triton, {**CLASSIFIER_REGIONS, "boxes_input": "image"}),
            "model c8: open_inference: Value error, boxes_input must name another tensor than input",
        ),
    ]
    for entry, message in cases:
        refused = run_nachet(env, "pipelines", "insert", pipeline_file(tmp_path, [entry]))
        assert refused.returncode == 1 and message in refused.stderr, (message, refused.stderr)
    listed = run_nachet(env, "pipelines", "list")
    assert not any(name in listed.stdout for name in ("c1", "d1", "c3", "c4", "c5", "c7", "c8")), (
        listed.stdout
    )
    bad_settings = record(
        "c6", "Classification", triton, {**CLASSIFIER, "input": {"name": "input", "datatype": "FP32"}}
    )
    refused = run_nachet(env, "pipelines", "insert", pipeline_file(tmp_path, [bad_settings]))
    assert (
        refused.returncode == 1
        and "model c6: open_inference.input: Value error, an FP32 input needs its size" in refused.stderr
    )
    accepted = run_nachet(
        env,
        "pipelines",
        "insert",
        pipeline_file(tmp_path, [record("ok", "Classification", triton, CLASSIFIER)]),
    )
    assert accepted.returncode == 0, accepted.stderr


# -- faults ----------------------------------------------------------------------------------------------
def answer(fault: str, rows: int) -> tuple[int, bytes, dict[str, str]]:
    """What the misbehaving server answers an infer of `rows` crops: status, body, headers."""
    if fault == "not-ready":
        return 503, json.dumps({"error": "model cls is not ready"}).encode(), {}
    scores, name = np.tile(np.float32([0.2, 0.3, 0.5]), (rows, 1)), "probabilities"
    if fault == "nan":
        scores[0, 0] = np.nan
    elif fault == "batch":
        scores = np.tile(np.float32([0.2, 0.3, 0.5]), (rows + 1, 1))
    elif fault == "missing":
        name = "logits"
    elif fault == "classes":
        scores = np.tile(np.float32([0.1, 0.2, 0.3, 0.4]), (rows, 1))
    elif fault == "size":  # a shape its values do not fill
        scores = scores[:, :2]
    shape = [rows, 3] if fault == "size" else list(scores.shape)
    data = scores.astype("<f4").tobytes()
    output = {"name": name, "datatype": "FP32", "shape": shape, "parameters": {"binary_data_size": len(data)}}
    head = json.dumps({"outputs": [output]}).encode()
    return 200, head + data, {"Inference-Header-Content-Length": str(len(head))}


class Misbehaving:
    """A v2 server on loopback answering metadata as the record expects, and each infer as told."""

    def __init__(self):
        self.fault = "nan"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._send(200, json.dumps({"name": "cls", "inputs": [], "outputs": []}).encode())

            def do_POST(self):
                length = int(self.headers["Inference-Header-Content-Length"])
                head = json.loads(self.rfile.read(int(self.headers["Content-Length"]))[:length])
                rows = head["inputs"][-1]["shape"][0]  # crops; or the boxes, after the picture
                if server.fault == "silence":
                    time.sleep(4)  # the test's read timeout is 2 s
                    self.close_connection = True
                    return
                self._send(*answer(server.fault, rows))

            def _send(self, status, body, headers=None):
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/octet-stream" if headers else "application/json"
                )
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

            def handle(self):
                with contextlib.suppress(ConnectionError):  # the client gave up on the silent one
                    super().handle()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def settings(data_root):
    """This module's services wait 2 s for a model (the silent one), not a minute."""
    from nachet.config import load_settings
    from tests.conftest import SCHEMA

    env = {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_MODEL_READ_TIMEOUT": "2"}
    return load_settings(env, dotenv=False)


@pytest.fixture
def misbehaving():
    server = Misbehaving()
    yield server
    server.close()


async def test_each_fault_is_named_and_nothing_is_saved(
    services, tmp_path, client, user, triton, onnx_files, misbehaving
):
    tag = uuid.uuid4().hex[:6]
    detector = local(f"det-{tag}", "Object Detection", onnx_files["detector"], "onnx-detector")
    faulty = record(
        f"cls-bad-{tag}", "Classification", misbehaving.url, {**CLASSIFIER, "model": "cls", "binary": True}
    )
    absent = record(f"cls-absent-{tag}", "Classification", triton, {**CLASSIFIER, "model": "absent"})
    down = record(f"cls-down-{tag}", "Classification", "http://127.0.0.1:9", CLASSIFIER)
    regions = record(
        f"clsr-bad-{tag}", "Classification", misbehaving.url, {**CLASSIFIER_REGIONS, "model": "cls"}
    )
    names = {"faulty": f"faulty-{tag}", "absent": f"absent-{tag}", "down": f"down-{tag}"}
    names["regions"] = f"regions-{tag}"
    await register(
        services,
        tmp_path,
        [detector, faulty, absent, down, regions],
        [
            pipeline(names["regions"], [detector["model_name"], regions["model_name"]]),
            pipeline(names["faulty"], [detector["model_name"], faulty["model_name"]]),
            pipeline(names["absent"], [detector["model_name"], absent["model_name"]]),
            pipeline(names["down"], [detector["model_name"], down["model_name"]]),
        ],
    )
    async with services.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM picture")
    image = tray()
    table = []
    for fault, expected in [
        ("nan", (502, "answered a bad tensor: output probabilities has a value that is not finite")),
        ("batch", (502, "answered 3 rows of scores for 2 crops")),
        ("missing", (502, "answered without its scores output (probabilities)")),
        ("classes", (502, "has 3 labels for 4 classes")),
        ("size", (502, "answered a bad tensor: output probabilities has 4 values for shape [2, 3]")),
        ("not-ready", (503, "is not ready on its server (HTTP 503")),
        ("silence", (504, "did not answer in time")),
    ]:
        misbehaving.fault = fault
        status, body = await inferred(client, user, names["faulty"], image)
        table.append((fault, status, body[0]))
        assert status == expected[0] and expected[1] in body[0] and f"cls-bad-{tag}" in body[0], (fault, body)
    misbehaving.fault = "batch"  # a server that crops, answering a row more than it got boxes
    status, body = await inferred(client, user, names["regions"], image)
    assert status == 502 and f"model clsr-bad-{tag} answered 3 rows of scores for 2 crops" in body[0], body
    status, body = await inferred(client, user, names["absent"], image)
    assert status == 502 and f"model cls-absent-{tag} is not on its server (HTTP 404" in body[0], body
    status, body = await inferred(client, user, names["down"], image)
    assert status == 502 and f"model cls-down-{tag} is unreachable (connection refused)" in body[0], body
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM picture") == before
    print("\n" + "\n".join(f"{fault:10s} {status} {message}" for fault, status, message in table))


async def test_ready_asks_each_remote_model_of_the_default_pipeline(
    services, tmp_path, client, triton, onnx_files
):
    tag = uuid.uuid4().hex[:6]
    detector = local(f"det-{tag}", "Object Detection", onnx_files["detector"], "onnx-detector")
    served = record(f"cls-{tag}", "Classification", triton, CLASSIFIER)
    absent = record(f"cls-absent-{tag}", "Classification", triton, {**CLASSIFIER, "model": "absent"})
    previous = services.pipelines.default
    services.models_warm.set()  # the built-in models: not this test's
    try:
        await register(
            services,
            tmp_path,
            [detector, served],
            [pipeline(f"ready-{tag}", [detector["model_name"], served["model_name"]], default=True)],
        )
        answer = await client.get("/ready")
        assert answer.status_code == 200, await answer.get_json()
        await register(
            services,
            tmp_path,
            [detector, absent],
            [pipeline(f"unready-{tag}", [detector["model_name"], absent["model_name"]], default=True)],
        )
        answer = await client.get("/ready")
        body = await answer.get_json()
        assert (
            answer.status_code == 503
            and f"model cls-absent-{tag} is not ready on its server" in body["failing"]["remote_models"]
        )
    finally:
        if previous is not None:
            from datastore.queries.pipelines import set_default

            async with services.pool.acquire() as conn:
                await set_default(conn, previous.name)
            await services.pipelines.reload()


# -- answers no server should give: each a 502 naming the model, never a Python error -------------------
def binary(outputs: list[dict], data: bytes) -> tuple[dict[str, str], bytes]:
    head = json.dumps({"outputs": outputs}).encode()
    return {"Inference-Header-Content-Length": str(len(head))}, head + data


SPEC = ModelSpec("m", 1, "http://127.0.0.1:9", "", protocol="open-inference", task="Classification")
GOOD = {"name": "p", "datatype": "FP32", "shape": [1, 2]}
MALFORMED = {
    "header longer than the body": ({"Inference-Header-Content-Length": "9999"}, b'{"outputs": []}'),
    "header negative": ({"Inference-Header-Content-Length": "-4"}, b'{"outputs": []}'),
    "parameters a list": binary([{**GOOD, "parameters": [1]}], b""),
    "size negative": binary([{**GOOD, "parameters": {"binary_data_size": -4}}], np.float32([1, 2]).tobytes()),
    "size past the body": binary(
        [{**GOOD, "parameters": {"binary_data_size": 80}}], np.float32([1, 2]).tobytes()
    ),
    "shape a string": ({}, json.dumps({"outputs": [{**GOOD, "shape": "12", "data": [1, 2]}]}).encode()),
    "shape negative": ({}, json.dumps({"outputs": [{**GOOD, "shape": [-1, 2], "data": [1, 2]}]}).encode()),
    "INT8 out of range": (
        {},
        json.dumps({"outputs": [{**GOOD, "datatype": "INT8", "data": [300, 1]}]}).encode(),
    ),
    "no datatype": ({}, json.dumps({"outputs": [{"name": "p", "shape": [1, 2], "data": [1, 2]}]}).encode()),
    "BYTES": ({}, json.dumps({"outputs": [{**GOOD, "datatype": "BYTES", "data": ["a", "b"]}]}).encode()),
    "too few values": ({}, json.dumps({"outputs": [{**GOOD, "data": [1]}]}).encode()),
    "not JSON": ({}, b"<html>"),
    "outputs missing": ({}, b"{}"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_answer_is_a_named_502(case):
    from kernel.errors import UpstreamError

    headers, content = MALFORMED[case]
    with pytest.raises(UpstreamError) as refused:
        open_inference.read_outputs(SPEC, headers, content)
    assert refused.value.status == 502 and refused.value.args[0].startswith("model m answered "), (
        refused.value.args
    )


def test_malformed_metadata_and_tensors_are_named():
    from kernel.errors import UpstreamError

    settings = open_inference.settings_of(CLASSIFIER, "Classification")
    assert open_inference.labels_of({"parameters": ["x"]}) is None
    assert open_inference.labels_of({"parameters": {"labels": {"string_value": '["a", "b"]'}}}) == ("a", "b")
    found = {
        "inputs": [{"name": "input", "datatype": "FP32"}],
        "outputs": [{"name": "probabilities", "shape": 5}],
    }
    assert open_inference.mismatches(settings, "Classification", found) == []
    spec = ModelSpec("m", 1, "", "", protocol="open-inference", task="Classification", options=settings)
    for tensors, count, message in [
        ({"probabilities": np.zeros((2, 0), np.float32)}, 2, "answered no class scores"),
        ({"probabilities": np.zeros((3, 3), np.float32)}, 2, "answered 3 rows of scores for 2 crops"),
    ]:
        with pytest.raises(UpstreamError, match=message):
            open_inference.classifier_answers(spec, tensors, count, LABELS)
    detector = ModelSpec(
        "d", 1, "", "", protocol="open-inference", task="Object Detection",
        options=open_inference.settings_of({**DETECTOR, "outputs": {**DETECTOR["outputs"], "labels": "labels"}}, "Object Detection"),
    )  # fmt: skip
    boxes = np.float32([[0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.4, 0.4]])
    for tensors, message in [
        ({"boxes": np.float32(1.0), "scores": np.float32([0.9])}, "boxes for 1 scores"),
        (
            {"boxes": boxes, "scores": np.float32([0.9, 0.8]), "labels": np.int64([0])},
            "answered 1 labels for 2 boxes",
        ),
    ]:
        with pytest.raises(UpstreamError, match=message):
            open_inference.detector_boxes(detector, tensors, (100, 100, 3), LABELS)


def test_a_classifier_that_crops_gets_the_picture_once_and_the_boxes():
    settings = open_inference.settings_of(CLASSIFIER_REGIONS, "Classification")
    boxes = np.float32([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.9, 0.8]])
    body, headers = open_inference.request_body(settings, [b"JPEG"], boxes)
    size = int(headers[open_inference.HEADER_LENGTH])
    head = json.loads(body[:size])
    assert [(t["name"], t["datatype"], t["shape"]) for t in head["inputs"]] == [
        ("image", "BYTES", [1]),
        ("boxes", "FP32", [2, 4]),
    ]
    assert [t["parameters"]["binary_data_size"] for t in head["inputs"]] == [8, 32]
    assert body[size:] == (4).to_bytes(4, "little") + b"JPEG" + boxes.astype("<f4").tobytes()
    found = {
        "inputs": [{"name": "image", "datatype": "BYTES"}, {"name": "boxes", "datatype": "FP16"}],
        "outputs": [{"name": "probabilities"}],
    }
    assert open_inference.mismatches(settings, "Classification", found) == [
        "boxes input tensor boxes is FP16, not FP32"
    ]
    for record_, task, message in [
        ({**CLASSIFIER, "boxes_input": "boxes"}, "Classification", "boxes_input needs the picture as a BYTES"),
        ({**DETECTOR, "input": {"name": "i", "datatype": "BYTES"}, "boxes_input": "b"}, "Object Detection",
         "open_inference.boxes_input: only a classifier takes boxes"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            open_inference.settings_of(record_, task)
