"""Users, seeds and image validators."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg

from datastore.blob import BlobNotFound
from datastore.db import transaction
from datastore.queries import folders, pictures, seeds, users
from kernel.errors import DatastoreError, UserAlreadyExistsError, UserNotFoundError
from kernel.json_types import Json

from . import layout
from .base import StorageBase, guard


class UsersAndSeeds(StorageBase):
    # -- users -------------------------------------------------------------------------------------
    @guard
    async def get_user_id(self, email: str) -> UUID:
        async with self.pool.acquire() as conn:
            user_id = await users.get_user_id_by_email(conn, email)
        if user_id is None:
            raise UserNotFoundError("User not found")
        return user_id

    @guard
    async def create_user(self, email: str) -> UUID:
        """Register a user with its "General" folder, blob container and folder marker."""
        email = email.strip()
        if not email or "@" not in email:
            raise DatastoreError(f"invalid email address: {email!r}")
        user_id, general_id = uuid4(), uuid4()
        # The rows first: of two workers registering one email, only the one whose row won makes
        # a container (the other used to leave an empty one behind).
        async with transaction(self.pool) as conn:
            if await users.insert_user(conn, email, user_id) is None:
                raise UserAlreadyExistsError(f"User already exists: {email}")
            await folders.insert_folder(conn, user_id, layout.DEFAULT_FOLDER, 0, general_id)
            await users.set_default_set(conn, user_id, general_id)
        async with self._undone_on_error(lambda: self._release_user(user_id), f"user {user_id}"):
            async with self._unit() as unit:
                await self._write_marker(unit, user_id, layout.DEFAULT_FOLDER, general_id)
        return user_id

    @guard
    async def ensure_user(self, email: str) -> UUID:
        """The id of `email`, registering it first if needed (start-up seeding of the default user)."""
        try:
            return await self.get_user_id(email)
        except UserNotFoundError:
            try:
                return await self.create_user(email)
            except UserAlreadyExistsError:  # another worker registered it meanwhile
                return await self.get_user_id(email)

    @guard
    async def list_users(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await users.list_users(conn)

    @guard
    async def remove_user(self, email_or_id: str) -> UUID:
        async with transaction(self.pool) as conn:
            user_id = await users.get_user_id_by_email(conn, email_or_id)
            if user_id is None:
                user_id = (await self._user(conn, email_or_id))["id"]
        await self._release_user(user_id)
        return user_id

    async def _release_user(self, user_id: UUID) -> None:
        """Delete the user's rows, then its container (none is left without its user)."""
        async with transaction(self.pool) as conn:
            await users.delete_user(conn, user_id)
        try:
            await self.blobs.delete_container(layout.container_name(user_id))
        except BlobNotFound:
            pass

    # -- seeds ---------------------------------------------------------------------------------------
    @guard
    @guard
    async def add_seed(self, name: str) -> tuple[UUID, str, bool]:
        """(id, name, whether it is new) of the seed `name` names (case aside), made if missing."""
        from .seed_names import check_seed_name

        check_seed_name(name, "the seed name")
        async with self.pool.acquire() as conn:
            known = await seeds.find_seed(conn, name)
            seed = known or await seeds.get_or_create_seed(conn, name)
        self.seed_names.forget()
        return seed["id"], seed["name"], known is None

    async def get_all_seeds(self) -> list[dict]:
        async with self.pool.acquire() as conn:
            return [dict(r) for r in await seeds.all_seeds(conn)]

    @guard
    async def seed_data(self, name: str) -> dict | list | None:
        """The stored record of a seed (by catalogue name), the whole list for "seeds", else None."""
        async with self.pool.acquire() as conn:
            if name == "seeds":
                return [dict(r) for r in await seeds.all_seeds(conn)]
            info = await seeds.get_seed_info(conn, name)
            if info is not None:
                return info
            seed = await seeds.find_seed(conn, name)
            return {"seed_id": seed["id"], "seed_name": seed["name"]} if seed else None

    @guard
    async def reload_seed_data(self, source_url: str | None) -> int:
        """Replace the seed records with `<source_url>/seeds/all.json`, or, with no source, rebuild
        them from the seed table. Returns the number of records."""
        if source_url:
            records = parse_seed_records(await fetch_json(source_url.rstrip("/") + "/seeds/all.json"))
        else:
            records = {
                s["seed_name"]: {"seed_id": str(s["seed_id"]), "seed_name": s["seed_name"]}
                for s in await self.get_all_seeds()
            }
        async with transaction(self.pool) as conn:
            await seeds.replace_seed_info(conn, records)
        return len(records)

    # -- image validators ----------------------------------------------------------------------------
    @guard
    async def record_validator(self, digest: str) -> None:
        async with self.pool.acquire() as conn:
            await pictures.record_validator(conn, digest)


async def fetch_json(url: str) -> Json:
    import httpx

    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


def parse_seed_records(document: Json) -> dict[str, dict]:
    """all.json as a {name: record} map or a list of records naming their seed."""
    if isinstance(document, dict):
        return {str(k): v if isinstance(v, dict) else {"value": v} for k, v in document.items()}
    if isinstance(document, list):
        records = {}
        for item in document:
            if isinstance(item, dict) and (name := item.get("seed_name") or item.get("name")):
                records[str(name)] = item
        if records:
            return records
    raise ValueError("seeds/all.json holds neither a map of seeds nor a list of named seed records")
