from __future__ import annotations

import re
from uuid import UUID

from asyncpg import Connection, Record

_PREFIX = re.compile(r"^\d{3} ")  # production classifier labels: "012 Ambrosia artemisiifolia"


async def all_seeds(conn: Connection) -> list[Record]:
    return await conn.fetch("SELECT id AS seed_id, name AS seed_name FROM seed ORDER BY name, id")


async def get_seed(conn: Connection, seed_id: UUID) -> Record | None:
    return await conn.fetchrow("SELECT id, name FROM seed WHERE id = $1", seed_id)


def _candidates(label: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((label.strip(), _PREFIX.sub("", label.strip()))))


async def resolve_labels(conn: Connection, labels: list[str]) -> dict[str, Record]:
    """The seed each label names, in one query: case-insensitive exact match, then without a
    3-digit class prefix. Unknown labels are absent from the result.

    The original matched `name ILIKE '%' || label`, so wildcards in labels and suffixes such as
    "napus" picked arbitrary species; we match whole names only.
    """
    wanted = sorted({c.lower() for label in labels for c in _candidates(label)})
    rows = await conn.fetch(
        """SELECT DISTINCT ON (lower(name)) lower(name) AS key, id, name FROM seed
            WHERE lower(name) = ANY($1::text[]) ORDER BY lower(name), id""",
        wanted,
    )
    by_key = {row["key"]: row for row in rows}
    found = {}
    for label in labels:
        match = next((by_key[c.lower()] for c in _candidates(label) if c.lower() in by_key), None)
        if match is not None:
            found[label] = match
    return found


async def find_seed(conn: Connection, label: str) -> Record | None:
    return (await resolve_labels(conn, [label])).get(label)


async def get_or_create_seed(conn: Connection, label: str) -> Record:
    found = await find_seed(conn, label)
    if found:
        return found
    return await conn.fetchrow("INSERT INTO seed (name) VALUES ($1) RETURNING id, name", label.strip())


async def get_seed_info(conn: Connection, name: str) -> dict | None:
    return await conn.fetchval("SELECT data FROM seed_info WHERE lower(name) = lower($1)", name)


async def replace_seed_info(conn: Connection, records: dict[str, dict]) -> None:
    await conn.execute("DELETE FROM seed_info")
    await conn.executemany("INSERT INTO seed_info (name, data) VALUES ($1, $2)", list(records.items()))
