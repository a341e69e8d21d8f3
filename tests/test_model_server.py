"""The local model server, a real process on loopback, driven by the original's HTTP protocols."""

import base64
import json
import sys
import urllib.error
import urllib.request
import uuid

import cv2
import pytest

from testkit.synthetic import make_tray
from tests.conftest import SCHEMA, free_port, start_process, wait_until_healthy
from tests.test_inference import model, pipeline, post, register
from tests.test_learning import png_url

KEY = "lab-key"


@pytest.fixture(scope="module")
def model_server(db_url, pool):
    port = free_port()
    env = {"NACHET_DB_URL": db_url, "NACHET_SCHEMA": SCHEMA}
    proc = start_process(
        [sys.executable, "-m", "nachet", "serve-models", "--port", str(port), "--key", KEY], env
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, proc, 60)
    yield url
    proc.terminate()
    proc.wait(20)


def score(url, deployment, body: bytes, key=KEY):
    request = urllib.request.Request(
        url + "/score",
        body,
        {
            "Authorization": f"Bearer {key}",
            "azureml-model-deployment": deployment,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_protocol_and_errors(model_server):
    image, _ = make_tray(77, 3, touch_prob=0.0, size=(640, 480))
    b64 = base64.b64encode(cv2.imencode(".png", image)[1].tobytes())
    status, answer = score(
        model_server,
        "seed-detector-1",
        json.dumps({"input_data": {"columns": ["image"], "index": [0], "data": [b64.decode()]}}).encode(),
    )
    assert (
        status == 200
        and len(answer["boxes"]) == 3
        and set(answer["boxes"][0]["box"]) == {"topX", "topY", "bottomX", "bottomY"}
    )
    status, answer = score(model_server, "swinv1-base-dataaugv2-1", b64)
    assert status == 200 and isinstance(answer, list) and answer[0]["label"][:3].isdigit()
    assert score(model_server, "seed-detector-1", b"{}", key="wrong")[0] == 401
    assert score(model_server, "no-such-model", b64)[0] == 404
    assert score(model_server, "seed-detector-1", b"not json")[0] == 400


async def test_original_http_pipelines_against_the_local_server(
    model_server, services, tmp_path, client, user
):
    class Local:
        url = model_server

    name = f"lan-{uuid.uuid4().hex[:6]}"
    endpoint = {"endpoint": f"{model_server}/score", "api_key": KEY}
    await register(
        services,
        tmp_path,
        [
            model("seed-detector-1", "", Local, **endpoint),
            model("swinv1-base-dataaugv2-1", "", Local, **endpoint),
            model("m-14of15seeds-6seedsmag", "", Local, **endpoint),
        ],
        [
            pipeline(name, ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True),
            pipeline(name + "-six", ["m-14of15seeds-6seedsmag"]),
        ],
    )
    image, truth = make_tray(78, 4, touch_prob=0.0, size=(640, 480))
    for pipeline_name in (name, name + "-six"):
        status, body = await post(
            client,
            {
                "model_name": pipeline_name,
                "image": png_url(image),
                "imageDims": [640, 480],
                "folder_name": "General",
                "container_name": str(user),
            },
        )
        assert status == 200, body
        assert body["totalBoxes"] == 4 and all(b["label"] for b in body["boxes"])
