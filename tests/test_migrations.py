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
