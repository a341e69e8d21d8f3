"""The model floor of bench/inference.sh: what one /inf's model calls cost with nothing in between.

A client on loopback calls the fake model server the way the backend does, one request at a time:
the detector with the picture's JSON body, then the classifier on each crop at once (the crops cut
beforehand, outside the timing). Its p50 is the least /inf's p50 at c=1 can be on this machine: the
fake server's own work (reading 0.5 MB, hashing, JSON) is added to its 2 x latency.

Usage: python bench/model_floor.py --model-server URL --images DIR [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model_inference.adapters.detectors import input_data  # noqa: E402
from model_inference.pixels import decode_and_crop  # noqa: E402


async def one_inference(session: aiohttp.ClientSession, base: str, body: bytes, crops: list[bytes]):
    started = time.perf_counter()
    async with session.post(f"{base}/detect/score", data=body) as response:
        await response.read()
    detected = time.perf_counter()

    async def classify(crop: bytes) -> None:
        async with session.post(f"{base}/classify/score", data=crop) as response:
            await response.read()

    await asyncio.gather(*(classify(crop) for crop in crops))
    return (detected - started) * 1000, (time.perf_counter() - detected) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-server", required=True, help="the fake model server (loopback)")
    parser.add_argument("--images", type=Path, required=True, help="the load generator's pictures")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    pictures = sorted(p.read_bytes() for p in args.images.iterdir() if p.is_file())
    base = args.model_server.rstrip("/")
    timings = []
    async with aiohttp.ClientSession() as session:
        work = []
        for picture in pictures:
            body = input_data(base64.b64encode(picture).decode("ascii"), plain=True)
            async with session.post(f"{base}/detect/score", data=body) as response:
                boxes = json.loads(await response.read())["boxes"]
            work.append((body, [crop.encode("ascii") for crop in decode_and_crop(picture, boxes)]))
        for i in range(args.rounds):
            timings.append(await one_inference(session, base, *work[i % len(work)]))
    detect, classify = zip(*timings[5:], strict=True)
    total = [d + c for d, c in timings[5:]]
    print(
        f"model floor (c=1, {len(total)} rounds): detector p50 {statistics.median(detect):.1f} ms, "
        f"{len(work[0][1])} classifications p50 {statistics.median(classify):.1f} ms, "
        f"together p50 {statistics.median(total):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
