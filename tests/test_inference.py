"""POST /inf end to end: pipelines from the database, the original's model protocols against a
real loopback model server, named upstream failures, atomic saving."""

import asyncio
import base64
import hashlib
import json
import re
import threading
import uuid
import warnings

import pytest
import yaml
from cryptography.fernet import Fernet

from model_inference.pipeline_file import load_pipeline_file
from storage.layout import container_name
from tests.conftest import DATA, ClientThatHangsUp, data_url, png_bytes, png_header
from tests.model_server import KEY, ModelServer
from usecases.inference import ImageWarning
from usecases.pipelines import insert_pipelines

CTX = "API Error during classification : "


@pytest.fixture(scope="module")
def model_server():
    server = ModelServer()
    yield server
    server.close()


def model(name, path, server, **extra):
    return {
        "task": "Classification",
        "endpoint": f"{server.url}/{path}/score",
        "api_key": KEY,
        "content_type": "application/json",
        "deployment_platform": "azureml-model-deployment",
        "endpoint_name": name,
        "model_name": name,
        "created_by": "tests",
        "creation_date": "2024-01-01",
        "version": 3,
        "description": "",
        "job_name": "",
        "dataset_description": "",
        "accuracy": 0.9,
        **extra,
    }


def pipeline(name, models, default=False):
    return {
        "models": models,
        "pipeline_name": name,
        "created_by": "tests",
        "creation_date": "2024-01-01",
        "version": 2,
        "description": f"{name} pipeline",
        "job_name": "",
        "dataset_description": "d",
        "accuracy": 0.9,
        "default": default,
    }


async def register(services, tmp_path, models, pipelines, fernet=None):
    path = tmp_path / f"pipelines-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        yaml.safe_dump({"version": "0.1.4", "date": "2024-08-01", "models": models, "pipelines": pipelines})
    )
    await insert_pipelines(services.pool, load_pipeline_file(str(path)), fernet)
    await services.pipelines.reload()


@pytest.fixture
async def pipelines(services, model_server, tmp_path):
    s = model_server
    names = {k: f"{k}-{uuid.uuid4().hex[:6]}" for k in ("swin", "ens", "six", "bad")}
    await register(
        services,
        tmp_path,
        [
            model("seed-detector-1", "detect", s),
            model("swinv1-base-dataaugv2-1", "classify", s),
            model("swin-27-spp", "classify", s),
            model("swin-15e-spp", "ensemble-b", s),
            model("m-14of15seeds-6seedsmag", "sixseeds", s),
        ],
        [
            pipeline(names["swin"], ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True),
            pipeline(names["ens"], ["seed-detector-1", "swin-27-spp", "swin-15e-spp"]),
            pipeline(names["six"], ["m-14of15seeds-6seedsmag"]),
        ],
    )
    return names


def tray(width=400, height=300):
    return png_bytes(width, height, color=(230, 220, 200))


def inf_body(pipeline_name, user, image=None, dims=(400, 300), **extra):
    image = image if image is not None else tray(*dims)
    return {
        "model_name": pipeline_name,
        "image": data_url(image),
        "imageDims": list(dims),
        "folder_name": "General",
        "container_name": str(user),
        **extra,
    }


async def post(client, body):
    response = await client.post("/inf", json=body)
    return response.status_code, await response.get_json()


async def test_swin_pipeline_end_to_end(client, user, pipelines, model_server, pool):
    model_server.requests.clear()
    status, body = await post(client, inf_body(pipelines["swin"], user))
    assert status == 200, body
    assert [b["label"] for b in body["boxes"]] == ["Ambrosia artemisiifolia", "Brassica napus"]
    assert body["boxes"][0]["box"] == {"topX": 40, "topY": 30, "bottomX": 120, "bottomY": 120}
    assert (
        body["boxes"][0]["topN"][0]["label"] == "Ambrosia artemisiifolia"
        and body["boxes"][0]["topN"][0]["object_id"]
    )
    assert body["labelOccurrence"] == {"Ambrosia artemisiifolia": 1, "Brassica napus": 1}
    assert body["totalBoxes"] == 2 and re.fullmatch(r"[0-9a-f]{16}\.png", body["filename"]), body["filename"]
    assert body["models"] == [
        {"name": "seed-detector-1", "version": 3},
        {"name": "swinv1-base-dataaugv2-1", "version": 3},
    ]
    async with pool.acquire() as conn:
        pipeline_id = await conn.fetchval("SELECT id FROM pipeline WHERE name = $1", pipelines["swin"])
    assert body["pipeline_id"] == str(pipeline_id)
    # the wire: detector gets input_data JSON, the classifier raw base64 crops, with the three headers
    detect, *classify = model_server.requests
    assert json.loads(detect["body"])["input_data"] == {
        "columns": ["image"],
        "index": [0],
        "data": [base64.b64encode(tray()).decode()],
    }
    assert detect["headers"]["azureml-model-deployment"] == "seed-detector-1"
    assert detect["headers"]["content-type"] == "application/json"
    assert detect["headers"]["authorization"] == f"Bearer {KEY}"
    assert len(classify) == 2 and all(
        r["headers"]["azureml-model-deployment"] == "swinv1-base-dataaugv2-1" for r in classify
    )
    assert base64.b64decode(classify[0]["body"])[:4] == b"\x89PNG"  # crops keep the picture's format


async def test_ensemble_reclassifies_only_ambrosia(client, user, pipelines, model_server):
    status, body = await post(client, inf_body(pipelines["ens"], user))
    assert status == 200, body
    # box 0 was "012 Ambrosia artemisiifolia" -> re-labelled by B; box 1 (Brassica) kept A's answer
    assert [b["label"] for b in body["boxes"]] == ["013 Ambrosia trifida", "000 Brassica napus"]


async def test_six_seeds(client, user, pipelines):
    status, body = await post(client, inf_body(pipelines["six"], user))
    assert status == 200 and body["filename"] == "six" and body["totalBoxes"] == 2


async def test_pipeline_runs_models_in_its_own_order(services, model_server, tmp_path, client, user):
    name = f"order-{uuid.uuid4().hex[:6]}"
    # models declared classifier-first in the file's model list; the pipeline lists detector first
    await register(
        services,
        tmp_path,
        [
            model("swinv1-base-dataaugv2-1", "classify", model_server),
            model("seed-detector-1", "detect", model_server),
        ],
        [pipeline(name, ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True)],
    )
    assert [m.name for m in services.pipelines.get(name).models] == [
        "seed-detector-1",
        "swinv1-base-dataaugv2-1",
    ]
    assert (await post(client, inf_body(name, user)))[0] == 200


async def test_encrypted_endpoint_and_key(services, model_server, tmp_path, client, user):
    key = Fernet.generate_key()
    services.pipelines.fernet = Fernet(key)
    name = f"sealed-{uuid.uuid4().hex[:6]}"
    await register(
        services,
        tmp_path,
        [
            model("seed-detector-1", "detect", model_server),
            model("swinv1-base-dataaugv2-1", "classify", model_server),
        ],
        [pipeline(name, ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True)],
        Fernet(key),
    )
    async with services.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT v.data FROM model m JOIN model_version v ON v.id = m.active_version WHERE m.name = 'seed-detector-1'"
        )
    assert stored["api_key"].startswith("gAAAAA") and KEY not in json.dumps(stored)
    assert (await post(client, inf_body(name, user)))[0] == 200


async def test_model_endpoints_metadata_has_no_secrets(client, pipelines):
    response = await client.get("/model-endpoints-metadata")
    listed = {p["pipeline_name"]: p for p in await response.get_json()}
    entry = listed[pipelines["swin"]]
    assert entry["models"] == ["seed-detector-1", "swinv1-base-dataaugv2-1"]
    assert entry["model_name"] == pipelines["swin"] and entry["default"] is True
    assert {
        "created_by",
        "creation_date",
        "dataset",
        "description",
        "job_name",
        "version",
        "pipeline_id",
    } <= entry.keys()
    text = json.dumps(listed)
    assert KEY not in text and "/score" not in text


async def test_the_saved_picture_is_the_one_sent_with_its_sha256(client, user, pipelines, pool, blob_store):
    image = tray(400, 300)
    status, body = await post(client, inf_body(pipelines["swin"], user, image=image))
    assert status == 200
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT p.id, p.sha256 FROM inference i JOIN picture p ON p.id = i.picture_id WHERE i.id = $1",
            uuid.UUID(body["inference_id"]),
        )
    assert row["sha256"] == hashlib.sha256(image).hexdigest()
    (blob,) = [b.name for b in await blob_store.list(container_name(user)) if str(row["id"]) in b.name]
    assert await blob_store.download(container_name(user), blob) == image


async def test_inference_goes_to_the_named_folder(client, user, storage, pipelines):
    folder = await storage.create_picture_set(user, 0, "bench")
    assert (await post(client, {**inf_body(pipelines["swin"], user), "folder_name": "bench"}))[0] == 200
    assert (await post(client, {**inf_body(pipelines["swin"], user), "folder_name": str(folder)}))[0] == 200
    assert (await post(client, {**inf_body(pipelines["swin"], user), "folder_name": "no such folder"}))[
        0
    ] == 200
    listing = {f["folder_name"]: f["nb_pictures"] for f in await storage.get_directories(user)}
    assert listing == {"General": 1, "bench": 2}


@pytest.mark.parametrize(
    "path,status,message",
    [
        ("status401", 502, "model seed-detector-1 rejected the credentials (HTTP 401)"),
        ("status403", 502, "model seed-detector-1 rejected the credentials (HTTP 403)"),
        ("status404", 502, "model seed-detector-1 was not found at its endpoint (HTTP 404)"),
        ("status424", 502, "model seed-detector-1 failed while scoring (HTTP 424)"),
        ("status500", 502, "model seed-detector-1 failed while scoring (HTTP 500)"),
        ("notjson", 502, "model seed-detector-1 answered with a body that is not JSON"),
        ("refused", 502, "model seed-detector-1 is unreachable (connection refused)"),
        ("outside", 502, "model seed-detector-1 returned box coordinates outside 0..1"),
        ("nan", 502, "model seed-detector-1 answered a number that is not finite (NaN or Infinity)"),
        ("infinity", 502, "model seed-detector-1 answered a number that is not finite (NaN or Infinity)"),
        ("hangup", 502, "model seed-detector-1 closed the connection"),
        ("ftp", 502, "model seed-detector-1 has an invalid endpoint URL"),
        ("malformed", 502, "model seed-detector-1 has an invalid endpoint URL"),
    ],
)
async def test_upstream_failures_are_named_and_nothing_is_written(
    services, model_server, tmp_path, client, user, pool, blob_store, path, status, message
):
    from tests.conftest import free_port

    detector = model("seed-detector-1", path, model_server)
    endpoints = {
        "refused": f"http://127.0.0.1:{free_port()}/score",
        "ftp": "ftp://127.0.0.1/score",
        "malformed": "http://[::1/score",
    }
    detector["endpoint"] = endpoints.get(path, detector["endpoint"])
    name = f"broken-{uuid.uuid4().hex[:6]}"
    await register(
        services,
        tmp_path,
        [detector, model("swinv1-base-dataaugv2-1", "classify", model_server)],
        [pipeline(name, ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True)],
    )
    got_status, body = await post(client, inf_body(name, user))
    assert got_status == status and body[0].startswith(CTX + message), body
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM picture p JOIN picture_set s ON s.id = p.picture_set_id WHERE s.owner_id = $1",
                user,
            )
            == 0
        )
    assert [b.name for b in await blob_store.list(container_name(user))] == ["General/General.json"]


async def test_timeout_is_504(services, model_server, tmp_path, client_for, user, data_root, db_url):
    from nachet.config import load_settings
    from nachet.runtime import make_services
    from tests.conftest import SCHEMA

    config = load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_MODEL_READ_TIMEOUT": "0.3"},
        dotenv=False,
    )
    quick = make_services(config, services.pool, services.blobs, db_url)
    name = f"slow-{uuid.uuid4().hex[:6]}"
    await register(
        quick,
        tmp_path,
        [
            model("seed-detector-1", "detect", model_server),
            model("swinv1-base-dataaugv2-1", "classify", model_server),
        ],
        [pipeline(name, ["seed-detector-1", "swinv1-base-dataaugv2-1"], default=True)],
    )
    model_server.delay_s = 1.0
    try:
        status, body = await post(client_for(quick, config), inf_body(name, user))
    finally:
        model_server.delay_s = 0.0
        await quick.http.aclose()
    assert status == 504 and body == [CTX + "model seed-detector-1 did not answer in time"]


async def test_unknown_label_is_refused_and_nothing_written(
    client, user, pipelines, model_server, pool, blob_store
):
    model_server.labels = ["999 Martian bean", "000 Brassica napus"]
    try:
        status, body = await post(client, inf_body(pipelines["swin"], user))
    finally:
        model_server.labels = ["012 Ambrosia artemisiifolia", "000 Brassica napus"]
    assert status == 502 and body == [
        CTX + "model swinv1-base-dataaugv2-1 answered a label that is not in the seed table: 'Martian bean'"
    ]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inference WHERE user_id = $1", user) == 0
    assert [b.name for b in await blob_store.list(container_name(user))] == ["General/General.json"]


async def blobs_once_the_picture_is_stored(blob_store, user, request) -> list[str]:
    """The user's blobs once the picture's is stored next to the folder's marker, or as they are
    when the request ended first (30 s at most)."""
    names: list[str] = []
    for _ in range(600):
        names = [b.name for b in await blob_store.list(container_name(user))]
        if len(names) > 1 or request.done():
            break
        await asyncio.sleep(0.05)
    return names


async def test_the_picture_is_stored_while_the_models_work(client, user, pipelines, model_server, blob_store):
    """/inf uploads the picture while its models work (the blob store's round trip then costs
    the caller nothing): the blob is there while the detector has not answered yet."""
    picture = png_bytes(400, 300, color=(231, 219, 201))  # its own bytes: no cached result
    model_server.hold = threading.Event()
    try:
        request = asyncio.ensure_future(post(client, inf_body(pipelines["swin"], user, image=picture)))
        names = await blobs_once_the_picture_is_stored(blob_store, user, request)
        assert not request.done() and len(names) == 2, names
    finally:
        model_server.hold.set()
        model_server.hold = None
    status, body = await request
    assert status == 200, body
    stored = await blob_store.download(
        container_name(user), next(n for n in names if n != "General/General.json")
    )
    assert stored == picture


async def test_a_request_given_up_while_the_models_work_leaves_no_picture(
    client, user, pipelines, model_server, blob_store, pool
):
    """The client goes away (an ASGI disconnect, as hypercorn sends it) after the picture was
    stored and before the models answered: its blob is removed, and no row is written."""
    body = json.dumps(inf_body(pipelines["swin"], user, image=png_bytes(400, 300, color=(229, 221, 199))))
    hangs_up = ClientThatHangsUp("/inf", body)
    model_server.hold = threading.Event()
    try:
        request = hangs_up.call(client.app)
        names = await blobs_once_the_picture_is_stored(blob_store, user, request)
        assert not request.done() and len(names) == 2, names
        hangs_up.gone.set()  # the client hangs up
        await asyncio.wait_for(request, 30)
    finally:
        model_server.hold.set()
        model_server.hold = None
    assert hangs_up.sent == ["body"]  # no answer was sent
    assert [b.name for b in await blob_store.list(container_name(user))] == ["General/General.json"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inference WHERE user_id = $1", user) == 0


async def until(condition, what: str) -> None:
    """Wait for `condition()` to hold (30 s at most)."""
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen in 30 s: {what}")


async def test_the_models_start_while_the_user_is_looked_up(client, user, pipelines, model_server, pool):
    """Once the picture is checked, the detector gets it while the user and folder are looked up
    (here that lookup waits on a lock); the inference is saved once the lookup ends."""
    model_server.requests.clear()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE image_validator IN ACCESS EXCLUSIVE MODE")  # the lookup reads it
        request = asyncio.ensure_future(post(client, inf_body(pipelines["swin"], user, dims=(402, 300))))
        await until(lambda: any("/detect" in r["path"] for r in model_server.requests), "the detector called")
        assert not request.done()
    status, answer = await asyncio.wait_for(request, 30)
    assert status == 200 and len(answer["boxes"]) == 2, answer


async def test_a_refused_user_is_answered_without_waiting_for_the_models(
    client, pipelines, model_server, services
):
    """The models already working for a user the lookup refuses are cancelled: the answer is the
    user's error, at once, though the detector has not answered (it never will here), and the
    picture's early-decode slot is given back."""
    model_server.hold = threading.Event()
    try:
        body = inf_body(pipelines["swin"], uuid.uuid4(), dims=(403, 300))
        assert await asyncio.wait_for(post(client, body), 20) == (
            400,
            ["Datastore Error during classification : Datastore Unhandled Error"],
        )
    finally:
        model_server.hold.set()
        model_server.hold = None
    assert services.inference._early_decodes.used == 0


async def test_zero_boxes_is_a_saved_inference(client, user, pipelines, model_server):
    saved_boxes, model_server.boxes = model_server.boxes, []
    try:
        status, body = await post(client, inf_body(pipelines["swin"], user, color_format="rgb"))
    finally:
        model_server.boxes = saved_boxes
    assert (
        status == 200 and body["totalBoxes"] == 0 and body["labelOccurrence"] == {} and body["inference_id"]
    )


# -- the spec's test pipeline ------------------------------------------------------------------------------
async def test_test_route_is_404_outside_local_and_test(client):
    assert (await client.get("/test")).status_code == 404


async def test_test_pipeline_end_to_end(local_client, user):
    response = await local_client.get("/test")
    assert await response.get_json() == [{"models": ["test_model1"], "pipeline_name": "test_pipeline"}]
    image = (DATA / "1310_1.png").read_bytes()
    body = {
        "model_name": "test_pipeline",
        "image": data_url(image, "image/PNG"),
        "imageDims": [638, 559],
        "folder_name": "test1",
        "container_name": str(user),
    }
    status, result = await post(local_client, body)
    assert status == 200, result
    keys = set(result) | set(result["boxes"][0])
    assert keys == {
        "filename",
        "boxes",
        "labelOccurrence",
        "totalBoxes",
        "box",
        "label",
        "color",
        "score",
        "topN",
        "overlapping",
        "overlappingIndices",
        "models",
        "box_id",
        "inference_id",
        "object_type_id",
        "top_id",
        "pipeline_id",
        "genus",  # added (taxonomy roll-up): the original's keys all stay
        "family",
    }
    assert result["boxes"][0]["box"] == {"topX": 49, "topY": 38, "bottomX": 548, "bottomY": 313}
    assert result["boxes"][0]["color"] == "#ED1C24"
    assert result["models"] == [{"name": "test_model1", "version": 1}]
    status, result = await post(local_client, {**body, "image": "data:image/PNG;base64,"})
    assert status == 400 and result == [
        CTX + "An error occurred while processing the requests :\n "
        "The result send to the inference function is empty"
    ]


MISSING = CTX + "missing request arguments: either folder_name, container_name, imageDims or image is missing"


@pytest.mark.parametrize("blank", ["image", "imageDims", "folder_name", "container_name"])
async def test_missing_arguments(local_client, blank):
    body = {
        "model_name": "test_pipeline",
        "image": "data:image/png;base64,AAAA",
        "imageDims": [10, 10],
        "folder_name": "f",
        "container_name": "c",
        blank: "",
    }
    assert await post(local_client, body) == (400, [MISSING])


async def test_unknown_pipeline_is_checked_before_the_image(local_client):
    body = {
        "model_name": "wrong_pipeline_name",
        "image": base64.b64encode(b"x").decode(),
        "imageDims": [1, 1],
        "folder_name": "f",
        "container_name": "c",
    }
    assert await post(local_client, body) == (400, [CTX + "model wrong_pipeline_name not found"])


async def test_unvalidated_picture_warns_last(local_client, user):
    await local_client.get("/test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await post(local_client, inf_body("test_pipeline", user))
    assert issubclass(caught[-1].category, ImageWarning) and "this picture was not validate" in str(
        caught[-1].message
    )


async def test_a_picture_validated_first_does_not_warn(local_client, user):
    await local_client.get("/test")
    body = inf_body("test_pipeline", user)
    response = await local_client.post("/image-validation", json={"image": body["image"]})
    (validator,) = await response.get_json()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (await post(local_client, {**body, "validator": validator}))[0] == 200
    assert not [w for w in caught if issubclass(w.category, ImageWarning)]


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            {"imageDims": [0, 300]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [400]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": "400x300"},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [-400, 300]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [float("nan"), 300]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [400, float("inf")]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": ["400", "300"]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [400, 300, 3]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [True, 300]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (  # was accepted: boxes scaled to 1e308 pixels
            {"imageDims": [1e308, 1e308]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        (
            {"imageDims": [400, 100_001]},
            (400, [CTX + "imageDims must be two positive numbers of at most 100000: [width, height]"]),
        ),
        ({"image": data_url(png_header(100_001, 1_000))}, (400, [CTX + "invalid file size: 100001x1000"])),
        (
            {"image": data_url(png_bytes(400, 300, fmt="JPEG")[:-600], "image/jpeg")},
            (400, [CTX + "the image is truncated or corrupt"]),
        ),
        ({"image": data_url(png_bytes(400, 300)[:-40])}, (400, [CTX + "the image is truncated or corrupt"])),
        ({"area_ratio": 1.5}, (400, [CTX + "area_ratio must be a number between 0 and 1"])),
        (
            {"color_format": "cmyk"},
            (
                400,
                [CTX + "Error while processing inference results :\n object of type 'NoneType' has no len()"],
            ),
        ),
        ({"image": "no comma"}, (400, ["Unhandled API error : Error during classification"])),
        (
            {"image": "data:image/png;base64," + base64.b64encode(b"not an image").decode()},
            (400, [CTX + "the image could not be read: UnidentifiedImageError"]),
        ),
        (
            {"container_name": "not-a-user"},
            (400, ["Datastore Error during classification : Datastore Unhandled Error"]),
        ),
        (  # both checked at once; the picture's error first, as when they ran in turn
            {"container_name": "not-a-user", "image": data_url(png_bytes(400, 300)[:-40])},
            (400, [CTX + "the image is truncated or corrupt"]),
        ),
    ],
)
async def test_bad_input_writes_nothing(local_client, user, pool, blob_store, change, expected):
    await local_client.get("/test")
    assert await post(local_client, {**inf_body("test_pipeline", user), **change}) == expected
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inference WHERE user_id = $1", user) == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM picture p JOIN picture_set s ON s.id = p.picture_set_id "
                "WHERE s.owner_id = $1",
                user,
            )
            == 0
        )
    if not change.get("container_name"):
        assert [b.name for b in await blob_store.list(container_name(user))] == ["General/General.json"]


@pytest.mark.parametrize(
    "dims,expected",
    [
        ([638, 559], {"topX": 49, "topY": 38, "bottomX": 548, "bottomY": 313}),
        ([319, 279.5], {"topX": 24, "topY": 19, "bottomX": 274, "bottomY": 156}),  # a canvas at half size
        ([1000, 500], {"topX": 78, "topY": 34, "bottomX": 860, "bottomY": 280}),  # another shape: logged
    ],
)
async def test_boxes_are_scaled_to_any_image_dims(local_client, user, caplog, dims, expected):
    """The original's contract (spec §8): any two positive numbers; the boxes are in their units."""
    await local_client.get("/test")
    image = (DATA / "1310_1.png").read_bytes()
    status, result = await post(
        local_client, {**inf_body("test_pipeline", user, image=image), "imageDims": dims}
    )
    assert status == 200, result
    assert result["boxes"][0]["box"] == expected
    assert ("differ in aspect ratio" in caplog.text) == (dims == [1000, 500])


async def test_model_name_may_be_omitted_for_the_default_pipeline(client, user, pipelines, model_server):
    body = inf_body(pipelines["swin"], user)
    del body["model_name"]
    status, answer = await post(client, body)
    assert status == 200 and [m["name"] for m in answer["models"]] == [
        "seed-detector-1",
        "swinv1-base-dataaugv2-1",
    ]
    status, answer = await post(client, {**body, "model_name": None})
    assert status == 200, answer


async def test_the_detector_receives_the_pictures_base64_whatever_its_wrapping(
    client, user, pipelines, model_server
):  # noqa: F811
    """Plain base64 is sent on as the client wrote it; base64 with line breaks (lenient, as the
    original read it) is decoded and the detector gets the same picture in plain base64."""
    for width, wrap in ((400, False), (401, True)):  # two pictures: the same one would be cached
        plain = base64.b64encode(tray(width, 300)).decode()
        sent = "\n".join(plain[i : i + 76] for i in range(0, len(plain), 76)) if wrap else plain
        model_server.requests.clear()
        body = {
            **inf_body(pipelines["swin"], user, dims=(width, 300)),
            "image": "data:image/png;base64," + sent,
        }
        status, answer = await post(client, body)
        assert status == 200, answer
        detect = model_server.requests[0]
        assert json.loads(detect["body"])["input_data"]["data"] == [plain]


async def test_a_picture_keeps_the_name_its_client_gave(client, user, pipelines, model_server):
    """Stored pictures were all named "default_filename": now the client's `filename` (its last
    path part), else the first 16 hex digits of the picture's sha256 with its type's extension."""
    body = inf_body(pipelines["swin"], user)
    status, named = await post(client, {**body, "filename": "../trays/lot 7 tray 2.png"})
    assert status == 200 and named["filename"] == "lot 7 tray 2.png"
    status, unnamed = await post(client, body)
    digest = hashlib.sha256(base64.b64decode(body["image"].split(",", 1)[1])).hexdigest()
    assert status == 200 and unnamed["filename"] == f"{digest[:16]}.png"
    for bad in (7, "", "/", "x" * 256, "tab\tname.png"):
        status, answer = await post(client, {**body, "filename": bad})
        assert status == 400 and answer[0].endswith(
            "filename must be a file name of at most 255 characters"
        ), bad
