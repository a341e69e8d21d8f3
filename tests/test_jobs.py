"""Background work (issue "Background work"): classify-folder jobs on the task engine, their bad
input, cancellation, a worker killed mid-job, the learning progress of a labelled batch, and the
model-result cache (no model call twice for the same picture)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import SCHEMA, Started, png_bytes, png_url, start_process
from tests.test_inference import inf_body, model, model_server, pipeline, pipelines, register  # noqa: F401

CTX = "creating a classification job : "
UNLABELLED = "Unknown seed"  # a label that teaches nothing: no learning task in these tests


async def post(client, path, body):
    response = await client.post(path, json=body)
    return response.status_code, await response.get_json()


async def folder_of(storage, user, n: int, name: str | None = None) -> tuple[uuid.UUID, list[uuid.UUID]]:
    folder = await storage.create_picture_set(user, 0, name or f"f-{uuid.uuid4().hex[:6]}")
    pictures = [png_bytes(400, 300, (200, 60 + 20 * i, 40)) for i in range(n)]
    ids = await storage.upload_pictures(user, folder, pictures, seed_name=UNLABELLED)
    return folder, ids


async def job_answer(client, job_id):
    response = await client.get(f"/jobs/{job_id}")
    return response.status_code, await response.get_json()


async def test_a_folder_is_classified_picture_by_picture(client, user, storage, services, pipelines):  # noqa: F811
    folder, ids = await folder_of(storage, user, 3, "to classify")
    (corrupt,) = await storage.upload_pictures(user, folder, [png_bytes()[:60]], seed_name=UNLABELLED)
    status, body = await post(
        client,
        "/jobs/classify-folder",
        {"container_name": str(user), "folder": "to classify", "model_name": pipelines["swin"]},
    )
    assert status == 202, body
    job_id = body["job_id"]
    assert (await job_answer(client, job_id))[1]["status"] == "running"
    await services.tasks.run_until_idle()
    status, job = await job_answer(client, job_id)
    assert status == 200
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("done", 3, 1, 4)
    by_picture = {r["picture_id"]: r for r in job["results"]}
    assert "truncated or corrupt" in by_picture[str(corrupt)]["error"]
    for picture in ids:
        inference_id = by_picture[str(picture)]["inference_id"]
        status, got = await post(
            client, "/get-picture", {"container_name": str(user), "picture_id": str(picture)}
        )
        assert status == 200 and got["inference"]["inference_id"] == inference_id
        assert len(got["inference"]["boxes"]) == 2  # as /inf stores it: boxes and guesses
    await services.tasks.run_until_idle()  # nothing left: no picture twice
    async with services.pool.acquire() as conn:
        counts = await conn.fetch(
            "SELECT picture_id, count(*) AS n FROM inference WHERE picture_id = ANY($1::uuid[]) GROUP BY picture_id",
            ids,
        )
    assert sorted(r["n"] for r in counts) == [1, 1, 1]


async def test_bad_jobs_are_refused_and_create_nothing(client, user, storage, services, pipelines):  # noqa: F811
    stranger = await storage.create_user(f"stranger-{uuid.uuid4().hex[:8]}@example.org")
    theirs, _ = await folder_of(storage, stranger, 1)
    async with services.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM folder_job")
    uid, name = str(user), pipelines["swin"]
    for body, status, message in (
        ({"container_name": uid, "folder": "nope", "model_name": name}, 400, "Datastore Error " + CTX),
        ({"container_name": uid, "folder": str(theirs), "model_name": name}, 400, "User isn't owner"),
        (
            {"container_name": uid, "folder": "General", "model_name": "no-such"},
            400,
            "model no-such not found",
        ),
        ({"container_name": uid}, 400, "either container_name or folder is missing"),
        (
            {"container_name": str(uuid.uuid4()), "folder": "General", "model_name": name},
            400,
            "User not found",
        ),
    ):
        got = await post(client, "/jobs/classify-folder", body)
        assert got[0] == status and message in got[1][0], (body, got)
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM folder_job") == before
    ident = uuid.uuid4()  # no such job: 404, the original's datastore text
    cancelled = await client.post(f"/jobs/{ident}/cancel")
    assert cancelled.status_code == 404
    status, body = await job_answer(client, ident)
    assert status == 404 and body == [
        f"Datastore Error retrieving the job : Job not found based on the given id: {ident}"
    ]
    status, body = await job_answer(client, "not-a-uuid")  # no job has such an id: no such route
    assert status == 404 and body == ["API Error : GET /jobs/not-a-uuid: no such route"]
    cancelled = await client.post("/jobs/classify-folder/cancel")
    assert cancelled.status_code == 404
    options = await client.options("/jobs/classify-folder")  # not mistaken for GET /jobs/<id>
    assert set(options.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


async def test_a_cancelled_job_classifies_nothing_more(client, user, storage, services, pipelines):  # noqa: F811
    folder, ids = await folder_of(storage, user, 3)
    job_id = await job_of(client, user, folder, pipelines["swin"])
    response = await client.post(f"/jobs/{job_id}/cancel")
    job = await response.get_json()
    assert response.status_code == 200
    # cancelled before they started: counted apart, not as failures
    assert (job["status"], job["done"], job["failed"], job["cancelled"], job["total"]) == (
        "cancelled",
        0,
        0,
        3,
        3,
    )
    assert {r["error"] for r in job["results"]} == {"cancelled"}
    await services.tasks.run_until_idle()
    async with services.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM inference WHERE picture_id = ANY($1::uuid[])", ids) == 0
        )


async def test_learning_progress_of_a_labelled_batch(client, user, services):
    from testkit.synthetic import make_tray

    async with services.pool.acquire() as conn:
        await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'learning'")
    status, session = await post(client, "/new-batch-import", {"container_name": str(user), "nb_pictures": 2})
    for i in range(2):
        image, _ = make_tray(960 + i, 3, touch_prob=0.0, size=(480, 320))
        body = {
            "container_name": str(user),
            "session_id": session["session_id"],
            "seed_name": "Brassica napus",
            "image": png_url(image),
        }
        assert await post(client, "/upload-picture", body) == (200, [True])
    status, job = await job_answer(client, session["session_id"])
    assert status == 200 and (job["kind"], job["status"], job["done"], job["total"]) == (
        "learning",
        "running",
        0,
        2,
    )
    await services.tasks.run_until_idle()
    status, job = await job_answer(client, session["session_id"])
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("done", 2, 0, 2)


async def test_learning_progress_counts_pictures_and_finishes_when_nothing_teaches(client, user, services):
    """done and total are pictures: a batch whose label teaches nothing ("Unknown seed": no
    learning task) is done once its pictures are uploaded, not running forever."""
    from testkit.synthetic import make_tray

    status, session = await post(client, "/new-batch-import", {"container_name": str(user), "nb_pictures": 3})
    for i in range(3):
        image, _ = make_tray(970 + i, 2, touch_prob=0.0, size=(320, 240))
        body = {
            "container_name": str(user),
            "session_id": session["session_id"],
            "seed_name": "Unknown seed",
            "image": png_url(image),
        }
        assert await post(client, "/upload-picture", body) == (200, [True])
    status, job = await job_answer(client, session["session_id"])
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("done", 3, 0, 3), job


async def test_the_same_picture_calls_no_model_twice(
    client, user, services, pipelines, model_server, tmp_path
):  # noqa: F811
    image = png_bytes(640, 480, (210, 200, 180))
    body = inf_body(pipelines["swin"], user, image=image, dims=(640, 480))
    model_server.delay_s = 0.05  # 50 ms models: one detection, then the crops
    try:
        calls = len(model_server.requests)
        started = time.perf_counter()
        first = await post(client, "/inf", body)
        miss = time.perf_counter() - started
        after_first = len(model_server.requests)
        assert first[0] == 200 and after_first > calls
        started = time.perf_counter()
        second = await post(client, "/inf", body)
        hit = time.perf_counter() - started
        assert second[0] == 200 and len(model_server.requests) == after_first  # no model called
        assert second[1]["inference_id"] != first[1]["inference_id"]  # still a new inference
        assert [b["label"] for b in second[1]["boxes"]] == [b["label"] for b in first[1]["boxes"]]
        assert [b["box_id"] for b in second[1]["boxes"]] != [b["box_id"] for b in first[1]["boxes"]]
        print(f"\n/inf with 50 ms models: miss {miss * 1000:.0f} ms, hit {hit * 1000:.0f} ms")
        other = await post(client, "/inf", {**body, "imageDims": [320, 240]})  # boxes in other units
        assert other[0] == 200 and len(model_server.requests) > after_first
        calls = len(model_server.requests)
        await register(  # a `pipelines insert`: nothing cached before it is served again
            services,
            tmp_path,
            [model("seed-detector-1", "detect", model_server)],
            [pipeline(f"other-{uuid.uuid4().hex[:6]}", ["seed-detector-1"], default=True)],
        )
        assert (await post(client, "/inf", body))[0] == 200 and len(model_server.requests) > calls
        services.inference.cache_results = False  # NACHET_RESULT_CACHE=false: always the models
        calls = len(model_server.requests)
        assert (await post(client, "/inf", body))[0] == 200 and len(model_server.requests) > calls
    finally:
        services.inference.cache_results = True
        model_server.delay_s = 0.0


# -- a worker killed mid-job ---------------------------------------------------------------------------
def worker_process(db_url: str, blob_root: Path, data_dir: Path) -> subprocess.Popen:
    (data_dir / "blob").symlink_to(blob_root)  # the worker's file blob store is the test's
    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": SCHEMA,
        "NACHET_DATA_DIR": str(data_dir),
        "NACHET_TASK_HEARTBEAT": "0.2",
        "NACHET_TASK_STALLED_AFTER": "1.5",
    }
    return start_process([sys.executable, "-m", "nachet", "worker", "--concurrency", "1"], env)


async def finished_items(services, job_id) -> int:
    async with services.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM folder_job_item WHERE job_id = $1::uuid AND finished_at IS NOT NULL", job_id
        )


async def until(condition, worker: Started, seconds: float = 120) -> None:
    """Until `condition()` holds, the worker staying alive (its output is the failure)."""
    async with asyncio.timeout(seconds):
        while not await condition():
            assert worker.poll() is None, worker.output()
            await asyncio.sleep(0.05)


async def job_of(client, user, folder, pipeline: str) -> str:
    body = {"container_name": str(user), "folder": str(folder), "model_name": pipeline}
    status, answer = await post(client, "/jobs/classify-folder", body)
    assert status == 202, answer
    return answer["job_id"]


async def inferences_per_picture(services, ids) -> list[int]:
    async with services.pool.acquire() as conn:
        counts = await conn.fetch(
            "SELECT count(*) AS n FROM inference WHERE picture_id = ANY($1::uuid[]) GROUP BY picture_id", ids
        )
    return sorted(r["n"] for r in counts)


async def test_a_job_survives_its_worker_killed_mid_task(
    client, user, storage, services, pipelines, model_server, db_url, blob_store, tmp_path
):
    if not hasattr(blob_store, "root"):
        pytest.skip("the worker process shares the file blob store")
    folder, ids = await folder_of(storage, user, 6)
    job_id = await job_of(client, user, folder, pipelines["swin"])
    model_server.delay_s = 0.3  # each picture: a detection then two crops, ~0.6 s
    (tmp_path / "a").mkdir()
    first = worker_process(db_url, blob_store.root, tmp_path / "a")
    try:
        await until(lambda: _at_least(services, job_id, 2), first)
        os.kill(first.pid, signal.SIGKILL)  # mid-task: its job stays "doing" until found stalled
        first.wait(10)
        killed_at = await finished_items(services, job_id)
        assert killed_at < 6
        (tmp_path / "b").mkdir()
        second = worker_process(db_url, blob_store.root, tmp_path / "b")
        try:
            await until(lambda: _done(client, job_id), second)
        finally:
            second.send_signal(signal.SIGTERM)
            output = second.communicate(timeout=60)[0]
        assert second.returncode == 0, output
    finally:
        model_server.delay_s = 0.0
        if first.poll() is None:
            first.kill()
    status, job = await job_answer(client, job_id)
    assert (job["done"], job["failed"], job["total"]) == (6, 0, 6)
    assert await inferences_per_picture(services, ids) == [1] * 6  # none lost, none twice
    print(f"\nworker killed after {killed_at} of 6 pictures; the second worker finished the job")


async def test_a_job_resumes_when_the_database_drops_the_worker(
    client, user, storage, services, pipelines, model_server, db_url, blob_store, tmp_path
):
    """The task engine's connections killed mid-job (what a database restart does to them): the
    worker starts again by itself and the job completes, each picture once."""
    if not hasattr(blob_store, "root"):
        pytest.skip("the worker process shares the file blob store")
    folder, ids = await folder_of(storage, user, 4)
    job_id = await job_of(client, user, folder, pipelines["swin"])
    model_server.delay_s = 0.3
    (tmp_path / "w").mkdir()
    worker = worker_process(db_url, blob_store.root, tmp_path / "w")
    try:
        await until(lambda: _at_least(services, job_id, 1), worker)
        async with services.pool.acquire() as conn:
            dropped = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'nachet-tasks'"
            )
        assert dropped >= 1
        await until(lambda: _done(client, job_id), worker)
    finally:
        model_server.delay_s = 0.0
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0, output
    status, job = await job_answer(client, job_id)
    assert (job["done"], job["failed"], job["total"]) == (4, 0, 4), job
    assert await inferences_per_picture(services, ids) == [1] * 4


async def _at_least(services, job_id, n: int) -> bool:
    return await finished_items(services, job_id) >= n


async def _done(client, job_id) -> bool:
    return (await job_answer(client, job_id))[1]["status"] == "done"
