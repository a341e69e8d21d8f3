"""Writers and deletions at the same time: no deadlock, no "Unhandled" answer, no orphan blob or
row (checked with fsck), each lost race answered with the route's not-found message."""

import asyncio
import uuid

import pytest

from storage import fsck, layout
from testkit.synthetic import make_tray
from tests.conftest import data_url, png_bytes, png_url


async def post(client, path, body):
    response = await client.post(path, json=body)
    return response.status_code, await response.get_json()


async def no_findings(services, user):
    assert (
        await fsck.check(services.pool, services.blobs, grace_s=0, only={layout.container_name(user)}) == []
    )


async def test_delete_right_after_labelled_uploads_never_deadlocks(client, user, services):
    """The example worker learns from the uploads while the folder is deleted under it."""
    async with services.pool.acquire() as conn:
        await conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'learning'")
    await services.learner.start()
    await services.tasks.start()
    uid = str(user)
    pictures = [png_url(make_tray(700 + i, 4, touch_prob=0.0, size=(640, 360))[0]) for i in range(3)]
    for attempt in range(6):
        _, session = await post(client, "/new-batch-import", {"container_name": uid, "nb_pictures": 3})
        for image in pictures:
            assert await post(
                client,
                "/upload-picture",
                {
                    "container_name": uid,
                    "session_id": session["session_id"],
                    "seed_name": "Brassica napus",
                    "image": image,
                },
            ) == (200, [True])
        answer = await post(
            client, "/delete-permanently", {"container_name": uid, "folder_uuid": session["session_id"]}
        )
        assert answer == (200, True), (attempt, answer)
    await services.tasks.wait_until_idle()  # jobs of deleted pictures end quietly
    async with services.pool.acquire() as conn:
        left = await conn.fetch(
            """SELECT status, attempts, scheduled_at, args FROM procrastinate_jobs
                WHERE queue_name = 'learning' AND status <> 'succeeded'"""
        )  # this test's jobs (a cancelled classify job of another test may still be on record)
        assert not left, left
    await no_findings(services, user)


NOT_FOUND = (
    "Datastore Error during classification : Picture set not found based on the given id: ",
    "Datastore Error uploading picture : An error occured during the upload of the pictures",
    "Datastore Error giving a negative feedback : Inference not found based on the given id: ",
    "Datastore Error deleting directory : Picture set not found based on the given id: ",
)


@pytest.mark.parametrize("deletion", ["/delete-permanently", "/delete-with-archive"])
async def test_writers_and_a_deletion_leave_no_orphan(
    local_client, user, services, storage, deletion, monkeypatch
):
    """/inf, /upload-picture and /feedback-negative write into a folder while it is deleted."""
    uid = str(user)
    await local_client.get("/test")
    if deletion == "/delete-with-archive":
        archive = f"archive-{uuid.uuid4().hex[:6]}@example.org"
        await storage.create_user(archive)
        monkeypatch.setattr(
            local_client.app.config["NACHET_SETTINGS"], "dev_user_email", archive, raising=False
        )
    _, session = await post(
        local_client,
        "/new-batch-import",
        {"container_name": uid, "nb_pictures": 1, "folder_name": f"busy-{uuid.uuid4().hex[:6]}"},
    )
    folder = session["session_id"]
    picture = png_bytes(64, 48)
    inference = {
        "model_name": "test_pipeline",
        "image": data_url(picture),
        "imageDims": [64, 48],
        "folder_name": folder,
        "container_name": uid,
    }
    earlier = [(await post(local_client, "/inf", inference))[1] for _ in range(4)]
    await post(
        local_client,
        "/upload-picture",
        {
            "container_name": uid,
            "session_id": folder,
            "seed_name": "Brassica napus",
            "image": data_url(picture),
        },
    )
    done, started = [], asyncio.Event()

    async def writer(k: int):
        for i in range(6):
            if k % 3 == 0:
                answer = await post(local_client, "/inf", inference)
            elif k % 3 == 1:
                answer = await post(
                    local_client,
                    "/upload-picture",
                    {
                        "container_name": uid,
                        "session_id": folder,
                        "seed_name": "Lolium temulentum",
                        "image": data_url(picture),
                    },
                )
            else:
                target = earlier[(k + i) % len(earlier)]
                box = target["boxes"][0]
                answer = await post(
                    local_client,
                    "/feedback-negative",
                    {
                        "userId": uid,
                        "inferenceId": target["inference_id"],
                        "boxes": [
                            {"boxId": "", "label": "Bromus secalinus", "classId": "", "box": box["box"]}
                        ],
                    },
                )
            done.append(answer)
            if len(done) >= 8:
                started.set()

    async def deleter():
        await started.wait()
        answer = await post(local_client, deletion, {"container_name": uid, "folder_uuid": folder})
        done.append(answer)
        return answer

    results = await asyncio.wait_for(asyncio.gather(deleter(), *(writer(k) for k in range(12))), 120)
    assert results[0][0] == 200, results[0]
    for status, body in done:
        assert status in (200, 400), (status, body)
        if status == 400:
            assert body[0].startswith(NOT_FOUND), body
    assert not any(status == 400 for status, _ in done[:8])
    await no_findings(services, user)
