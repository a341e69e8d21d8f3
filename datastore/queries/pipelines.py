from __future__ import annotations

from uuid import UUID

from asyncpg import Connection, Record


async def active_pipelines(conn: Connection) -> list[Record]:
    """Active pipelines, each with its linked models and their active version's data."""
    return await conn.fetch(
        """SELECT p.id, p.name, p.is_default, p.data,
                  coalesce(json_agg(json_build_object(
                      'model_id', m.id, 'model_name', m.name, 'endpoint_name', m.endpoint_name,
                      'task', t.name, 'version', v.version, 'data', v.data)
                    ORDER BY pm.id) FILTER (WHERE m.id IS NOT NULL), '[]'::json) AS models
             FROM pipeline p
             LEFT JOIN pipeline_model pm ON pm.pipeline_id = p.id
             LEFT JOIN model m ON m.id = pm.model_id
             LEFT JOIN task t ON t.id = m.task_id
             LEFT JOIN model_version v ON v.id = m.active_version
            WHERE p.active
            GROUP BY p.id
            ORDER BY p.is_default DESC, p.name"""
    )


async def any_pipeline(conn: Connection) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pipeline)")


async def pipeline_exists(conn: Connection, name: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pipeline WHERE name = $1)", name)


async def task_id(conn: Connection, name: str) -> int | None:
    return await conn.fetchval("SELECT id FROM task WHERE lower(name) = lower($1)", name)


async def upsert_model(
    conn: Connection, name: str, endpoint_name: str, task: int | None, version: str, data: dict
) -> UUID:
    """The model (created if new) with a new active version holding `data`."""
    model_id = await conn.fetchval("SELECT id FROM model WHERE name = $1 ORDER BY upload_date LIMIT 1", name)
    if model_id is None:
        model_id = await conn.fetchval(
            "INSERT INTO model (name, endpoint_name, task_id) VALUES ($1, $2, $3) RETURNING id",
            name,
            endpoint_name,
            task,
        )
    else:
        await conn.execute(
            "UPDATE model SET endpoint_name = $2, task_id = $3 WHERE id = $1", model_id, endpoint_name, task
        )
    version_id = await conn.fetchval(
        "INSERT INTO model_version (model_id, data, version) VALUES ($1, $2, $3) RETURNING id",
        model_id,
        data,
        version,
    )
    await conn.execute("UPDATE model SET active_version = $2 WHERE id = $1", model_id, version_id)
    return model_id


async def upsert_pipeline(
    conn: Connection, name: str, data: dict, model_ids: list[UUID], *, is_default: bool, active: bool = True
) -> UUID:
    """The pipeline (created if new) with `data` and exactly these models linked."""
    pipeline_id = await conn.fetchval("SELECT id FROM pipeline WHERE name = $1 ORDER BY id LIMIT 1", name)
    if pipeline_id is None:
        pipeline_id = await conn.fetchval(
            "INSERT INTO pipeline (name, active, is_default, data) VALUES ($1, $2, $3, $4) RETURNING id",
            name,
            active,
            is_default,
            data,
        )
    else:
        await conn.execute(
            "UPDATE pipeline SET active = $2, is_default = $3, data = $4 WHERE id = $1",
            pipeline_id,
            active,
            is_default,
            data,
        )
        await conn.execute("DELETE FROM pipeline_model WHERE pipeline_id = $1", pipeline_id)
    await conn.executemany(
        "INSERT INTO pipeline_model (pipeline_id, model_id) VALUES ($1, $2)",
        [(pipeline_id, m) for m in model_ids],
    )
    return pipeline_id


async def default_name(conn: Connection) -> str | None:
    return await conn.fetchval("SELECT name FROM pipeline WHERE is_default AND active")


async def set_default(conn: Connection, name: str) -> bool:
    """Make the active pipeline `name` the default (the trigger clears the others)."""
    done = await conn.execute("UPDATE pipeline SET is_default = true WHERE name = $1 AND active", name)
    return done != "UPDATE 0"


async def deactivate(conn: Connection, name: str) -> bool | None:
    """Take the pipeline `name` out of service; its past inferences keep referring to it. None if
    there is no such active pipeline, False if it is the default (refused)."""
    row = await conn.fetchrow("SELECT id, is_default FROM pipeline WHERE name = $1 AND active", name)
    if row is None:
        return None
    if row["is_default"]:
        return False
    await conn.execute("UPDATE pipeline SET active = false WHERE id = $1", row["id"])
    return True


async def lock_pipelines(conn: Connection) -> None:
    """Serialise writers of pipelines and models until the transaction ends (one default)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('nachet.pipelines'))")


async def notify_reload(conn: Connection) -> None:
    """The pipelines changed: every worker reloads them, and no cached model result of an
    earlier revision is served again."""
    await conn.execute("DELETE FROM model_result")
    await conn.execute("SELECT pg_notify('nachet_pipelines', 'reload')")
