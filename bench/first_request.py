"""The built-in pipeline's first /inf after a start (issue "Performance", item 3).

Starts one hypercorn worker on a fresh embedded default (loopback), then times:
  * start -> /health 200 and start -> /ready 200 (the built-in models loaded in the background);
  * the first /inf on the real 1310_1.png, sent once /ready answers (what a load balancer gating
    on readiness sends), then the median of the next 5 (new bytes each time: no cached result).
With --at-health the first /inf is sent as soon as /health answers instead.
With --initialised every start is on one data directory an earlier start initialised.
Usage: python bench/first_request.py [--server-root DIR] [--at-health] [--rounds N] [--initialised]
"""

from __future__ import annotations

import argparse
import base64
import io
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from learning import free_port, start_server  # noqa: E402

PICTURE = HERE.parent.parent / "shared" / "data" / "1310_1.png"


def variant(n: int) -> str:
    from PIL import Image

    with Image.open(PICTURE) as image:
        pixels = image.convert("RGB")
    pixels.putpixel((0, 0), (n % 256, 7, 7))
    out = io.BytesIO()
    pixels.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def until(url: str, started: float, limit_s: float = 180) -> float:
    while time.monotonic() - started < limit_s:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer 200 within {limit_s} s")


def one_round(root: Path, at_health: bool, data: Path | None = None) -> dict:
    """One start: on a new data directory (a fresh machine: initdb, migrations, seed data), or
    on `data`, initialised by an earlier start."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="nachet-first-") as fresh:
        work = data or Path(fresh)
        started = time.monotonic()
        server = start_server(root, Path(work), port, {"NACHET_RESULT_CACHE": "false"})
        try:
            health = until(f"{url}/health", started)
            ready = None if at_health else until(f"{url}/ready", started)
            user = httpx.post(f"{url}/get-user-id", json={}, timeout=30).json()["user_id"]
            body = {"imageDims": [638, 559], "folder_name": "General", "container_name": user}
            times = []
            for n in range(6):
                sent = time.monotonic()
                answer = httpx.post(f"{url}/inf", json={**body, "image": variant(n)}, timeout=120)
                assert answer.status_code == 200, answer.text
                times.append(time.monotonic() - sent)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    return {"health": health, "ready": ready, "first": times[0], "next": statistics.median(times[1:])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-root", type=Path, default=HERE.parent)
    parser.add_argument("--at-health", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--initialised", action="store_true", help="every start on one data directory")
    args = parser.parse_args()
    print(f"server: {args.server_root}  first /inf sent at {'/health' if args.at_health else '/ready'}")
    kept = Path(tempfile.mkdtemp(prefix="nachet-kept-")) if args.initialised else None
    if kept is not None:
        one_round(args.server_root.resolve(), args.at_health, kept)  # initialises it
    for _ in range(args.rounds):
        r = one_round(args.server_root.resolve(), args.at_health, kept)
        ready = f"{r['ready']:.2f} s" if r["ready"] is not None else "-"
        print(
            f"/health after {r['health']:.2f} s, /ready after {ready}; "
            f"first /inf {1000 * r['first']:.0f} ms, next ones p50 {1000 * r['next']:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
