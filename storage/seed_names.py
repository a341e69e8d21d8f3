"""The seeds /inf's labels name, remembered by the process: the save then needs no lookup of its
own (one round trip, ~1 ms, after the last model answered).

Safe because the service only ever adds seeds (it renames and deletes none), so a label that
named a seed once still names it. Labels that named none are looked up again every time: an
upload may add their seed meanwhile. Seeds removed by hand in the database are forgotten when a
save then fails on them (`forget`). Safe to lose: it is refilled on demand.
"""

from __future__ import annotations

from asyncpg import Pool, Record

from datastore.queries import seeds
from kernel.errors import DatastoreError

LIMIT = 10_000  # labels remembered; past it the cache starts again (a catalogue has a few hundred)
MAX_SEED_NAME_CHARS = 200  # a seed's name ("012 Ambrosia artemisiifolia": 27)


def check_seed_name(name: object, what: str) -> str:
    """A label that may become a seed of the table (an upload's seed_name, a corrected box's
    label): text, not blank, at most MAX_SEED_NAME_CHARS (a list failed `.strip()`, a 1 MB
    name the seed table's index, both with a traceback)."""
    if not isinstance(name, str):
        raise DatastoreError(f"{what} must be a string")
    if not name.strip():
        raise DatastoreError(f"{what} is empty")
    if len(name) > MAX_SEED_NAME_CHARS:
        raise DatastoreError(f"{what} is longer than {MAX_SEED_NAME_CHARS} characters")
    return name


class SeedNames:
    def __init__(self) -> None:
        self._found: dict[str, Record] = {}

    async def resolve(self, pool: Pool, labels: list[str]) -> dict[str, Record]:
        """The seed each label names (`seeds.resolve_labels`); unknown labels are absent."""
        missing = sorted({label for label in labels if label not in self._found})
        if missing:
            async with pool.acquire() as conn:
                found = await seeds.resolve_labels(conn, missing)
            if len(self._found) + len(found) > LIMIT:
                self._found.clear()
            self._found.update(found)
        return {label: self._found[label] for label in labels if label in self._found}

    def forget(self) -> None:
        self._found.clear()
