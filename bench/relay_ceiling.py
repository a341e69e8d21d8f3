"""The ceiling of bench/inference.sh: a server that does nothing but relay /inf to the models.

It answers the load generator's `/image-validation` and `/inf` on loopback with aiohttp's own
server (its HTTP parser is C: cheaper than hypercorn's h11). /inf reads the body, parses it with
orjson, sends the data URL's base64 to the detector as the backend does, then each box's crop to
the classifier, all at once, and answers the boxes. It stores nothing and decodes nothing per
request: the crops of each picture are cut once, the first time it is seen (the load generator's
warm-up). Whatever the backend does beyond relaying (checks, decode, crops, the save, the
framework) is absent, so its req/s at a concurrency is more than any backend can reach on this
machine with these models and this load generator, and its CPU per request is what relaying
alone costs.

Usage: python bench/relay_ceiling.py --model-server URL [--port 18080]
       then `loadgen.py run --base-url http://127.0.0.1:18080 --scenario inference ...`
       (PART=relay bash bench/inference.sh runs it beside the set).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path

import aiohttp
import orjson
import pybase64
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model_inference.adapters.detectors import input_data  # noqa: E402
from model_inference.pixels import decode_and_crop  # noqa: E402


class Relay:
    def __init__(self, model_server: str):
        self.base = model_server.rstrip("/")
        self.session: aiohttp.ClientSession | None = None
        self.crops: dict[str, list[bytes]] = {}  # picture digest -> its crops, cut once

    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession()

    async def stop(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(self, path: str, body: bytes):
        assert self.session is not None
        async with self.session.post(f"{self.base}{path}", data=body) as response:
            return orjson.loads(await response.read())

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response("ok")

    async def validate(self, request: web.Request) -> web.Response:
        return web.json_response(["relay"])

    async def infer(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        encoded = body["image"].split(",", 1)[1]
        answer = await self.call("/detect/score", input_data(encoded, plain=True))
        boxes = answer["boxes"]
        # the load generator's pictures differ within their first 3 KB, and the fake detector's
        # boxes follow from the picture: its first 4 K characters name its crops (no 0.5 MB hash)
        digest = hashlib.sha1(encoded[:4096].encode()).hexdigest()
        crops = self.crops.get(digest)
        if crops is None:  # first sight of this picture: cut once, outside the steady state
            picture = pybase64.b64decode(encoded)
            crops = [c.encode("ascii") for c in decode_and_crop(picture, boxes)]
            self.crops[digest] = crops
        answers = await asyncio.gather(*(self.call("/classify/score", crop) for crop in crops))
        for box, predictions in zip(boxes, answers):
            box.update(label=predictions[0]["label"], score=predictions[0]["score"], topN=predictions)
        return web.Response(body=orjson.dumps({"boxes": boxes}), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-server", required=True, help="the fake model server (loopback)")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    relay = Relay(args.model_server)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(relay.start)
    app.on_cleanup.append(relay.stop)
    app.router.add_get("/health", relay.health)
    app.router.add_post("/image-validation", relay.validate)
    app.router.add_post("/inf", relay.infer)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
