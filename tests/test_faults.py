"""A blob write and its rows succeed or fail together; infrastructure failures are named."""

import uuid

import pytest

from datastore.blob.azure import AzureBlobStore
from datastore.blob.fs import FsBlobStore
from kernel.errors import StorageUnavailable
from storage import Storage
from storage.layout import container_name
from tests.conftest import (
    AZURITE_API_VERSION,
    BOTH_BLOB_STORES,
    azurite_connection_string,
    free_port,
    png_bytes,
)

pytestmark = BOTH_BLOB_STORES


async def picture_count(pool, user):
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM picture p JOIN picture_set s ON s.id = p.picture_set_id WHERE s.owner_id = $1",
            user,
        )


@pytest.fixture(params=["fs-on-a-file", "azure-refused"])
async def broken_blobs(request, tmp_path):
    if request.param == "fs-on-a-file":
        root = tmp_path / "not-a-directory"
        root.write_text("a file where the blob root should be")
        yield FsBlobStore(root)
    else:  # a real refused connection: nothing listens on this port
        store = AzureBlobStore(
            azurite_connection_string(free_port()), api_version=AZURITE_API_VERSION, retry_total=0
        )
        yield store
        await store.close()


async def test_blob_failure_leaves_no_rows(storage, pool, user, broken_blobs):
    broken = Storage(pool, broken_blobs)
    folder = await storage.create_picture_set(user, 1, "f")
    with pytest.raises(StorageUnavailable, match="blob storage is unavailable"):
        await broken.upload_pictures(user, folder, [png_bytes()], seed_name="Brassica napus")
    with pytest.raises(StorageUnavailable):
        await broken.create_picture_set(user, 0, "never")
    assert await picture_count(pool, user) == 0
    assert {f["folder_name"] for f in await storage.get_directories(user)} == {"General", "f"}


@pytest.fixture
async def failing_picture_update(pool):
    """A real database failure after the blob is written: a trigger refuses one marked update,
    and a deferred one refuses another at COMMIT."""
    async with pool.acquire() as conn:
        await conn.execute("""
            CREATE OR REPLACE FUNCTION fail_marked_picture() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.picture::jsonb ->> 'nb_seeds' = '1337' THEN RAISE EXCEPTION 'injected failure'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_marked_picture BEFORE INSERT OR UPDATE ON picture
                FOR EACH ROW EXECUTE FUNCTION fail_marked_picture();
            CREATE OR REPLACE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.picture::jsonb ->> 'nb_seeds' = '4242' THEN RAISE EXCEPTION 'injected commit failure'; END IF;
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT OR UPDATE ON picture DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION fail_at_commit();""")
    yield
    async with pool.acquire() as conn:
        await conn.execute(
            "DROP TRIGGER fail_marked_picture ON picture; DROP TRIGGER fail_at_commit ON picture"
        )


@pytest.mark.parametrize("marker", [1337, 4242])
async def test_database_failure_after_blob_write_removes_the_blob(
    storage, pool, user, blob_store, failing_picture_update, marker
):
    folder = await storage.create_picture_set(user, 1, "f")
    with pytest.raises(Exception, match="injected"):
        await storage.upload_pictures(
            user, folder, [png_bytes()], seed_name="Brassica napus", nb_seeds=marker
        )
    assert await picture_count(pool, user) == 0
    assert [b.name for b in await blob_store.list(container_name(user), "f/")] == ["f/f.json"]


async def test_missing_container_of_a_known_user_is_created_on_first_write(storage, user, blob_store):
    await blob_store.delete_container(container_name(user))
    folder = await storage.create_picture_set(user, 0, f"after-{uuid.uuid4().hex[:4]}")
    assert folder and await blob_store.container_exists(container_name(user))
