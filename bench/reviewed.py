"""Reviewed learning's costs (issue "Trusted learning"), on a fresh embedded default with two
hypercorn workers on loopback, NACHET_LEARNING=reviewed (or --mode open) and the result cache off:
  1. the 50 labelled soilwater photos of ../shared/data/real-seeds uploaded as one batch: seconds
     from the last upload until the uploader's /inf names the last of them back (its private
     layer in reviewed mode, the shared classifier in open mode);
  2. reviewed: a verifier accepts the batch; seconds from the answer until 20 /version answers in
     a row (both workers) name the new version;
  3. reviewed: the uploader teaches 10 more (pending); /inf p50 and CPU for the uploader (shared +
     private layer) and for another user (shared only), 20 requests each, interleaved.
Usage: python bench/reviewed.py [--mode reviewed|open] [--server-root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning import SHARED, free_port, probe_variant, upload_batch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from identity.vouch import make_vouch_cookie  # noqa: E402


async def wait_for(condition, seconds: float = 300.0, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await condition()
        if found:
            return found
        await asyncio.sleep(step)
    raise TimeoutError("not there in time")


async def main(root: Path, mode: str) -> None:
    rows = sorted(
        (
            r
            for r in csv.DictReader(open(SHARED / "real-seeds" / "manifest.csv"))
            if r["dataset"] == "soilwater"
        ),
        key=lambda r: r["file"],
    )
    data = Path(tempfile.mkdtemp(prefix="nachet-reviewed-"))
    port = free_port()
    env = {
        **os.environ,
        "NACHET_DATA_DIR": str(data),
        "NACHET_LEARNING": mode,
        "NACHET_RESULT_CACHE": "false",
    }
    subprocess.run(  # the other user, registered as an operator would before the server starts
        [sys.executable, "-m", "nachet", "users", "add", "other@example.org"], cwd=root, env=env, check=True
    )
    log = open(data / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "2", "app:app"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    other_cookie = {"jxVouchCookie": make_vouch_cookie("other@example.org", "k" * 32, exp=time.time() + 3600)}
    try:
        async with (
            httpx.AsyncClient(base_url=url, timeout=120) as client,
            httpx.AsyncClient(base_url=url, timeout=120, cookies=other_cookie) as other_client,
        ):

            async def ready():
                try:
                    return (await client.get("/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(ready, 300)
            user = (await client.post("/get-user-id")).json()["user_id"]
            other = (await other_client.post("/get-user-id")).json()["user_id"]
            pipeline = (await client.get("/model-endpoints-metadata")).json()[0]["pipeline_name"]
            probe_row = rows[-1]  # uploaded last
            probe = SHARED / "real-seeds" / probe_row["file"]

            def inf_body(who: str, n: int) -> dict:
                return {
                    "model_name": pipeline,
                    "image": probe_variant(probe, n),
                    "imageDims": [1600, 1200],
                    "folder_name": "General",
                    "container_name": who,
                }

            counter = iter(range(10**6))
            await client.post("/inf", json=inf_body(user, next(counter)))  # the models loaded
            session = await upload_batch(client, user, rows)
            uploaded = time.monotonic()

            async def named_back():
                answer = (await client.post("/inf", json=inf_body(user, next(counter)))).json()
                best = max(answer["boxes"], key=lambda b: b["score"], default=None)
                return answer["classifier_version"] if best and best["label"] == probe_row["cls"] else None

            seen_as = await wait_for(named_back, 300, 0.2)
            named_after = time.monotonic() - uploaded
            print(f"server: {root}, NACHET_LEARNING={mode}, 2 workers, result cache off")
            print(
                f"50 labelled photos named back to their uploader {named_after:.1f} s after the last upload"
            )
            print(f"  (answered as classifier version {seen_as})")
            if mode != "reviewed":
                return
            before = (await client.get("/version")).json()["classifier_version"]
            started = time.monotonic()
            accepted = (await client.post("/examples/accept", json={"batch": session})).json()
            answered = time.monotonic() - started
            streak = 0

            async def everywhere():
                nonlocal streak
                version = (await other_client.get("/version")).json()["classifier_version"]
                streak = streak + 1 if version == accepted["version"] else 0
                return streak >= 20

            await wait_for(everywhere, 120, 0.02)
            print(
                f"accept ({accepted['state']}, gate: {accepted['gate']}): answered in {answered:.2f} s; "
                f"every worker on {accepted['version']} (was {before}) "
                f"{time.monotonic() - started:.2f} s after it was sent"
            )
            await upload_batch(client, user, rows[:10])
            await private_layer_cost(server, (client, user), (other_client, other), inf_body, counter)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


async def private_layer_cost(server, uploader, another, inf_body, counter) -> None:
    """/inf p50 and CPU per request: the uploader (with pending examples) against another user."""
    client, user = uploader

    async def pending_layer():
        answer = (await client.post("/inf", json=inf_body(user, next(counter)))).json()
        return answer["classifier_version"].endswith("+private")

    await wait_for(pending_layer, 300, 0.2)
    workers = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    who = {"uploader (shared + private layer)": uploader, "another user (shared)": another}
    times: dict[str, list[float]] = {label: [] for label in who}
    cpu: dict[str, float] = dict.fromkeys(who, 0.0)
    for _ in range(20):
        for label, (web, user_id) in who.items():
            body = inf_body(user_id, next(counter))
            spent = sum(sum(p.cpu_times()[:2]) for p in workers)
            begun = time.perf_counter()
            (await web.post("/inf", json=body)).raise_for_status()
            times[label].append(time.perf_counter() - begun)
            cpu[label] += sum(sum(p.cpu_times()[:2]) for p in workers) - spent
    for label, found in times.items():
        print(
            f"/inf p50 {label}: {statistics.median(found) * 1000:.0f} ms, "
            f"{cpu[label] / len(found) * 1000:.0f} ms of server CPU (workers and PostgreSQL) per request "
            f"({len(found)} requests)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("reviewed", "open"), default="reviewed")
    parser.add_argument("--server-root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    asyncio.run(main(args.server_root.resolve(), args.mode))
