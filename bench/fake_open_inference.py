"""A fake Open Inference (KServe v2) model server for bench/inference.sh (`MODELS=open-inference`).

The side-by-side bench's fake Azure ML models, spoken over the v2 protocol: the same boxes (the
shared fake server's `make_boxes`, seeded by the request), the same species, the same latency.
It decodes nothing: it reads the tensors' layout and answers, so the bench measures the web
worker, not a model.

  detector            `image` BYTES [1, 1] (the encoded picture) -> `boxes` FP32 [1, B, 4]
                      (fractions), `scores` FP32 [1, B]
  classifier          `image` BYTES [N, 1] (the encoded crops) -> `probabilities` FP32 [N, K]
  classifier-regions  `image` BYTES [1] (the picture) and `boxes` FP32 [N, 4]
                      -> `probabilities` FP32 [N, K] (the server would cut the crops)

Labels are published as the metadata parameter `labels`. Loopback only. Besides /v2: GET /stats,
POST /stats/reset and GET|POST /config ({"latency_ms": ...}), as the load generator expects.

Usage: python bench/fake_open_inference.py --port 18091 [--latency-ms 50] [--boxes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import struct
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "bench"))
from fake_model_server import SPECIES, make_boxes  # noqa: E402

HEADER = "Inference-Header-Content-Length"
LABELS = [f"{i:03d} {name}" for i, name in enumerate(SPECIES)]
MODELS = {
    "detector": (
        [{"name": "image", "datatype": "BYTES", "shape": [-1, 1]}],
        [
            {"name": "boxes", "datatype": "FP32", "shape": [-1, -1, 4]},
            {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
        ],
    ),
    "classifier": (
        [{"name": "image", "datatype": "BYTES", "shape": [-1, 1]}],
        [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(LABELS)]}],
    ),
    "classifier-regions": (
        [
            {"name": "image", "datatype": "BYTES", "shape": [1]},
            {"name": "boxes", "datatype": "FP32", "shape": [-1, 4]},
        ],
        [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(LABELS)]}],
    ),
}


class Server:
    def __init__(self, latency_ms: float, boxes: int):
        self.latency_s, self.boxes = latency_ms / 1000, boxes
        self.in_flight = self.max_in_flight = self.calls = 0

    async def metadata(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in MODELS:
            return web.json_response({"error": f"unknown model: {name}"}, status=404)
        inputs, outputs = MODELS[name]
        meta = {"name": name, "platform": "fake", "inputs": inputs, "outputs": outputs}
        if name.startswith("classifier"):
            meta["parameters"] = {"labels": json.dumps(LABELS)}
        return web.json_response(meta)

    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if request.match_info.get("model", "detector") in MODELS else 404)

    async def infer(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        body = await request.read()
        size = int(request.headers.get(HEADER, len(body)))
        head = json.loads(body[:size])
        rng = random.Random(hashlib.blake2b(body[size : size + 4096], digest_size=8).digest())
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        if name == "detector":
            boxes = make_boxes(rng, self.boxes)
            corners = [[b["box"][k] for k in ("topX", "topY", "bottomX", "bottomY")] for b in boxes]
            tensors = [
                ("boxes", [1, len(boxes), 4], [v for c in corners for v in c]),
                ("scores", [1, len(boxes)], [b["score"] for b in boxes]),
            ]
        elif name in MODELS:
            rows = head["inputs"][-1]["shape"][0]  # the crops, or the boxes after the picture
            scores = []
            for _ in range(rows):
                raw = [rng.random() ** 3 for _ in LABELS]
                raw[rng.randrange(len(LABELS))] += 1.0
                scores += [r / sum(raw) for r in raw]
            tensors = [("probabilities", [rows, len(LABELS)], scores)]
        else:
            return web.json_response({"error": f"unknown model: {name}"}, status=404)
        outputs, data = [], b""
        for tensor, shape, values in tensors:
            packed = struct.pack(f"<{len(values)}f", *values)
            outputs.append(
                {
                    "name": tensor,
                    "datatype": "FP32",
                    "shape": shape,
                    "parameters": {"binary_data_size": len(packed)},
                }
            )
            data += packed
        answer = json.dumps({"model_name": name, "outputs": outputs}).encode()
        return web.Response(
            body=answer + data, content_type="application/octet-stream", headers={HEADER: str(len(answer))}
        )

    async def stats(self, request: web.Request) -> web.Response:
        if request.path.endswith("/reset"):
            self.max_in_flight = self.calls = 0
        return web.json_response({"calls": self.calls, "max_in_flight": self.max_in_flight})

    async def config(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            wanted = await request.json()
            self.latency_s = float(wanted.get("latency_ms", self.latency_s * 1000)) / 1000
        return web.json_response({"latency_ms": self.latency_s * 1000, "boxes": self.boxes})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--boxes", type=int, default=4)
    args = parser.parse_args()
    server = Server(args.latency_ms, args.boxes)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(
        [
            web.get("/v2/health/ready", server.ready),
            web.get("/v2/models/{model}", server.metadata),
            web.get("/v2/models/{model}/ready", server.ready),
            web.post("/v2/models/{model}/infer", server.infer),
            web.get("/stats", server.stats),
            web.post("/stats/reset", server.stats),
            web.get("/config", server.config),
            web.post("/config", server.config),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
