"""Mixed routes with deletions under concurrency (issue "Integrity"): 2 hypercorn workers on a
fresh embedded default, C clients for D seconds on loopback, every route that writes or deletes
(/inf with the test pipeline, uploads, feedback, folder deletions of the three kinds) racing on
the same few users and folders. Prints requests, statuses, 5xx, "Unhandled" answers and the
400 messages, then stops the server and runs `python -m nachet fsck --grace 0`.

Usage: python bench/concurrency.py [--clients 16] [--seconds 120] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ["Brassica napus", "Lolium temulentum", "Bromus secalinus", "Solanum nigrum"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def picture(seed: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (seed * 37 % 256, 120, 60)).save(buffer, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class Load:
    def __init__(self, client: httpx.AsyncClient, users: list[str]):
        self.client, self.users = client, users
        self.folders: dict[str, list[str]] = {u: [] for u in users}
        self.inferences: dict[str, list[dict]] = {u: [] for u in users}
        self.statuses: collections.Counter = collections.Counter()
        self.messages: collections.Counter = collections.Counter()
        self.unhandled = 0
        self.images = [picture(i) for i in range(8)]

    async def post(self, path: str, body: dict):
        response = await self.client.post(path, json=body)
        self.statuses[(path, response.status_code)] += 1
        data = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if response.status_code >= 400:
            text = (
                data[0]
                if isinstance(data, list) and data and isinstance(data[0], str)
                else response.text[:80]
            )
            self.unhandled += text.startswith("Unhandled")
            self.messages[_shape(text)] += 1
        return response.status_code, data

    async def step(self, rng: random.Random) -> None:
        user = rng.choice(self.users)
        folders, inferences = self.folders[user], self.inferences[user]
        action = rng.choices(
            ["inf", "upload", "new", "feedback", "read", "delete", "request"], [25, 20, 10, 15, 15, 10, 5]
        )[0]
        if action == "new" or (action in ("upload", "delete", "request") and not folders):
            status, body = await self.post("/new-batch-import", {"container_name": user, "nb_pictures": 2})
            if status == 200:
                folders.append(body["session_id"])
        elif action == "inf":
            folder = rng.choice(folders) if folders and rng.random() < 0.7 else "General"
            status, body = await self.post(
                "/inf",
                {
                    "model_name": "test_pipeline",
                    "image": rng.choice(self.images),
                    "imageDims": [320, 240],
                    "folder_name": folder,
                    "container_name": user,
                },
            )
            if status == 200:
                inferences.append(body)
        elif action == "upload":
            await self.post(
                "/upload-picture",
                {
                    "container_name": user,
                    "session_id": rng.choice(folders),
                    "seed_name": rng.choice(SEEDS),
                    "image": rng.choice(self.images),
                },
            )
        elif action == "feedback" and inferences:
            inference = inferences.pop(rng.randrange(len(inferences)))
            box = inference["boxes"][0]
            if rng.random() < 0.5:
                await self.post(
                    "/feedback-positive",
                    {
                        "userId": user,
                        "inferenceId": inference["inference_id"],
                        "boxes": [{"boxId": box["box_id"]}],
                    },
                )
            else:
                await self.post(
                    "/feedback-negative",
                    {
                        "userId": user,
                        "inferenceId": inference["inference_id"],
                        "boxes": [
                            {
                                "boxId": box["box_id"],
                                "label": rng.choice(SEEDS),
                                "classId": "",
                                "box": box["box"],
                            }
                        ],
                    },
                )
        elif action == "read":
            status, body = await self.post("/get-directories", {"container_name": user})
            pictures = (
                [p["picture_id"] for f in (body or {}).get("folders", []) for p in f["pictures"]]
                if status == 200
                else []
            )
            if pictures:
                await self.post("/get-picture", {"container_name": user, "picture_id": rng.choice(pictures)})
        elif action == "delete":
            folder = folders.pop(rng.randrange(len(folders)))
            kind = rng.choice(["/delete-permanently", "/delete-with-archive", "/del"])
            key = "folder_name" if kind == "/del" else "folder_uuid"
            await self.post(kind, {"container_name": user, key: folder})
        elif action == "request":
            await self.post("/delete-request", {"container_name": user, "folder_uuid": rng.choice(folders)})


def _shape(message: str) -> str:
    """A 400 message without its ids, to count kinds."""
    words = message.split()
    return " ".join("<id>" if len(w.strip(",:")) == 36 and w.count("-") == 4 else w for w in words)[:120]


async def run(url: str, users: list[str], clients: int, seconds: float) -> Load:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        assert (await client.get("/test")).status_code == 200
        load = Load(client, users)
        deadline = time.monotonic() + seconds

        async def worker(k: int):
            rng = random.Random(k)
            for _ in range(100_000):  # bounded
                if time.monotonic() > deadline:
                    return
                await load.step(rng)

        await asyncio.gather(*(worker(k) for k in range(clients)))
        return load


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="checkout whose app serves the load (e.g. an older commit); fsck is this one's",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nachet-concurrency-"))
    env = {
        **os.environ,
        "NACHET_DATA_DIR": str(work),
        "NACHET_ENV": "test",
        "DEV_USER_EMAIL": "archive@example.org",
    }
    for name in ("NACHET_DB_URL", "NACHET_AZURE_STORAGE_CONNECTION_STRING"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "nachet"]
    users = [
        subprocess.run(
            cli + ["users", "add", f"load{i}@example.org"],
            env=env,
            cwd=args.server_root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for i in range(4)
    ]
    subprocess.run(
        cli + ["users", "add", "archive@example.org"],
        env=env,
        cwd=args.server_root,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(work / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", str(args.workers), "app:app"],
        env=env,
        cwd=args.server_root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        started = time.monotonic()
        load = asyncio.run(run(f"http://127.0.0.1:{port}", users, args.clients, args.seconds))
        elapsed = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(120)
            print(f"server stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
        except subprocess.TimeoutExpired:
            print("server still running 120 s after SIGTERM: killed")
            subprocess.run(["pkill", "-9", "-P", str(server.pid)], check=False)
            server.kill()
    fsck = subprocess.run(cli + ["fsck", "--grace", "0"], env=env, cwd=ROOT, capture_output=True, text=True)
    total = sum(load.statuses.values())
    errors_5xx = sum(n for (_, status), n in load.statuses.items() if status >= 500)
    print(
        f"{args.clients} clients, {args.workers} workers, {elapsed:.0f} s: {total} requests "
        f"({total / elapsed:.1f}/s), 5xx {errors_5xx}, Unhandled {load.unhandled}"
    )
    by_route = collections.defaultdict(dict)
    for (path, status), n in sorted(load.statuses.items()):
        by_route[path][status] = n
    for path, statuses in by_route.items():
        print(f"  {path:22s} " + "  ".join(f"{status}: {n}" for status, n in statuses.items()))
    print("400 messages:")
    for message, n in load.messages.most_common():
        print(f"  {n:5d}  {message}")
    findings = [line for line in fsck.stdout.splitlines() if line]
    kinds = collections.Counter(line.split(":")[0] for line in findings)
    print(f"fsck: exit {fsck.returncode}, {len(findings)} finding(s) " + str(dict(kinds)))
    for line in findings[:20]:
        print("  " + line)
    server_errors = sum("Traceback" in line for line in (work / "server.log").read_text().splitlines())
    print(f"tracebacks in the server log: {server_errors}")
    return 0 if errors_5xx == 0 and load.unhandled == 0 and fsck.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
