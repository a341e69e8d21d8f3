"""Identical requests racing on a real two-worker server (issue "Integrity II").

A double-click sends the same write twice; a script retries. Each test fires N identical requests
at once (released together by a barrier, from threads and from an asyncio client in turn) at
`hypercorn -w 2`, then checks what a user and an operator would: one winner where one is
possible, the others refused with the route's message, `fsck --grace 0` finds nothing, and every
picture a listing shows can be read. Before the claim-first writes, a losing twin's compensation
deleted the winner's folder marker or archived pictures (18-20 rounds of 20 lost them).

`NACHET_RACE_ROUNDS` (default 3) sets the rounds per route; `-s` prints a line per route.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sys
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from datastore.blob.fs import FsBlobStore
from datastore.db import create_pool
from storage import Storage, fsck, layout
from testkit.synthetic import make_tray
from tests.conftest import free_port, png_url, run_nachet, start_process, wait_until_ready

ROUNDS = int(os.environ.get("NACHET_RACE_ROUNDS", "3"))
N = 4  # identical requests per round
ARCHIVE_USER = "archive@races.example"


class Server:
    def __init__(self, url: str, storage: Storage, pool: asyncpg.Pool):
        self.url, self.storage, self.pool = url, storage, pool

    def race(self, path: str, body: dict, round_: int, n: int = N) -> list[tuple[int, object]]:
        """n identical POSTs sent at once: from n threads on even rounds, from one asyncio loop on
        odd ones (answers in no particular order)."""
        payload = json.dumps(body).encode()
        return (self._threads if round_ % 2 == 0 else self._asyncio)(path, payload, n)

    def _threads(self, path: str, payload: bytes, n: int) -> list[tuple[int, object]]:
        host, port = urlsplit(self.url).hostname, urlsplit(self.url).port
        barrier = threading.Barrier(n)

        def one(_):
            conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.connect()  # connected first: the requests leave together
            try:
                barrier.wait(30)
                conn.request("POST", path, payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                return response.status, json.loads(response.read())
            finally:
                conn.close()

        with ThreadPoolExecutor(n) as threads:
            return list(threads.map(one, range(n)))

    def _asyncio(self, path: str, payload: bytes, n: int) -> list[tuple[int, object]]:
        async def all_at_once():
            limits = httpx.Limits(max_connections=n)
            async with httpx.AsyncClient(base_url=self.url, timeout=120, limits=limits) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(path, content=payload, headers={"Content-Type": "application/json"})
                        for _ in range(n)
                    )
                )
            return [(a.status_code, a.json()) for a in answers]

        return asyncio.run(all_at_once())

    async def post(self, path: str, body: dict) -> tuple[int, object]:
        async with httpx.AsyncClient(base_url=self.url, timeout=120) as client:
            answer = await client.post(path, json=body)
            return answer.status_code, answer.json()

    async def consistent(self, *users: str) -> None:
        """What an operator and a user check after a race: fsck finds nothing, and every picture
        that a listing shows is readable; for these users and the archive's (all: none named)."""
        async with self.pool.acquire() as conn:
            everyone = [str(r["id"]) for r in await conn.fetch("SELECT id FROM users")]
            if users:
                users = (
                    *users,
                    str(await conn.fetchval("SELECT id FROM users WHERE email = $1", ARCHIVE_USER)),
                )
        only = {layout.container_name(uuid.UUID(u)) for u in users} if users else None
        findings = await fsck.check(self.pool, self.storage.blobs, grace_s=0, only=only)
        assert findings == [], [str(f) for f in findings]
        for user in users or everyone:
            status, listing = await self.post("/get-directories", {"container_name": str(user)})
            assert status == 200, listing
            for folder in listing["folders"]:
                for picture in folder["pictures"]:
                    status, got = await self.post(
                        "/get-picture", {"container_name": str(user), "picture_id": picture["picture_id"]}
                    )
                    assert status == 200 and got["image"].startswith("data:image/"), (folder, got)


@pytest.fixture(scope="module")
async def server(db_url, tmp_path_factory):
    """hypercorn -w 2 on a schema and blob store of its own, with the built-in pipeline."""
    data_dir = tmp_path_factory.mktemp("races")
    schema = f"races_{uuid.uuid4().hex[:8]}"
    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": schema,
        "NACHET_DATA_DIR": str(data_dir),
        "DEV_USER_EMAIL": ARCHIVE_USER,
        "NACHET_ACCESS_LOG": "false",
    }
    for command in (("pipelines", "install-builtin"), ("users", "add", "--exist-ok", ARCHIVE_USER)):
        done = await asyncio.to_thread(run_nachet, env, *command)
        assert done.returncode == 0, done.stderr
    port = free_port()
    process = start_process(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "2", "app:app"], env
    )
    url = f"http://127.0.0.1:{port}"
    pool = await create_pool(db_url, schema, min_size=1, max_size=4)
    try:
        await asyncio.to_thread(wait_until_ready, url, process)
        yield Server(url, Storage(pool, FsBlobStore(data_dir / "blob")), pool)
    finally:
        await pool.close()
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 90)
    assert "Traceback" not in process.output(), process.output()[-5000:]


def report(route: str, rounds: list[list[tuple[int, object]]]) -> None:
    statuses = Counter(tuple(sorted(s for s, _ in answers)) for answers in rounds)
    print(f"\n{route}: {len(rounds)} rounds of {N}: " + ", ".join(f"{k} x{v}" for k, v in statuses.items()))


def refused(answers, winners: int, message: str) -> None:
    assert sorted(s for s, _ in answers) == [200] * winners + [400] * (len(answers) - winners), answers
    for status, body in answers:
        if status == 400:
            assert isinstance(body, list) and message in body[0], body


async def new_user(server: Server) -> str:
    return str(await server.storage.create_user(f"racer-{uuid.uuid4().hex[:8]}@example.org"))


async def test_two_workers_starting_together_leave_no_orphan_container(server):
    """Both workers register the default user at start: only the winner makes its container."""
    await server.consistent()
    async with server.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE email = 'example@gmail.com'") == 1


@pytest.mark.parametrize("route", ["/create-dir", "/new-batch-import"])
async def test_same_name_folder_twins(server, route):
    user = await new_user(server)
    container = layout.container_name(uuid.UUID(user))
    rounds = []
    for round_ in range(ROUNDS):
        name = f"twin {round_}"
        body = {"container_name": user, "folder_name": name}
        if route == "/new-batch-import":
            body["nb_pictures"] = 1
        answers = await asyncio.to_thread(server.race, route, body, round_)
        rounds.append(answers)
        refused(answers, 1, "Folder already exists")
        (winner,) = [b for s, b in answers if s == 200]
        folder_id = winner["session_id"] if route == "/new-batch-import" else winner[0]
        marker = json.loads(await server.storage.blobs.download(container, f"{name}/{name}.json"))
        assert marker["folder_uuid"] == folder_id
        await server.consistent(user)
    report(route, rounds)


async def labelled_folder(server: Server, user: str, name: str, pictures: int = 2) -> str:
    status, body = await server.post(
        "/new-batch-import", {"container_name": user, "nb_pictures": max(pictures, 1), "folder_name": name}
    )
    assert status == 200, body
    for i in range(pictures):
        image = png_url(make_tray(900 + i, 3, touch_prob=0.0, size=(320, 240))[0])
        upload = {
            "container_name": user,
            "session_id": body["session_id"],
            "seed_name": "Brassica napus",
            "image": image,
        }
        assert await server.post("/upload-picture", upload) == (200, [True])
    return body["session_id"]


async def test_delete_with_archive_twins_keep_the_archive_whole(server):
    user = await new_user(server)
    archive_user = str(await server.storage.get_user_id(ARCHIVE_USER))
    rounds = []
    for round_ in range(ROUNDS):
        name = f"to archive {round_}"
        folder = await labelled_folder(server, user, name)
        body = {"container_name": user, "folder_uuid": folder}
        answers = await asyncio.to_thread(server.race, "/delete-with-archive", body, round_)
        rounds.append(answers)
        assert sorted(s for s, _ in answers) == [200] + [400] * (N - 1), answers
        status, listing = await server.post("/get-directories", {"container_name": archive_user})
        (archived,) = [f for f in listing["folders"] if f["folder_name"] == f"{user}/{name}"]
        assert archived["nb_pictures"] == 2
        await server.consistent(user)  # its marker and both pictures are there and readable
    report("/delete-with-archive", rounds)


@pytest.mark.parametrize("route", ["/delete-permanently", "/del"])
async def test_deletion_twins(server, route):
    user = await new_user(server)
    rounds = []
    for round_ in range(ROUNDS):
        folder = await labelled_folder(server, user, f"doomed {round_}", pictures=1)
        body = (
            {"container_name": user, "folder_name": folder}
            if route == "/del"
            else {"container_name": user, "folder_uuid": folder}
        )
        answers = await asyncio.to_thread(server.race, route, body, round_)
        rounds.append(answers)
        assert sorted(s for s, _ in answers) == [200] + [400] * (N - 1), answers
        await server.consistent(user)
    report(route, rounds)


async def test_identical_uploads_each_store_a_picture(server):
    user = await new_user(server)
    rounds = []
    for round_ in range(ROUNDS):
        folder = await labelled_folder(server, user, f"uploads {round_}", pictures=0)
        image = png_url(make_tray(950 + round_, 3, touch_prob=0.0, size=(320, 240))[0])
        body = {"container_name": user, "session_id": folder, "seed_name": "Brassica napus", "image": image}
        answers = await asyncio.to_thread(server.race, "/upload-picture", body, round_)
        rounds.append(answers)
        assert answers == [(200, [True])] * N
        await server.consistent(user)
    report("/upload-picture", rounds)


def inference_body(user: str, folder: str, seed: int) -> dict:
    image, _ = make_tray(seed, 3, touch_prob=0.0, size=(480, 360))
    return {
        "model_name": "Local seed detector + feedback classifier",
        "image": png_url(image),
        "imageDims": [480, 360],
        "folder_name": folder,
        "container_name": user,
    }


async def test_identical_inferences_into_one_folder(server):
    user = await new_user(server)
    await server.post("/create-dir", {"container_name": user, "folder_name": "inferences"})
    rounds = []
    for round_ in range(ROUNDS):
        answers = await asyncio.to_thread(
            server.race, "/inf", inference_body(user, "inferences", 970 + round_), round_
        )
        rounds.append(answers)
        assert [s for s, _ in answers] == [200] * N, answers
        assert len({b["inference_id"] for _, b in answers}) == N
        status, listing = await server.post("/get-directories", {"container_name": user})
        (folder,) = [f for f in listing["folders"] if f["folder_name"] == "inferences"]
        assert len(folder["pictures"]) == N * (round_ + 1)  # each its own picture
        await server.consistent(user)
    report("/inf", rounds)


@pytest.mark.parametrize("route", ["/feedback-positive", "/feedback-negative"])
async def test_identical_feedback(server, route):
    user = await new_user(server)
    rounds = []
    for round_ in range(ROUNDS):
        status, inference = await server.post("/inf", inference_body(user, "General", 990 + round_))
        assert status == 200 and inference["boxes"], inference
        boxes = [{"boxId": b["box_id"]} for b in inference["boxes"]]
        if route == "/feedback-negative":
            boxes = [
                {"boxId": b["box_id"], "label": "Brassica napus", "classId": "", "box": b["box"]}
                for b in inference["boxes"]
            ]
        body = {"userId": user, "inferenceId": inference["inference_id"], "boxes": boxes}
        answers = await asyncio.to_thread(server.race, route, body, round_)
        rounds.append(answers)
        assert 200 in [s for s, _ in answers] and all(s in (200, 400) for s, _ in answers), answers
        already = (
            "Can't add feedback to a verified inference"
            if route == "/feedback-positive"
            else "is already verified"
        )
        for status, body in answers:
            if status == 400:
                assert already in body[0], body
        await server.consistent(user)
    report(route, rounds)


async def test_learning_while_the_folder_is_deleted(server):
    """Labelled uploads defer learning tasks (run by the web workers); the folder is deleted while
    uploads and learning are under way."""
    user = await new_user(server)
    rounds = []
    for round_ in range(ROUNDS):
        folder = await labelled_folder(server, user, f"learning {round_}", pictures=2)
        image = png_url(make_tray(1000 + round_, 3, touch_prob=0.0, size=(320, 240))[0])
        upload = {"container_name": user, "session_id": folder, "seed_name": "Brassica napus", "image": image}
        delete = {"container_name": user, "folder_uuid": folder}

        answers = await asyncio.to_thread(uploads_and_deletion, server, upload, delete, round_)
        rounds.append(answers)
        assert answers[-1] == (200, True), answers
        assert all(s in (200, 400) for s, _ in answers), answers
        await learning_idle(server.pool)
        await server.consistent(user)
    report("learning + deletion", rounds)


def uploads_and_deletion(server: Server, upload: dict, delete: dict, round_: int) -> list:
    """Three identical uploads and the folder's deletion at once; the deletion's answer last."""
    with ThreadPoolExecutor(2) as threads:
        uploads = threads.submit(server.race, "/upload-picture", upload, round_, 3)
        deletion = threads.submit(server.race, "/delete-permanently", delete, round_, 1)
        return uploads.result() + deletion.result()


async def learning_idle(pool: asyncpg.Pool, seconds: float = 120) -> None:
    """Until no learning task is waiting or running (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        async with pool.acquire() as conn:
            busy = await conn.fetchval(
                """SELECT count(*) FROM procrastinate_jobs
                    WHERE queue_name = 'learning' AND status IN ('todo', 'doing')"""
            )
        if busy == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"learning tasks still busy after {seconds} s")


async def test_identical_classify_jobs(server):
    user = await new_user(server)
    status, _ = await server.post("/create-dir", {"container_name": user, "folder_name": "jobs"})
    for seed in (1010, 1011):
        assert (await server.post("/inf", inference_body(user, "jobs", seed)))[0] == 200
    body = {"container_name": user, "folder": "jobs"}
    answers = await asyncio.to_thread(server.race, "/jobs/classify-folder", body, 0)
    assert [s for s, _ in answers] == [202] * N, answers
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for _, answer in answers:
            for _ in range(600):  # bounded: 120 s
                job = (await client.get(f"/jobs/{answer['job_id']}")).json()
                if job["status"] != "running":
                    break
                await asyncio.sleep(0.2)
            assert job["status"] == "done" and job["failed"] == 0, job
    await server.consistent()
