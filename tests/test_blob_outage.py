"""Azure Blob outages in the production configuration: answered 503 in seconds, no pooled
connection held while a blob call hangs, a server that starts without its blob account, and a
wrong key named as such. Against Azurite and loopback servers that refuse, or accept and stall."""

import asyncio
import socket
import threading
import time
import uuid

import pytest

from datastore.blob.azure import AzureBlobStore
from kernel.errors import StorageUnavailable
from nachet.config import load_settings
from nachet.runtime import close_services, open_services
from storage import Storage
from tests.conftest import AZURITE_API_VERSION, AZURITE_KEY, data_url, free_port, png_bytes


def account(port: int, key: str = AZURITE_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


class StallingServer:
    """Accepts connections on loopback and never answers (a blob account that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.running = False
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def stalling():
    server = StallingServer()
    yield server
    server.close()


async def test_an_unreachable_account_is_a_503_within_seconds(pool, user):
    store = AzureBlobStore(account(free_port()), api_version=AZURITE_API_VERSION)
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="blob storage is unavailable"):
            await Storage(pool, store).create_picture_set(user, 0, "never")
        elapsed = time.monotonic() - started
    finally:
        await store.close()
    print(f"refused account answered in {elapsed:.2f} s")
    assert elapsed < 10


async def test_a_stalled_account_holds_no_connection_and_reads_keep_answering(
    pool, user, storage, stalling, client_for, services
):
    """20 uploads wait on a blob account that never answers; the pool stays free, so
    /get-directories keeps answering within a second, and every upload ends in a 503."""
    store = AzureBlobStore(
        account(stalling.port),
        api_version=AZURITE_API_VERSION,
        connect_timeout_s=1,
        read_timeout_s=2,
        retries=1,
    )
    blocked = Storage(pool, store)
    folder = await storage.create_picture_set(user, 20, f"outage-{uuid.uuid4().hex[:6]}")
    reader = client_for(services)
    in_use, latencies = [], []

    async def upload():
        with pytest.raises(StorageUnavailable):
            await blocked.upload_pictures(user, folder, [png_bytes()], seed_name="Brassica napus")

    uploads = [asyncio.ensure_future(upload()) for _ in range(20)]
    began = time.monotonic()
    try:
        while not all(task.done() for task in uploads):
            if 0.5 < time.monotonic() - began < 1.8:
                # every upload is past its quick row lookup, and none can have timed out yet (read
                # timeout 2 s; a failing upload records its blobs for the sweeper, which takes a
                # connection): what is in use now is held by uploads blocked on the account
                in_use.append(pool.get_size() - pool.get_idle_size())
            started = time.monotonic()
            response = await reader.post("/get-directories", json={"container_name": str(user)})
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            await asyncio.wait(uploads, timeout=0.1)
        await asyncio.gather(*uploads)
    finally:
        await store.close()
    print(
        f"pool connections in use during the outage: max {max(in_use)}; /get-directories "
        f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} requests"
    )
    assert len(latencies) >= 5 and max(latencies) < 1.0 and len(in_use) >= 3
    assert max(in_use) <= 2  # the reader's own request, never one per blocked upload


async def test_a_wrong_key_is_named(pool, user, azurite):
    port = int(azurite.split("127.0.0.1:")[1].split("/")[0])
    wrong = AZURITE_KEY[:-8] + "AAAAAAA="
    store = AzureBlobStore(account(port, wrong), api_version=AZURITE_API_VERSION)
    try:
        with pytest.raises(StorageUnavailable, match="authentication failed"):
            await Storage(pool, store).create_picture_set(user, 0, "never")
    finally:
        await store.close()


async def test_the_server_starts_without_its_blob_account_and_recovers(db_url, tmp_path, client_for, caplog):
    schema = f"outage_{uuid.uuid4().hex[:6]}"
    settings = load_settings(
        {
            "NACHET_DB_URL": db_url,
            "NACHET_SCHEMA": schema,
            "NACHET_DATA_DIR": str(tmp_path),
            "NACHET_AZURE_STORAGE_CONNECTION_STRING": account(free_port()),
            "NACHET_AZURE_STORAGE_API_VERSION": AZURITE_API_VERSION,
        },
        dotenv=False,
    )
    started = time.monotonic()
    services = await open_services(settings)
    try:
        elapsed = time.monotonic() - started
        assert elapsed < 15
        assert "blob storage http://127.0.0.1:" in caplog.text and "unreachable at start-up" in caplog.text
        client = client_for(services, settings)
        assert (await client.get("/health")).status_code == 200
        response = await client.post("/get-user-id")
        assert response.status_code == 503  # not registered yet, as the blob store is away
        assert await response.get_json() == [
            "Datastore Error retrieving user id for email example@gmail.com : the blob storage is unavailable"
        ]
        response = await client.post("/image-validation", json={"image": data_url(png_bytes())})
        assert response.status_code == 200  # routes without blobs work
        assert services.background  # the default account is registered once blobs are back
    finally:
        await close_services(services)
    print(f"started without the blob account in {elapsed:.2f} s")


async def test_azurite_killed_mid_upload_and_restarted_leaves_no_orphan(pool, user, storage, tmp_path):
    """Uploads run while the blob account dies; after it restarts (same data), the blobs the
    failed units could not remove are swept, and fsck finds nothing."""
    import subprocess

    from storage import fsck, layout
    from tests.conftest import ROOT

    port = free_port()
    command = [
        str(ROOT / "node_modules" / ".bin" / "azurite-blob"),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(tmp_path / "azurite"),
        "--disableTelemetry",
        "--silent",
    ]

    def start():
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("Azurite did not start")

    azurite = start()
    store = AzureBlobStore(
        account(port), api_version=AZURITE_API_VERSION, connect_timeout_s=1, read_timeout_s=2
    )
    outage = Storage(pool, store)
    try:
        owner = await outage.create_user(f"outage-{uuid.uuid4().hex[:6]}@example.org")
        folder = await outage.create_picture_set(owner, 40, "batch")
        container = layout.container_name(owner)

        async def upload():
            try:
                await outage.upload_pictures(
                    owner, folder, [png_bytes(1200, 900)], seed_name="Brassica napus"
                )
            except StorageUnavailable:
                pass

        uploads = [asyncio.ensure_future(upload()) for _ in range(40)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(await store.list(container)) < 5:
            await asyncio.sleep(0.01)
        azurite.terminate()  # mid-upload; SIGTERM first: Azurite saves its index (SIGKILL alone loses
        try:  # blobs it had acknowledged, which real Azure never does), then waits on open connections
            azurite.wait(3)
        except subprocess.TimeoutExpired:
            azurite.kill()
            azurite.wait(10)
        await asyncio.gather(*uploads)
        azurite = start()  # same data: the blobs it had stored are back
        settled = await outage.sweep_blob_deletions()
        assert settled >= 1  # the failed uploads could not be compensated while it was down
        assert await fsck.check(pool, store, grace_s=0, only={container}) == []
    finally:
        await store.close()
        azurite.kill()
        azurite.wait(10)
