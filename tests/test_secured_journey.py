"""The frontend's whole journey (spec §4: user id, folders, seeds, pipelines, /inf, feedback,
batch upload, delete) against a real server in secured mode: the container's entrypoint and
hypercorn on loopback, NACHET_VOUCH_JWT_SECRET set, the browser's cross-origin calls with
credentials and the HS256 `jxVouchCookie` Vouch sets. Another user's data is refused."""

from __future__ import annotations

import base64
import signal
import time
import uuid

import httpx
import pytest
from PIL import Image

from identity.vouch import make_vouch_cookie
from tests.conftest import DATA, start_entrypoint

SECRET = "the-journey-secret-of-at-least-32-bytes"
FRONTEND = "http://localhost:3000"


@pytest.fixture
def secured_server(db_url, tmp_path):
    url, _, server = start_entrypoint(
        db_url,
        tmp_path,
        NACHET_VOUCH_JWT_SECRET=SECRET,
        NACHET_AUTO_REGISTER="true",
        NACHET_FRONTEND_PUBLIC_URL=FRONTEND,
    )
    try:
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert "Traceback" not in output, output
    assert "secured mode: callers are identified by vouch" in output


def browser(url: str, email: str | None) -> httpx.Client:
    """What the frontend's fetch(…, {credentials: "include"}) sends from its origin."""
    cookies = {"jxVouchCookie": make_vouch_cookie(email, SECRET, exp=time.time() + 600)} if email else {}
    return httpx.Client(base_url=url, cookies=cookies, headers={"Origin": FRONTEND}, timeout=60)


def picture() -> tuple[str, list[int]]:
    data = (DATA / "1310_1.png").read_bytes()
    with Image.open(DATA / "1310_1.png") as image:
        dims = list(image.size)
    return "data:image/png;base64," + base64.b64encode(data).decode(), dims


def test_the_frontend_journey_in_secured_mode(secured_server):
    url, tag = secured_server, uuid.uuid4().hex[:8]
    alice, mallory = f"alice-{tag}@example.org", f"mallory-{tag}@example.org"
    with browser(url, alice) as web, browser(url, mallory) as other, browser(url, None) as anonymous:
        preflight = web.options(
            "/get-user-id",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == FRONTEND
        assert preflight.headers["access-control-allow-credentials"] == "true"

        refused = anonymous.post("/get-user-id")
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == FRONTEND  # the page can read why
        assert "authentication required" in refused.json()[0]

        user = web.post("/get-user-id").json()["user_id"]  # first sign-in registers alice
        assert web.post("/get-user-id").json()["user_id"] == user
        folders = web.post("/get-directories", json={"container_name": user}).json()["folders"]
        general = folders[0]["picture_set_id"]
        assert web.get("/seeds").status_code == 200
        pipeline = web.get("/model-endpoints-metadata").json()[0]["pipeline_name"]

        image, dims = picture()
        asked = {
            "model_name": pipeline,
            "image": image,
            "imageDims": dims,
            "folder_name": general,
            "container_name": user,
            "user_id": user,  # sent by the frontend, ignored
        }
        inference = web.post("/inf", json=asked)
        assert inference.status_code == 200, inference.text
        result = inference.json()
        assert result["boxes"], "the built-in detector finds the seed"
        boxes = [{"boxId": box["box_id"]} for box in result["boxes"]]
        confirmed = web.post(
            "/feedback-positive", json={"userId": user, "inferenceId": result["inference_id"], "boxes": boxes}
        )
        assert confirmed.status_code == 200, confirmed.text

        second = web.post("/inf", json=asked).json()
        added = {"boxId": "", "label": "Bromus secalinus", "classId": "", "box": second["boxes"][0]["box"]}
        corrected = web.post(
            "/feedback-negative",
            json={"userId": user, "inferenceId": second["inference_id"], "boxes": [added]},
        )
        assert corrected.status_code == 200, corrected.text

        # mallory, signed in as herself, names alice's data: refused, nothing changes
        mallory_id = other.post("/get-user-id").json()["user_id"]
        for path, body in (
            ("/get-directories", {"container_name": user}),
            ("/del", {"container_name": user, "folder_name": general}),
            ("/feedback-positive", {"userId": user, "inferenceId": result["inference_id"], "boxes": boxes}),
            ("/delete-permanently", {"container_name": mallory_id, "folder_uuid": general}),
        ):
            answer = other.post(path, json=body)
            assert answer.status_code == 403, (path, answer.text)

        folder = web.post("/create-dir", json={"container_name": user, "folder_name": "lab batch"}).json()[0]
        session = web.post(
            "/new-batch-import", json={"container_name": user, "nb_pictures": 1, "folder_name": "import"}
        ).json()["session_id"]
        uploaded = web.post(
            "/upload-picture",
            json={
                "container_name": user,
                "session_id": session,
                "seed_name": "Bromus secalinus",
                "image": image,
                "user_id": user,
            },
        )
        assert uploaded.json() == [True], uploaded.text
        names = {
            f["folder_name"]
            for f in web.post("/get-directories", json={"container_name": user}).json()["folders"]
        }
        assert {"General", "lab batch", "import"} <= names
        assert web.post("/del", json={"container_name": user, "folder_name": folder}).status_code == 200
        names = {
            f["folder_name"]
            for f in web.post("/get-directories", json={"container_name": user}).json()["folders"]
        }
        assert "lab batch" not in names
