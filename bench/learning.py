"""How fast the built-in classifier learns a labelled batch (issue "Background work").

Starts one hypercorn worker on a fresh embedded default, imports the 50 labelled soilwater photos
of ../shared/data/real-seeds (1600x1200) as one batch (/new-batch-import + 50 /upload-picture,
4 at a time), then measures:
  * seconds from the last upload's answer until every picture has its examples stored;
  * seconds until the server has refitted on all of them (its "built-in classifier: N examples"
    log line);
  * /inf p50 on the real 1310_1.png idle (10 requests) and while the batch is learned.
Usage: python bench/learning.py [--server-root DIR] (DIR: another checkout, for before/after)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import io
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
COUNTER = itertools.count()
PROBE = [HERE.parent.parent / "shared" / "data" / "1310_1.png"]  # --probe replaces it
SHARED = HERE.parent.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_url(path: Path) -> str:
    mime = "image/png" if path.suffix == ".png" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def probe_variant(path: Path, n: int) -> str:
    """The probe picture with one corner pixel changed: new bytes each time, so no answer comes
    from the model-result cache (this measures the models)."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = image.convert("RGB")
    pixels.putpixel((0, 0), (n % 256, (n // 256) % 256, 7))
    out = io.BytesIO()
    pixels.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


async def timed_inf(client: httpx.AsyncClient, body: dict) -> float:
    body = {**body, "image": probe_variant(PROBE[0], next(COUNTER))}
    started = time.perf_counter()
    response = await client.post("/inf", json=body)
    response.raise_for_status()
    return time.perf_counter() - started


def _refit_line(line: str) -> tuple[float | None, int]:
    """(time, examples) of a "built-in classifier: N examples" log line, JSON or text."""
    if line.startswith("{"):
        record = json.loads(line)
        found = re.match(r"built-in classifier: (\d+) examples", record.get("message", ""))
        return (datetime.fromisoformat(record["time"]).timestamp(), int(found[1])) if found else (None, 0)
    found = re.match(r"(\S+ \S+) INFO .*built-in classifier: (\d+) examples", line)
    if not found:
        return None, 0
    return datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp(), int(found[2])


def refitted(log: Path, since: float, total: int) -> tuple[float | None, int]:
    """When the server first refitted on `total` examples (its log line), and how many refits
    it made since `since`."""
    refit_at, refits = None, 0
    for line in open(log):
        stamp, examples = _refit_line(line)
        if stamp is None:
            continue
        refits += stamp >= since
        if examples >= total and refit_at is None:
            refit_at = stamp
    return refit_at, refits


async def upload_batch(client: httpx.AsyncClient, user: str, rows: list[dict]) -> str:
    """The manifest rows' photos as one labelled batch import (4 uploads at a time); its session."""
    session = (
        await client.post("/new-batch-import", json={"container_name": user, "nb_pictures": len(rows)})
    ).json()["session_id"]
    gate = asyncio.Semaphore(4)

    async def upload(row) -> None:
        async with gate:
            body = {
                "container_name": user,
                "session_id": session,
                "seed_name": row["cls"],
                "image": data_url(SHARED / "real-seeds" / row["file"]),
            }
            (await client.post("/upload-picture", json=body)).raise_for_status()

    await asyncio.gather(*(upload(r) for r in rows))
    return session


def server_cpu(server: subprocess.Popen) -> float:
    """Seconds of CPU (user + system) the server and its workers have used."""
    import psutil

    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def start_server(root: Path, data: Path, port: int, extra_env: dict[str, str]) -> subprocess.Popen:
    """One hypercorn worker of `root` on loopback over the data directory `data` (its output in
    data/server.log)."""
    env = {**os.environ, "NACHET_DATA_DIR": str(data), **extra_env}
    with open(data / "server.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "1", "app:app"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def main(root: Path, extra_env: dict[str, str]) -> None:
    rows = [
        r for r in csv.DictReader(open(SHARED / "real-seeds" / "manifest.csv")) if r["dataset"] == "soilwater"
    ]
    data = Path(tempfile.mkdtemp(prefix="nachet-learn-"))
    port = free_port()
    server = start_server(root, data, port, extra_env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            user = (await client.post("/get-user-id")).json()["user_id"]
            pipeline = (await client.get("/model-endpoints-metadata")).json()[0]["pipeline_name"]
            folders = (await client.post("/get-directories", json={"container_name": user})).json()["folders"]
            general = folders[0]["picture_set_id"]
            from PIL import Image

            with Image.open(PROBE[0]) as shown:
                dims = list(shown.size)
            inf = {
                "model_name": pipeline,
                "image": data_url(PROBE[0]),
                "imageDims": dims,
                "folder_name": general,
                "container_name": user,
            }
            await timed_inf(client, inf)  # load the models
            idle = [await timed_inf(client, inf) for _ in range(20)]

            upload_started = time.time()
            session = await upload_batch(client, user, rows)
            last_upload = time.time()

            pg = await asyncpg.connect(f"postgresql://postgres@/nachet?host={data}/pg")
            await pg.execute('SET search_path TO "nachet_0.0.11"')
            during: list[float] = []
            stored_at = None
            deadline = time.time() + 600
            while time.time() < deadline:
                during.append(await timed_inf(client, inf))
                learned = await pg.fetchval(
                    """SELECT count(DISTINCT e.picture_id) FROM seed_example e
                         JOIN picture p ON p.id = e.picture_id WHERE p.picture_set_id = $1::uuid""",
                    session,
                )
                if learned >= len(rows):
                    stored_at = time.time()
                    break
            total = await pg.fetchval("SELECT count(*) FROM seed_example")
            await pg.close()
            for _ in range(600):
                refit_at, refits = refitted(data / "server.log", upload_started, total)
                if refit_at:
                    break
                await asyncio.sleep(0.1)
            spent = server_cpu(server)
            trained = [await timed_inf(client, inf) for _ in range(20)]
            trained_cpu = (server_cpu(server) - spent) / len(trained)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(f"server: {root}")
    print(f"uploads: {len(rows)} pictures in {last_upload - upload_started:.1f} s (4 at a time)")
    print(f"examples stored for every picture: {stored_at - last_upload:.1f} s after the last upload")
    if refit_at:
        print(f"refitted on all {total} examples: {refit_at - last_upload:.1f} s after the last upload")
        print(f"refits during the batch: {refits}")
    print(f"/inf p50 idle: {statistics.median(idle) * 1000:.0f} ms ({len(idle)} requests)")
    print(f"/inf p50 while learning: {statistics.median(during) * 1000:.0f} ms ({len(during)} requests)")
    print(
        f"/inf p50 once trained: {statistics.median(trained) * 1000:.0f} ms, "
        f"{trained_cpu * 1000:.0f} ms of server CPU per request ({len(trained)} requests)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-root", type=Path, default=HERE.parent)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--probe", type=Path, help="the picture /inf is timed on (default 1310_1.png)")
    args = parser.parse_args()
    if args.probe:
        PROBE[0] = args.probe.resolve()
    asyncio.run(main(args.server_root.resolve(), dict(item.split("=", 1) for item in args.env)))
