"""Versioned SQL migrations: files `NNNN_name.sql` applied in order, each in its own transaction,
recorded in `schema_migrations`. An advisory lock makes concurrent starts (several workers or
replicas) apply each file exactly once; running it again is a no-op.

A file `NNNN_name.include` names a SQL file shipped inside an installed package
(`package:path/in/package.sql`): the task engine's schema is applied from the pinned release
itself, in our schema, like any other migration."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x4E414348  # "NACH"


def migration_files() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        match = re.fullmatch(r"(\d{4})_(.+)\.(sql|include)", path.name)
        if match:
            found.append((int(match[1]), match[2], path))
    return found


def migration_sql(path: Path) -> str:
    if path.suffix == ".sql":
        return path.read_text()
    package, _, inner = path.read_text().strip().partition(":")
    return resources.files(package).joinpath(inner).read_text()


async def migrate(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Create the schema if needed and apply the missing migrations; return the names applied."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, path in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration_sql(path))
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(f"{version:04d}_{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied


async def schema_version(conn: asyncpg.Connection) -> str | None:
    """The last migration applied (`NNNN_name`; the connection's search_path names the schema)."""
    row = await conn.fetchrow("SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1")
    return f"{row['version']:04d}_{row['name']}" if row else None
