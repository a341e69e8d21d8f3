"""The schema: migrations are idempotent and the original's triggers behave as specified."""

import json
import uuid

import asyncpg

from datastore.migrate import migrate, migration_files


async def test_migrations_apply_once_then_are_a_no_op(db_url):
    schema = f"m_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(db_url)
    try:
        first = await migrate(conn, schema)
        assert first == [f"{v:04d}_{n}" for v, n, _ in migration_files()]
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
        )
        seeds = await conn.fetchval(f'SELECT count(*) FROM "{schema}".seed')
        assert await migrate(conn, schema) == []
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
            )
            == tables
        )
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".seed') == seeds == 29
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_reference_data(pool):
    async with pool.acquire() as conn:
        names = {r["name"] for r in await conn.fetch("SELECT name FROM seed")}
        assert {"Ambrosia artemisiifolia", "Centaurea solstitialis D", "Unknown seed"} <= names
        assert await conn.fetchval("SELECT name FROM object_type WHERE id = 1") == "seed"
        assert [r["name"] for r in await conn.fetch("SELECT name FROM task ORDER BY id")] == [
            "Object Detection",
            "Classification",
            "Segmentation",
        ]


async def test_unnamed_folder_is_named_after_its_id(pool, user):
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "INSERT INTO picture_set (picture_set, owner_id) VALUES ('{}', $1) RETURNING id, name", user
        )
        assert row["name"] == str(row["id"])


async def test_only_one_default_pipeline(pool):
    async with pool.acquire() as conn, conn.transaction():
        a = await conn.fetchval(
            "INSERT INTO pipeline (name, is_default, data) VALUES ('a', true, '{}') RETURNING id"
        )
        b = await conn.fetchval(
            "INSERT INTO pipeline (name, is_default, data) VALUES ('b', true, '{}') RETURNING id"
        )
        defaults = await conn.fetch("SELECT id FROM pipeline WHERE is_default")
        assert [r["id"] for r in defaults] == [b] and a != b
        await conn.execute("DELETE FROM pipeline WHERE id = ANY($1::uuid[])", [a, b])


async def test_verified_inference_marks_the_picture_validated_once_per_seed(pool, user):
    async with pool.acquire() as conn, conn.transaction():
        folder = await conn.fetchval("SELECT default_set_id FROM users WHERE id = $1", user)
        picture = await conn.fetchval(
            "INSERT INTO picture (picture, picture_set_id, nb_obj) VALUES ('[]', $1, 0) RETURNING id", folder
        )
        inference = await conn.fetchval(
            "INSERT INTO inference (inference, picture_id, user_id) VALUES ('{}', $1, $2) RETURNING id",
            picture,
            user,
        )
        seed = await conn.fetchval("SELECT id FROM seed WHERE name = 'Brassica napus'")
        for _ in range(2):  # two boxes of the same species
            obj = await conn.fetchval(
                "INSERT INTO object (box_metadata, inference_id, type_id) VALUES ($1, $2, 1) RETURNING id",
                json.dumps({"box": {}}),
                inference,
            )
            guess = await conn.fetchval(
                "INSERT INTO seed_obj (seed_id, object_id, score) VALUES ($1, $2, 0.9) RETURNING id",
                seed,
                obj,
            )
            await conn.execute("UPDATE object SET verified_id = $2 WHERE id = $1", obj, guess)
        assert await conn.fetchval("SELECT count(*) FROM picture_seed WHERE picture_id = $1", picture) == 0
        await conn.execute("UPDATE inference SET verified = true WHERE id = $1", inference)
        await conn.execute("UPDATE inference SET update_at = now() WHERE id = $1", inference)  # fires again
        assert await conn.fetchval("SELECT count(*) FROM picture_seed WHERE picture_id = $1", picture) == 1


async def test_folder_names_are_unique_per_owner(pool, user):
    async with pool.acquire() as conn:
        try:
            await conn.execute(
                "INSERT INTO picture_set (picture_set, owner_id, name) VALUES ('{}', $1, 'General')", user
            )
        except asyncpg.UniqueViolationError:
            return
        raise AssertionError("a second folder named General was accepted")


async def test_queued_example_jobs_become_learning_tasks(db_url):
    """Migration 0010 retires the hand-written queue: a queued example job is not lost."""
    from datastore.migrate import migration_sql

    schema = f"m_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}", public')
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, name, path in migration_files():
            if version <= 8:  # the schema as it was before the task engine
                await conn.execute(migration_sql(path))
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, name)
        user, folder, picture = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute("INSERT INTO users (id, email) VALUES ($1, 'queued@example.org')", user)
        await conn.execute(
            "INSERT INTO picture_set (id, picture_set, owner_id, name) VALUES ($1, '{}', $2, 'f')",
            folder,
            user,
        )
        await conn.execute(
            "INSERT INTO picture (id, picture, picture_set_id, nb_obj) VALUES ($1, '{}', $2, 1)",
            picture,
            folder,
        )
        seed = await conn.fetchval("SELECT id FROM seed WHERE name = 'Brassica napus'")
        await conn.execute(
            "INSERT INTO example_job (picture_id, seed_id, source) VALUES ($1, $2, 'upload')", picture, seed
        )
        assert await migrate(conn, schema) == [f"{v:04d}_{n}" for v, n, _ in migration_files() if v > 8]
        job = await conn.fetchrow("SELECT task_name, queue_name, status::text, args FROM procrastinate_jobs")
        args = json.loads(job["args"])
        assert (job["task_name"], job["queue_name"], job["status"]) == ("learn_examples", "learning", "todo")
        assert args["folder"] == str(folder)
        assert args["sources"] == [
            {
                "picture_id": str(picture),
                "seed_id": str(seed),
                "object_id": None,
                "box": None,
                "source": "upload",
            }
        ]
        assert await conn.fetchval("SELECT to_regclass('example_job')") is None
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_a_released_connection_comes_back_clean(pool, db_url):
    """The pool sends no reset query on release (datastore.db): a stray transaction is still
    rolled back by asyncpg, and the schema stays the connection's own."""
    from datastore.db import create_pool
    from tests.conftest import SCHEMA

    single = await create_pool(db_url, SCHEMA, min_size=1, max_size=1)
    try:
        async with single.acquire() as conn:
            first = conn.get_server_pid()
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE stray (x int) ON COMMIT DROP")
        async with single.acquire() as conn:
            assert conn.get_server_pid() == first  # the same connection, handed out again
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.stray')") is None
            assert await conn.fetchval("SELECT count(*) FROM seed") > 0  # search_path kept
    finally:
        await single.close()
