"""What operators get (issue "Operability"): request ids, JSON logs, /ready, /version and
/metrics summed over the workers of a real server."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import re
import signal
import time
import urllib.error
import urllib.request

from datastore.blob import open_blob_store
from model_inference.registry import PipelineRegistry
from nachet.logs import REQUEST_ID, JsonLines, RequestContext, Text
from nachet.runtime import warm_builtin_models
from nachet.version import package_version
from tests.conftest import DATA, asgi_http_scope, free_port, start_entrypoint, wait_until_ready
from tests.test_inference import inf_body, model_server, pipelines  # noqa: F401 (fixtures)


async def test_a_request_id_is_echoed_and_sent_on_to_the_models(client, user, pipelines, model_server):  # noqa: F811
    model_server.requests.clear()
    response = await client.post(
        "/inf", json=inf_body(pipelines["swin"], user), headers={"X-Request-ID": "lab-42"}
    )
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "lab-42"
    assert model_server.requests and {r["headers"].get("x-request-id") for r in model_server.requests} == {
        "lab-42"
    }
    for unfit in ("", "has spaces", "x" * 200, "é"):
        made = (await client.get("/health", headers={"X-Request-ID": unfit})).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made), unfit  # replaced by one of ours
    assert (await client.get("/health")).headers["X-Request-ID"] != made


async def test_the_access_line_is_written_once_the_answer_is_sent(client):
    """After-request log lines wait until the answer's last body message was handed to the
    server (they cost it nothing), and keep the request's id."""
    lines, at_the_end, asked, answered = [], [], [], asyncio.Event()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.getMessage(), REQUEST_ID.get()))

    async def receive():
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # then the client hangs up, as hypercorn reports it
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            at_the_end.append(list(lines))
            answered.set()

    scope = asgi_http_scope("GET", "/seeds", (b"x-request-id", b"after-1"))  # probes log no line
    capture, access = Capture(), logging.getLogger("nachet.access")
    access.addHandler(capture)
    try:
        await client.app(scope, receive, send)
    finally:
        access.removeHandler(capture)
    assert at_the_end == [[]]
    assert len(lines) == 1 and lines[0][0].startswith("GET /seeds 200") and lines[0][1] == "after-1"


def test_log_lines_carry_the_request_id_in_json_or_text():
    record = logging.makeLogRecord(
        {"name": "nachet.access", "levelno": 20, "levelname": "INFO", "msg": "POST /inf 200"}
    )
    record.__dict__.update(route="/inf", status=200)
    token = REQUEST_ID.set("abc")
    try:
        RequestContext().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "POST /inf 200" and line["request_id"] == "abc" and line["route"] == "/inf"
    assert line["level"] == "info" and line["status"] == 200 and "caller" not in line
    assert Text().format(record).endswith("INFO nachet.access: POST /inf 200 [abc]")


async def test_ready_names_each_failing_part(client_for, services):
    loading = await client_for(services).get("/ready")  # a worker that has not started its models
    assert loading.status_code == 503 and (await loading.get_json())["failing"] == {
        "models": "the built-in models are still loading"
    }
    await warm_builtin_models(services)  # what start-up runs in the background
    ok = await client_for(services).get("/ready")
    assert ok.status_code == 200 and (await ok.get_json())["ready"] is True
    port = free_port()  # nothing listens there: a real client meets a refused connection
    unreachable = open_blob_store(
        services.settings.data_dir,
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={base64.b64encode(b'k' * 32).decode()};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
        "2025-11-05",
        connect_timeout_s=1,
        read_timeout_s=1,
        retries=0,
    )
    empty = PipelineRegistry(services.pool)  # never loaded: no default pipeline
    try:
        broken = dataclasses.replace(services, blobs=unreachable, pipelines=empty)
        response = await client_for(broken).get("/ready")
        body = await response.get_json()
        assert response.status_code == 503 and body["ready"] is False
        assert set(body["failing"]) == {"blob_store", "default_pipeline"}  # models: warm (shared event)
        assert body["failing"]["default_pipeline"] == "no default pipeline is loaded"
    finally:
        await unreachable.close()


def last_migration() -> str:
    from datastore.migrate import migration_files

    version, name, _ = migration_files()[-1]
    return f"{version:04d}_{name}"


async def test_version_names_the_package_schema_and_pipelines(client, pipelines):  # noqa: F811
    body = await (await client.get("/version")).get_json()
    assert body["version"] == package_version() and body["schema"] == last_migration()
    assert body["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", body["commit"])
    listed = {p["name"]: p for p in body["pipelines"]}
    assert listed[pipelines["swin"]]["models"] == [
        {"name": "seed-detector-1", "version": 3},
        {"name": "swinv1-base-dataaugv2-1", "version": 3},
    ]


def get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=120) as r:
        return r.status, r.read()


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_two_worker_server_logs_json_and_sums_its_metrics(db_url, tmp_path):
    """The image's entrypoint with two hypercorn workers: /metrics counts the requests of both,
    whichever answers; every line the server writes is JSON, an unvalidated picture's warning
    included, and the /inf access line carries the request id."""
    url, _, server = start_entrypoint(db_url, tmp_path, WORKERS="2")
    try:
        wait_until_ready(url, server)  # the worker that answered has its models; the other one too:
        deadline = time.monotonic() + 120
        while server.output().count("built-in models loaded in") < 2:
            assert time.monotonic() < deadline and server.poll() is None, server.output()
            time.sleep(0.1)
        for _ in range(20):  # new connections: the workers share them out
            assert get(f"{url}/version")[0] == 200
        status, raw = post(f"{url}/get-user-id", {})
        user = json.loads(raw)["user_id"]
        picture = (DATA / "1310_1.png").read_bytes()
        body = {
            "image": "data:image/png;base64," + base64.b64encode(picture).decode(),
            "imageDims": [638, 559],
            "folder_name": "General",
            "container_name": user,
        }  # no model_name: the default pipeline (the built-in one, installed by the entrypoint)
        status, raw = post(f"{url}/inf", body, {"X-Request-ID": "ops-inf-1"})
        boxes = len(json.loads(raw)["boxes"])
        assert status == 200 and boxes >= 1
        metrics = get(f"{url}/metrics")[1].decode()
        versions = sample(metrics, "nachet_http_requests_total", method="GET", route="/version", status="200")
        assert versions == 20  # both workers' counts, whichever answered /metrics
        assert (
            sample(metrics, "nachet_inferences_total") == 1 and sample(metrics, "nachet_boxes_total") == boxes
        )
        assert sample(metrics, "nachet_model_call_duration_seconds_count", model="builtin-seed-detector") == 1
        assert sample(metrics, "nachet_task_queue_depth", queue="learning") == 0
        assert "nachet_db_pool_connections" in metrics
        pids = {p.name for p in (tmp_path / "metrics").iterdir()}
        assert len(pids) == 1  # one directory for this server's workers
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    lines = [line for line in output.splitlines() if line.strip()]
    served = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(
        line.startswith("{") for line in lines[lines.index(next(x for x in lines if x.startswith("{"))) :]
    ), [line for line in lines if not line.startswith("{")]
    access = [r for r in served if r["logger"] == "nachet.audit" and r.get("route") == "/inf"]
    assert access and access[0]["request_id"] == "ops-inf-1" and access[0]["status"] == 200
    assert access[0]["duration_ms"] > 0 and access[0]["method"] == "POST"
    assert sum(r["message"].startswith("built-in models loaded in") for r in served) == 2  # one per worker
    warned = [r for r in served if r["logger"] == "py.warnings"]
    assert warned and warned[0]["message"] == "ImageWarning: this picture was not validate"
    assert warned[0]["request_id"] == "ops-inf-1"
    print("\n" + json.dumps(access[0]))


async def test_unsecured_mode_reached_beyond_loopback_says_so_once(client, caplog):
    """The app cannot see hypercorn's bind, but it sees the address a request arrived on: an
    unsecured server answering beyond loopback warns, once per address."""
    from tests.conftest import asgi_http_scope

    async def get_health(server):
        scope = {**asgi_http_scope("GET", "/health"), "server": server}
        sent, answered, asked = [], asyncio.Event(), []

        async def receive():
            if not asked:
                asked.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await answered.wait()  # the client goes once it has its answer
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        await client.app(scope, receive, send)
        return sent[0]["status"]

    with caplog.at_level("WARNING", logger="nachet.access_control"):
        assert await get_health(("127.0.0.1", 8080)) == 200
        assert not caplog.records
        assert await get_health(("192.0.2.10", 8080)) == 200
        assert await get_health(("192.0.2.10", 8080)) == 200
    warned = [r.getMessage() for r in caplog.records if "beyond loopback" in r.getMessage()]
    assert len(warned) == 1 and "192.0.2.10" in warned[0]


def test_the_log_format_follows_the_terminal_unless_set():
    """Text lines for a person at a terminal, JSON lines for a collector (NACHET_LOG_FORMAT wins)."""
    from nachet.config import load_settings

    class Terminal:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    unset = load_settings({}, dotenv=False)
    assert unset.log_format_for(Terminal()) == "text" and unset.log_format_for(Pipe()) == "json"
    assert load_settings({"NACHET_LOG_FORMAT": "json"}, dotenv=False).log_format_for(Terminal()) == "json"
    assert load_settings({"NACHET_LOG_FORMAT": "text"}, dotenv=False).log_format_for(Pipe()) == "text"


async def test_probes_are_not_access_logged_unless_asked(client, caplog):
    """Orchestrators ask /health and /ready, scrapers /metrics, every few seconds: no access line
    for them unless NACHET_ACCESS_LOG_PROBES=true; every other request keeps its line."""
    import logging

    with caplog.at_level(logging.INFO, logger="nachet"):
        for path in ("/health", "/ready", "/metrics", "/seeds"):
            await client.get(path)
    access = [r.getMessage() for r in caplog.records if r.name == "nachet.access"]
    assert [line.split()[1] for line in access] == ["/seeds"], access
