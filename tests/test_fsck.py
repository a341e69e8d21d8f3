"""`python -m nachet fsck`: rows and blobs must agree; each kind of finding is seen and repaired."""

import os
import subprocess
import sys
import uuid

import asyncpg
import pytest

from datastore.blob.fs import FsBlobStore
from datastore.db import create_pool
from datastore.migrate import migrate
from storage import Storage, fsck, layout
from tests.conftest import ROOT, png_bytes


@pytest.fixture
async def fresh(db_url, tmp_path):
    """A schema and a blob store of its own: fsck looks at everything."""
    schema = f"fsck_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(db_url)
    await migrate(conn, schema)
    await conn.close()
    pool = await create_pool(db_url, schema, min_size=1, max_size=4)
    yield Storage(pool, FsBlobStore(tmp_path / "blob")), schema
    await pool.close()


def run_fsck(db_url, schema, data_dir, *args):
    env = {**os.environ, "NACHET_DB_URL": db_url, "NACHET_SCHEMA": schema, "NACHET_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "nachet", "fsck", "--grace", "0", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_fsck_finds_and_repairs_each_kind(fresh, db_url, tmp_path):
    storage, schema = fresh
    user = await storage.create_user("fsck@example.org")
    folder = await storage.create_picture_set(user, 2, "batch")
    kept, lost = await storage.upload_pictures(
        user, folder, [png_bytes(), png_bytes(8, 8)], seed_name="Brassica napus"
    )
    container = layout.container_name(user)
    assert await fsck.check(storage.pool, storage.blobs, grace_s=0) == []
    assert run_fsck(db_url, schema, tmp_path).returncode == 0

    await storage.blobs.delete(container, f"batch/{lost}")  # a row without its blob
    await storage.blobs.upload(container, f"batch/{uuid.uuid4()}", b"x")  # a blob without its row
    await storage.blobs.upload(container, "gone/gone.json", b"{}")  # a marker without its folder
    await storage.blobs.delete(container, "batch/batch.json")  # a folder without its marker
    found = run_fsck(db_url, schema, tmp_path)
    assert found.returncode == 1
    kinds = sorted(line.split(":")[0] for line in found.stdout.splitlines())
    assert kinds == ["blob without row", "dangling marker", "row without blob", "row without blob"], (
        found.stdout
    )

    dry = run_fsck(db_url, schema, tmp_path, "--repair")  # shows what it would do, changes nothing
    assert dry.returncode == 1 and "4 finding(s) (a dry run" in dry.stderr, dry.stderr
    assert dry.stdout.count("  would: ") == 4, dry.stdout
    assert run_fsck(db_url, schema, tmp_path).stdout == found.stdout
    repaired = run_fsck(db_url, schema, tmp_path, "--repair", "--apply")
    assert repaired.returncode == 1 and "4 finding(s), 4 repaired" in repaired.stderr
    assert run_fsck(db_url, schema, tmp_path).returncode == 0
    assert [p["picture_id"] for p in (await storage.get_directories(user))[1]["pictures"]] == [str(kept)]


async def test_recent_blobs_are_requests_in_flight(fresh):
    storage, _ = fresh
    user = await storage.create_user("inflight@example.org")
    await storage.blobs.upload(layout.container_name(user), f"General/{uuid.uuid4()}", b"x")
    assert await fsck.check(storage.pool, storage.blobs, grace_s=60) == []
    assert [f.kind for f in await fsck.check(storage.pool, storage.blobs, grace_s=0)] == ["blob without row"]


async def test_a_container_without_its_user_is_found_and_removed(fresh, db_url, tmp_path):
    """An empty container no user owns (what two workers registering one user used to leave)."""
    storage, schema = fresh
    orphan = layout.container_name(uuid.uuid4())
    await storage.blobs.create_container(orphan)
    found = run_fsck(db_url, schema, tmp_path)
    assert found.returncode == 1 and found.stdout.splitlines() == [f"container without user: {orphan}"]
    assert run_fsck(db_url, schema, tmp_path, "--repair", "--apply").returncode == 1
    assert not await storage.blobs.container_exists(orphan)
    assert run_fsck(db_url, schema, tmp_path).returncode == 0


async def test_a_folder_just_claimed_has_time_to_get_its_marker(fresh):
    """Folders are claimed (row committed) before their marker is written: a young folder
    without its marker is a request in flight, an old one is a finding."""
    storage, _ = fresh
    user = await storage.create_user("claimed@example.org")
    await storage.create_picture_set(user, 0, "young")
    await storage.blobs.delete(layout.container_name(user), "young/young.json")
    assert await fsck.check(storage.pool, storage.blobs, grace_s=60) == []
    assert [f.name for f in await fsck.check(storage.pool, storage.blobs, grace_s=0)] == ["young/young.json"]
