"""ONNX models served over the Open Inference Protocol (KServe v2 REST) by NVIDIA PyTriton, for tests.

    python testkit/open_inference_server.py --http-port P [--grpc-port G] [--metrics-port M] \
        --model NAME=KIND:PATH [--model ...] [--workspace DIR]

Everything binds 127.0.0.1; gRPC and metrics are off unless their port is given, so parallel runs
only need one free port each. Prints `ready http://127.0.0.1:P` on stdout once /v2/health/ready
answers 200 (Triton's and PyTriton's logs go to stderr: drain or redirect it). SIGTERM/SIGINT stop
it in ~4-5 s (models unloaded, workspace removed; at most 15 s, then it exits anyway); one that
comes during start-up is acted on once the models are loaded (~2 s a model), without `ready`.

KIND:
  classifier-fp32  input `input` FP32 [-1,3,H,W] -> `probabilities` FP32 [-1,K]
  classifier-bytes input `image` BYTES [-1,1] (encoded PNG/JPEG; base64 text also accepted, since
                   Triton's JSON has no binary strings) -> `probabilities` FP32 [-1,K]
  classifier-regions  inputs `image` BYTES [1] (one encoded picture) and `boxes` FP32 [N,4] (topX,
                   topY, bottomX, bottomY as fractions) -> `probabilities` FP32 [N,K]: the server cuts
                   the crops (int truncation, at least one pixel: model_inference/pixels.crop_fraction)
                   and classifies them as classifier-bytes does; not batched across requests
  detector-fp32    input `input` FP32 [-1,3,H,W] -> `boxes` FP32 [-1,-1,4], `scores` FP32 [-1,-1]
                   (rows of one request padded with zero boxes of score 0 to the longest row)
  embedder-fp32    input `input` FP32 [-1,3,H,W] -> `embedding` FP32 [-1,D]
The ONNX metadata `labels` (JSON list), if any, is published as the model config parameter
`labels` (GET /v2/models/NAME/config -> parameters.labels.string_value).

Needs its own environment (PyTriton 0.7.0's Python backend stub breaks on numpy 2):
    pip install nvidia-pytriton==0.7.0 numpy==1.26.4 onnxruntime==1.32.0 onnx==1.23.2 \
        pillow==13.0.0 opencv-python-headless==4.11.0.86
Preprocessing of `classifier-bytes` mirrors model_inference/local/onnx_models.py (`to_tensor`,
softmax rule of `ranked`); it is copied, not imported, so the script runs outside the app's env.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import signal
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

KINDS = ("classifier-fp32", "classifier-bytes", "classifier-regions", "detector-fp32", "embedder-fp32")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
MAX_BATCH = 64
QUEUE_DELAY_US = 2000
STOP_BUDGET_S = 15


def _own_libpython_first() -> None:
    """The Python backend stub links libpython3.X.so from the loader's search path: without this the
    system's (older) one is found and the models fail to load (`_thread.RLock` has no
    `_recursion_count`). PyTriton copies os.environ when it starts tritonserver, so setting it here,
    before Triton() starts, is enough."""
    libdir = sysconfig.get_config_var("LIBDIR")
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and not current.startswith(libdir):
        os.environ["LD_LIBRARY_PATH"] = libdir + (":" + current if current else "")


def _softmax(x):
    import numpy as np

    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _probabilities(scores):
    """Rows left as they are if they already are probabilities, else softmaxed (onnx_models.ranked)."""
    import numpy as np

    if not np.allclose(scores.sum(1), 1.0, atol=1e-3) or (scores < 0).any():
        scores = _softmax(scores)
    return scores.astype(np.float32)


class OnnxRunner:
    """One ONNX Runtime CPU session on one thread, and the metadata the served model needs."""

    def __init__(self, path: Path):
        import numpy as np
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.input = self.session.get_inputs()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]
        shape = self.input.shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.served_hw = [d if isinstance(d, int) else -1 for d in shape[2:4]]
        self.height = shape[2] if isinstance(shape[2], int) else 224
        self.width = shape[3] if isinstance(shape[3], int) else 224
        mean = json.loads(meta["input_mean"]) if "input_mean" in meta else IMAGENET_MEAN
        std = json.loads(meta["input_std"]) if "input_std" in meta else IMAGENET_STD
        self.mean, self.std = np.array(mean, np.float32), np.array(std, np.float32)
        self.labels = list(json.loads(meta["labels"])) if "labels" in meta else []
        self.lock = threading.Lock()

    def run(self, batch):
        """All outputs for a batch; one item at a time when the graph's batch dimension is fixed."""
        import numpy as np

        with self.lock:
            if self.fixed_batch is None:
                return self.session.run(None, {self.input.name: batch})
            rows = [self.session.run(None, {self.input.name: batch[i : i + 1]}) for i in range(len(batch))]
        return [np.concatenate([r[k] for r in rows]) for k in range(len(self.outputs))]

    def prepare(self, crops):
        """float32[N,3,H,W] of BGR crops as onnx_models.to_tensor: area resize, RGB, /255, (x-mean)/std."""
        import cv2
        import numpy as np

        batch = []
        for crop in crops:
            rgb = cv2.cvtColor(
                cv2.resize(crop, (self.width, self.height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
            ).astype(np.float32)
            rgb /= 255.0
            batch.append((rgb - self.mean) / self.std)
        return np.stack(batch).transpose(0, 3, 1, 2).astype(np.float32)


def _decode(blob) -> object:
    """BGR pixels of an encoded picture: raw PNG/JPEG bytes, or the same as base64 text."""
    import cv2
    import numpy as np

    data = bytes(blob)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if pixels is None:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        pixels = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
    if pixels is None:
        raise ValueError("input `image`: an element is not a PNG/JPEG picture (raw bytes or base64)")
    return pixels


def _crop_fraction(pixels, box):
    """The crop of a box given as fractions of the frame (at least 1 pixel), as the app cuts it."""
    h, w = pixels.shape[:2]
    x0, y0 = min(w - 1, max(0, int(box[0] * w))), min(h - 1, max(0, int(box[1] * h)))
    x1, y1 = max(x0 + 1, min(w, int(box[2] * w))), max(y0 + 1, min(h, int(box[3] * h)))
    return pixels[y0:y1, x0:x1]


def _detect_function(runner: OnnxRunner):
    """detector-fp32: each picture run alone, rows padded to the longest."""
    import numpy as np

    def detect(requests):
        answers = []
        for request in requests:
            rows = []
            for item in request["input"]:
                named = dict(zip(runner.outputs, runner.run(item[None])))
                boxes = np.asarray(named.get("boxes", list(named.values())[0]), np.float32).reshape(-1, 4)
                scores = np.asarray(named.get("scores", list(named.values())[1]), np.float32).reshape(-1)
                rows.append((boxes, scores))
            longest = max((len(s) for _, s in rows), default=0)
            boxes = np.zeros((len(rows), longest, 4), np.float32)
            scores = np.zeros((len(rows), longest), np.float32)
            for i, (b, s) in enumerate(rows):
                boxes[i, : len(b)], scores[i, : len(s)] = b, s
            answers.append({"boxes": boxes, "scores": scores})
        return answers

    return detect


def _regions_function(runner: OnnxRunner, first_output):
    """classifier-regions: each request's picture decoded once, its boxes cut and classified."""
    import numpy as np

    def classify_regions(requests):
        answers = []
        for request in requests:
            pixels = _decode(request["image"].ravel()[0])
            crops = [_crop_fraction(pixels, box) for box in request["boxes"].reshape(-1, 4)]
            if crops:
                scores = _probabilities(first_output(runner.prepare(crops)))
            else:
                scores = np.zeros((0, len(runner.labels)), np.float32)
            answers.append({"probabilities": scores})
        return answers

    return classify_regions


def _infer_function(kind: str, runner: OnnxRunner):
    """A PyTriton callable taking the requests the dynamic batcher gathered; answers one per request."""
    import numpy as np

    def batched(requests, name, compute):
        arrays = [request[name] for request in requests]
        sizes = [len(a) for a in arrays]
        results = compute(np.concatenate(arrays))
        answers, start = [], 0
        for size in sizes:
            answers.append({key: value[start : start + size] for key, value in results.items()})
            start += size
        return answers

    def first_output(x):
        return runner.run(x)[0].reshape(len(x), -1).astype(np.float32)

    if kind == "classifier-fp32":
        return lambda requests: batched(
            requests, "input", lambda x: {"probabilities": _probabilities(first_output(x))}
        )
    if kind == "embedder-fp32":
        return lambda requests: batched(requests, "input", lambda x: {"embedding": first_output(x)})
    if kind == "classifier-bytes":

        def classify_pictures(blobs):
            return {
                "probabilities": _probabilities(
                    first_output(runner.prepare([_decode(b) for b in blobs.ravel()]))
                )
            }

        return lambda requests: batched(requests, "image", classify_pictures)
    if kind == "classifier-regions":
        return _regions_function(runner, first_output)

    return _detect_function(runner)


def _tensors(kind: str, runner: OnnxRunner):
    import numpy as np
    from pytriton.model_config import Tensor

    picture = (3, *runner.served_hw)
    if kind == "classifier-bytes":
        inputs = [Tensor(name="image", dtype=bytes, shape=(1,))]
    elif kind == "classifier-regions":  # not batched: these are whole shapes
        inputs = [
            Tensor(name="image", dtype=bytes, shape=(1,)),
            Tensor(name="boxes", dtype=np.float32, shape=(-1, 4)),
        ]
    else:
        inputs = [Tensor(name="input", dtype=np.float32, shape=picture)]
    outputs = {
        "classifier-fp32": [Tensor(name="probabilities", dtype=np.float32, shape=(-1,))],
        "classifier-bytes": [Tensor(name="probabilities", dtype=np.float32, shape=(-1,))],
        "classifier-regions": [Tensor(name="probabilities", dtype=np.float32, shape=(-1, -1))],
        "embedder-fp32": [Tensor(name="embedding", dtype=np.float32, shape=(-1,))],
        "detector-fp32": [
            Tensor(name="boxes", dtype=np.float32, shape=(-1, 4)),
            Tensor(name="scores", dtype=np.float32, shape=(-1,)),
        ],
    }[kind]
    return inputs, outputs


def _publish_labels(triton, name: str, labels: list[str]) -> bool:
    """Labels as the model config parameter `labels`: PyTriton has no public way, so its model's cached
    Triton config (backend parameters, written to config.pbtxt at load) gets one more entry."""
    try:
        model = next(m for m in triton._model_manager.models if m.model_name == name)
        model._get_triton_model_config().backend_parameters["labels"] = json.dumps(labels)
        return True
    except Exception as error:  # a PyTriton whose internals moved: serve without them
        print(f"labels of {name} not published: {error!r}", file=sys.stderr)
        return False


def _model_spec(text: str) -> tuple[str, str, Path]:
    name, sep, rest = text.partition("=")
    kind, sep2, path = rest.partition(":")
    if not (sep and sep2 and name and path) or kind not in KINDS:
        kinds = ", ".join(KINDS)
        raise argparse.ArgumentTypeError(f"--model wants NAME=KIND:PATH with KIND in {kinds}: {text!r}")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"ONNX model not found: {path}")
    return name, kind, Path(path)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, default=0, help="0 (default): gRPC off")
    parser.add_argument("--metrics-port", type=int, default=0, help="0 (default): metrics off")
    parser.add_argument("--model", type=_model_spec, action="append", required=True, metavar="NAME=KIND:PATH")
    parser.add_argument("--workspace", type=Path, help="a folder PyTriton may create (default: a temp one)")
    parser.add_argument("--start-timeout", type=float, default=120.0)
    return parser.parse_args(argv)


def _triton_config(args: argparse.Namespace):
    """Loopback only; gRPC and metrics only when given a port."""
    from pytriton.triton import TritonConfig

    return TritonConfig(
        http_address="127.0.0.1",
        http_port=args.http_port,
        allow_grpc=bool(args.grpc_port),
        grpc_address="127.0.0.1" if args.grpc_port else None,
        grpc_port=args.grpc_port or None,
        allow_metrics=bool(args.metrics_port),
        allow_gpu_metrics=False if args.metrics_port else None,
        metrics_address="127.0.0.1" if args.metrics_port else None,
        metrics_port=args.metrics_port or None,
        exit_timeout_secs=5,  # unloading a model (its stub) takes ~2 s; fewer leaves /tmp/folder* behind
        log_verbose=0,
    )


def _bind(triton, name: str, kind: str, path: Path) -> None:
    from pytriton.model_config import DynamicBatcher, ModelConfig

    runner = OnnxRunner(path)
    inputs, outputs = _tensors(kind, runner)
    triton.bind(
        model_name=name,
        infer_func=_infer_function(kind, runner),
        inputs=inputs,
        outputs=outputs,
        config=ModelConfig(batching=False)
        if kind == "classifier-regions"
        else ModelConfig(
            batching=True,
            max_batch_size=MAX_BATCH,
            batcher=DynamicBatcher(max_queue_delay_microseconds=QUEUE_DELAY_US),
        ),
        strict=True,
    )
    if runner.labels:
        _publish_labels(triton, name, runner.labels)


def _serve(triton, url: str, start_timeout: float, stop: threading.Event, ready_out) -> int:
    """Start, say `ready` once /v2/health/ready is 200, then wait for a signal (0) or a crash (1)."""
    triton.run()  # a signal now is only acted on once it returns (PyTriton holds its lock meanwhile)
    deadline = time.monotonic() + start_timeout
    while not stop.is_set() and not _ready(url):
        if not triton.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{url}/v2/health/ready never answered 200")
        time.sleep(0.1)
    if not stop.is_set():
        print(f"ready {url}", file=ready_out, flush=True)
    while not stop.wait(0.5):
        if not triton.is_alive():
            print("open_inference_server: tritonserver or a model stopped", file=sys.stderr)
            return 1
    return 0


def _stop(triton, code: int) -> None:
    print(f"open_inference_server: stopping at {time.time():.3f}", file=sys.stderr, flush=True)
    stopper = threading.Thread(target=triton.stop, daemon=True)
    stopper.start()
    stopper.join(STOP_BUDGET_S)
    if stopper.is_alive():
        print(f"open_inference_server: PyTriton did not stop in {STOP_BUDGET_S} s", file=sys.stderr)
        sys.stderr.flush()
        os._exit(code or 1)  # tritonserver has PDEATHSIG=SIGTERM and goes with this process


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _own_libpython_first()
    ready_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # PyTriton prints tritonserver's log lines: keep stdout for `ready`

    from pytriton.triton import Triton

    scratch = None
    if args.workspace is None:  # short path: the sockets PyTriton puts there must fit in 107 bytes
        scratch = tempfile.TemporaryDirectory(prefix="oip-")
        args.workspace = Path(scratch.name) / "ws"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    triton = Triton(config=_triton_config(args), workspace=args.workspace)
    code = 1
    try:
        for name, kind, path in args.model:
            _bind(triton, name, kind, path)
        code = _serve(triton, f"http://127.0.0.1:{args.http_port}", args.start_timeout, stop, ready_out)
    except Exception as error:
        print(f"open_inference_server: {error}", file=sys.stderr)
    finally:
        _stop(triton, code)
        if scratch is not None:
            scratch.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
