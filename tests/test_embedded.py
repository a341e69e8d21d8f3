"""The embedded default: persistence across restarts, losing the database while serving,
a second instance on the same data directory, and start-up failures."""

import os
import subprocess
import sys
import uuid

import asyncpg

from datastore.embedded import start_embedded
from datastore.migrate import migrate
from nachet.config import load_settings
from nachet.runtime import close_services, open_services
from tests.conftest import ROOT


async def test_data_survives_a_restart(tmp_path):
    pg = start_embedded(tmp_path)
    conn = await asyncpg.connect(pg.url())
    await migrate(conn, "nachet")
    await conn.execute('INSERT INTO "nachet".users (email) VALUES ($1)', "kept@example.org")
    await conn.close()
    assert pg.stop()
    pg = start_embedded(tmp_path)
    conn = await asyncpg.connect(pg.url())
    assert (
        await conn.fetchval('SELECT count(*) FROM "nachet".users WHERE email = $1', "kept@example.org") == 1
    )
    assert await migrate(conn, "nachet") == []
    await conn.close()
    pg.stop()


async def test_lost_database_gives_503_and_the_pool_recovers(tmp_path, client_for, blob_store):
    settings = load_settings({"NACHET_DATA_DIR": str(tmp_path), "NACHET_SCHEMA": "nachet"}, dotenv=False)
    services = await open_services(settings)
    try:
        services.blobs, services.storage.blobs = blob_store, blob_store
        client = client_for(services, settings)
        user = str(await services.storage.get_user_id("example@gmail.com"))
        assert (await client.post("/get-directories", json={"container_name": user})).status_code == 200
        services.embedded.stop(force=True)
        response = await client.post("/get-directories", json={"container_name": user})
        assert response.status_code == 503
        assert await response.get_json() == [
            "Datastore Error retrieving user directories : the database is unavailable"
        ]
        services.embedded = start_embedded(tmp_path)
        response = await client.post("/get-directories", json={"container_name": user})
        assert response.status_code == 200, await response.get_data()
    finally:
        await close_services(services)


async def test_a_second_instance_shares_the_server_without_harm(tmp_path):
    settings = load_settings({"NACHET_DATA_DIR": str(tmp_path)}, dotenv=False)
    first = await open_services(settings)
    try:
        email = f"second-{uuid.uuid4().hex[:6]}@example.org"
        env = {**os.environ, "NACHET_DATA_DIR": str(tmp_path)}
        second = subprocess.run(
            [sys.executable, "-m", "nachet", "users", "add", email],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr
        # the second process attached to the running server and left it running for the first
        assert await first.storage.get_user_id(email) == uuid.UUID(second.stdout.strip())
    finally:
        await close_services(first)
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


def test_unreachable_database_exits_with_one_masked_line(tmp_path):
    env = {
        **os.environ,
        "NACHET_DB_URL": "postgresql://nachet:s3cret@127.0.0.1:1/nachet",
        "NACHET_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "nachet", "users", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "s3cret" not in result.stderr + result.stdout
    assert "cannot connect to the database at postgresql://nachet:***@127.0.0.1:1/nachet" in result.stderr


def test_invalid_configuration_lists_every_problem(tmp_path):
    env = {
        **os.environ,
        "NACHET_MAX_CONTENT_LENGTH": "big",
        "NACHET_DB_URL": "mysql://x",
        "NACHET_BLOB_PIPELINE_DECRYPTION_KEY": "nope",
        "NACHET_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("configuration error")]
    assert len(lines) == 3, result.stderr
    assert any("NACHET_MAX_CONTENT_LENGTH" in line for line in lines)


def test_two_workers_start_together_on_a_fresh_data_dir_and_stop_the_server(tmp_path):
    """hypercorn -w 2 on a new data directory: one creates the database and installs the default
    pipeline, both serve, and the last one to stop shuts the embedded server down before the
    master exits (hypercorn terminates the remaining workers as soon as one has exited)."""
    import json
    import signal
    import threading
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "NACHET_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "-w", "2", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    both_serving = threading.Event()

    def read_output():
        for line in server.stdout:
            lines.append(line)
            if sum("Running on" in seen for seen in lines) >= 2:
                both_serving.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert both_serving.wait(120), "".join(lines)  # each worker logs it once its start-up is done
        assert len(json.loads((tmp_path / "pg" / ".handle_pids.json").read_text())) == 2
        listed = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/model-endpoints-metadata").read()
        )
        assert [p["pipeline_name"] for p in listed] == ["Local seed detector + feedback classifier"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(90)
        reader.join(10)
    output = "".join(lines)
    assert "Traceback" not in output, output
    assert not (tmp_path / "pg" / "postmaster.pid").exists(), output


def hypercorn_that_cannot_start(**variables: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **variables}
    return subprocess.run(
        [sys.executable, "-m", "hypercorn", "-b", "127.0.0.1:0", "app:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_configuration_error_under_hypercorn_exits_non_zero(tmp_path):
    result = hypercorn_that_cannot_start(NACHET_MAX_CONTENT_LENGTH="big", NACHET_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "configuration error: NACHET_MAX_CONTENT_LENGTH" in result.stderr


def test_an_unreachable_database_under_hypercorn_is_one_line_and_a_failure(tmp_path):
    import time

    started = time.monotonic()
    result = hypercorn_that_cannot_start(
        NACHET_DB_URL="postgresql://nachet:s3cret@127.0.0.1:1/nachet", NACHET_DATA_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 15
    assert (
        "error: cannot connect to the database at postgresql://nachet:***@127.0.0.1:1/nachet" in result.stderr
    )
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
